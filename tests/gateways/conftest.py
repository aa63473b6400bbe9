"""Gateway tests: a tenant with a configured test gateway, opened with a recorded sleep."""

from __future__ import annotations

import pytest

from tests.gateways.helpers import Sleeps
from tests.support.tenants import other_tenant

__all__ = ["other_tenant", "sleeps"]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
