"""Shared steps of the console tests: users, signing in, reading CSRF tokens, demo data."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.testclient import TestClient

from billcycle.db.session import unit_of_work
from billcycle.demo import load_demo
from billcycle.runtime import Runtime
from billcycle.users import service as users
from billcycle.users.roles import Role

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    email: str
    password: str = PASSWORD


def add_user(runtime: Runtime, tenant_id: int, email: str, role: Role) -> Person:
    """A new user with ``role`` in the tenant (the email gets the tenant id, so that each
    test's tenant has its own people in the shared database)."""
    local, domain = email.split("@")
    email = f"{local}+t{tenant_id}@{domain}"
    with unit_of_work(runtime.session_factory) as session:
        users.create_user(
            session, runtime.clock, tenant_id=tenant_id, email=email, role=role, password=PASSWORD
        )
    return Person(email)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, person: Person) -> str:
    """Signs ``client`` in; returns the session's CSRF token (from the dashboard)."""
    form = client.get("/signin")
    assert form.status_code == 200
    response = client.post(
        "/signin",
        data={
            "email": person.email,
            "password": person.password,
            "csrf_token": csrf_of(form.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    return csrf_of(dashboard.text)


def demo_data(runtime: Runtime, tenant_id: int, accounts: int = 6) -> None:
    with runtime.service_context(tenant_id) as ctx:
        load_demo(ctx, accounts_count=accounts)
