"""Fixtures for the admin API: an operator key made as ``billcycle operator create``
makes it, and a client that sends it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.db.session import unit_of_work
from billcycle.operators import service as operators
from billcycle.runtime import Runtime
from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]


@pytest.fixture
def operator_key(runtime: Runtime, request: pytest.FixtureRequest) -> str:
    # Operator keys are installation-wide and names unique: one name per test.
    name = f"op-{abs(hash(request.node.nodeid)):x}"
    with unit_of_work(runtime.session_factory) as session:
        return operators.create_operator_key(session, runtime.clock, name).key


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin(app: FastAPI, operator_key: str) -> Iterator[TestClient]:
    """Sends the operator key on every request; server errors raise, as they should."""
    with TestClient(app, headers={"Authorization": f"Bearer {operator_key}"}) as test_client:
        yield test_client
