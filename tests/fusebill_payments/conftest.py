"""Fusebill payment fixtures: bulk jobs in chunks of two records, so every job here spans
several chunks (and records of one customer or invoice land in different chunks)."""

from __future__ import annotations

import pytest

from billcycle.runtime import Runtime
from tests.fusebill.helpers import new_tenant
from tests.support.api import Api, api_for


@pytest.fixture(autouse=True)
def small_chunks(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"bulk_job_chunk_size": 2})


@pytest.fixture
def other_api(api: Api, runtime: Runtime) -> Api:
    """Another tenant, through the same client."""
    tenant = new_tenant(runtime, "other tenant", bulk_jobs=True)
    return api_for(api.client, tenant)
