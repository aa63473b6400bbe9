"""Bulk-job fixtures: small chunks, so every job in these tests spans several."""

from __future__ import annotations

import pytest

from billcycle.runtime import Runtime
from tests.bulkjobs.helpers import CHUNK_SIZE


@pytest.fixture(autouse=True)
def small_chunks(request: pytest.FixtureRequest) -> None:
    if "runtime" in request.fixturenames:  # (the CLI test builds its own database)
        runtime: Runtime = request.getfixturevalue("runtime")
        runtime.settings = runtime.settings.model_copy(update={"bulk_job_chunk_size": CHUNK_SIZE})
