"""A second tenant, to prove that one tenant never sees another's objects."""

from __future__ import annotations

import pytest

from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant


@pytest.fixture
def other_tenant(runtime: Runtime) -> NewTenant:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, "other tenant")
