"""Fusebill payment fixtures: bulk jobs in chunks of two records, so every job here spans
several chunks (and records of one customer or invoice land in different chunks)."""

from __future__ import annotations

import pytest

from billcycle.runtime import Runtime


@pytest.fixture(autouse=True)
def small_chunks(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"bulk_job_chunk_size": 2})
