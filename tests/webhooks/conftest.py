"""An admin API client (operator key) for these tests."""

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
def admin(app: FastAPI, runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    name = f"op-{abs(hash(request.node.nodeid)):x}"
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, name).key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client
