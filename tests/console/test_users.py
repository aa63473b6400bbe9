"""``billcycle user create`` and console passwords: one-time or from stdin, argon2 hashes,
roles per tenant, wrong passwords and unknown emails refused alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.errors import InvalidValue, NotAuthenticated, RuleViolation
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.users import service as users
from billcycle.users.roles import Role

runner = CliRunner()


def test_user_create_prints_a_one_time_password_or_reads_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["tenant", "create", "acme", "--database", url]).exit_code == 0
    result = runner.invoke(
        app, ["user", "create", "acme", "Ada@Example.com", "--role", "operator", "--database", url]
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"one-time password: (\S+)", result.output)
    assert found is not None
    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "acme",
            "grace@example.com",
            "--role",
            "viewer",
            "--password-stdin",
            "--database",
            url,
        ],
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "one-time password" not in result.output
    bad = runner.invoke(
        app, ["user", "create", "acme", "x@example.com", "--role", "owner", "--database", url]
    )
    assert bad.exit_code == 1
    assert "role" in bad.output
    twice = runner.invoke(app, ["user", "create", "acme", "ada@example.com", "--database", url])
    assert twice.exit_code == 1
    assert "already has a role" in twice.output
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        ada = users.authenticate(session, "ada@example.com", found.group(1))
        assert ada.password_hash.startswith("$argon2id$")
        grace = users.authenticate(session, "grace@example.com", "a long enough passphrase")
        assert [g.role for g in users.grants(session, grace.id)] == [Role.VIEWER]
        with pytest.raises(NotAuthenticated):
            users.authenticate(session, "grace@example.com", "wrong passphrase!!")
        with pytest.raises(NotAuthenticated):
            users.authenticate(session, "nobody@example.com", "a long enough passphrase")
    engine.dispose()
    assert b"a long enough passphrase" not in (tmp_path / "cli.db").read_bytes()


def test_passwords_and_emails_are_checked(runtime: Runtime, tenant: NewTenant) -> None:
    with unit_of_work(runtime.session_factory) as session:
        with pytest.raises(InvalidValue):
            users.create_user(
                session,
                runtime.clock,
                tenant_id=tenant.tenant_id,
                email="not-an-email",
                role=Role.ADMIN,
            )
        with pytest.raises(InvalidValue):
            users.create_user(
                session,
                runtime.clock,
                tenant_id=tenant.tenant_id,
                email=f"short{tenant.tenant_id}@example.com",
                role=Role.ADMIN,
                password="short",
            )
        created = users.create_user(
            session,
            runtime.clock,
            tenant_id=tenant.tenant_id,
            email=f"ok{tenant.tenant_id}@example.com",
            role=Role.ADMIN,
        )
        assert created.password is not None
        assert len(created.password) >= 20
        with pytest.raises(RuleViolation):
            users.create_user(
                session,
                runtime.clock,
                tenant_id=tenant.tenant_id,
                email=f"ok{tenant.tenant_id}@example.com",
                role=Role.VIEWER,
            )
