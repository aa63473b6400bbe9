"""Every state-changing `billcycle` command writes an audit row (billcycle.cli.audited):
actor `cli:<user>`, the command path as the action, its arguments as object ids, the
outcome; in the tenant it acted on, or in every tenant for an installation-wide command.
Commands that only read write nothing."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from billcycle.audit import service as audit
from billcycle.audit.models import AuditEvent
from billcycle.cli.audited import READ_ONLY, READ_ONLY_GROUPS, changes_state
from billcycle.cli.main import app as cli_app
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.protocol.helpers import cli
from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]


def _events(runtime: Runtime, tenant_id: int) -> list[AuditEvent]:
    with unit_of_work(runtime.session_factory) as session:
        rows = audit.list_events(session, tenant_id, limit=100)
        session.expunge_all()
        return rows


def _paths() -> set[str]:
    paths: set[str] = set()

    def walk(command: object, path: list[str]) -> None:
        children = getattr(command, "commands", None)
        if children is None:
            paths.add(" ".join(path))
            return
        for name, child in children.items():
            walk(child, [*path, name])

    walk(typer.main.get_command(cli_app), [])
    return paths


def test_the_read_only_list_names_real_commands() -> None:
    """A renamed command cannot silently stay listed as read-only: every name is real,
    and every other command (a new one too) is recorded."""
    paths = _paths()
    assert paths >= READ_ONLY
    assert {path.split(" ", 1)[0] for path in paths} >= READ_ONLY_GROUPS
    recorded = {path for path in paths if changes_state(path)}
    assert {"bill-run create", "db restore", "clock advance", "webhook add"} <= recorded
    assert "bill-run list" not in recorded


def test_state_changing_commands_are_recorded(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant, database_url: str
) -> None:
    tid = str(tenant.tenant_id)
    before_other = len(_events(runtime, other_tenant.tenant_id))
    cli(database_url, "org", "create", "East", "--tenant", tid)
    cli(database_url, "usage", "uom", "add", "Each", "--tenant", tid)
    cli(database_url, "tenant", "rate-limit", tid, "--per-minute", "500")
    cli(
        database_url,
        "bill-run",
        "create",
        "--tenant",
        tid,
        "--target-date",
        "2026-01-01",
        "--no-wait",
    )
    # Reading writes nothing.
    cli(database_url, "org", "list", "--tenant", tid)
    cli(database_url, "bill-run", "list", "--tenant", tid)
    # A failed command is recorded with its exit status.
    failed = CliRunner().invoke(
        cli_app, ["bill-run", "cancel", "BR-99999", "--tenant", tid, "--database", database_url]
    )
    assert failed.exit_code != 0

    events = list(reversed(_events(runtime, tenant.tenant_id)))
    assert [(e.action, e.outcome) for e in events] == [
        ("org create", "ok"),
        ("usage uom add", "ok"),
        ("tenant rate-limit", "ok"),
        ("bill-run create", "ok"),
        ("bill-run cancel", f"exit {failed.exit_code}"),
    ]
    assert all(e.actor.startswith("cli:") for e in events)
    assert events[0].object_ids == ["East"]
    assert events[-1].object_ids == ["BR-99999"]
    # Another tenant's log saw none of it.
    assert len(_events(runtime, other_tenant.tenant_id)) == before_other


def test_installation_wide_commands_are_recorded_in_every_tenant(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant, database_url: str
) -> None:
    cli(database_url, "operator", "create", "ops-audit")
    cli(database_url, "db", "upgrade")
    for tenant_id in (tenant.tenant_id, other_tenant.tenant_id):
        actions = [(e.action, e.object_ids) for e in _events(runtime, tenant_id)]
        assert ("operator create", ["ops-audit"]) in actions
        assert ("db upgrade", None) in actions


def test_a_failed_command_is_recorded_in_the_tenant_it_named_and_nowhere_before(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant, database_url: str
) -> None:
    """What a failed command knows goes in: once it named its tenant, its attempt is in
    that tenant's log with its exit status, even when it failed acting (an unknown
    client to grant the entity to). Before it knows a tenant (an unknown --tenant, or an
    entity that does not exist) it did nothing and no tenant's log holds it (see
    billcycle.cli.audited for why, as Kill Bill and Zuora keep theirs)."""
    before_other = len(_events(runtime, other_tenant.tenant_id))
    entity = f"{tenant.tenant_id:032x}"
    failed = CliRunner().invoke(
        cli_app, ["tenant", "grant", "no-such-client", entity, "--database", database_url]
    )
    assert failed.exit_code != 0
    unknown_tenant = CliRunner().invoke(
        cli_app, ["org", "create", "East", "--tenant", "999999", "--database", database_url]
    )
    assert unknown_tenant.exit_code != 0
    no_entity = CliRunner().invoke(
        cli_app,
        ["tenant", "grant", other_tenant.client_id, f"{999999:032x}", "--database", database_url],
    )
    assert no_entity.exit_code != 0
    events = _events(runtime, tenant.tenant_id)
    assert [(e.action, e.outcome, e.object_ids) for e in events] == [
        ("tenant grant", f"exit {failed.exit_code}", ["no-such-client", entity])
    ]
    assert events[0].actor.startswith("cli:")
    assert len(_events(runtime, other_tenant.tenant_id)) == before_other
