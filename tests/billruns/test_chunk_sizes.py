"""A big run takes bigger chunks (a chunk's own cost is fixed), a small run keeps the
configured size, and either way the chunks cover the same accounts, in order."""

from __future__ import annotations

import itertools

from billcycle.billruns import tasks
from billcycle.jobs.chunks import ChunkRange


def _ranges(count: int, size: int = 10) -> list[ChunkRange]:
    return [ChunkRange(i * size + 1, (i + 1) * size, size) for i in range(count)]


def test_a_small_run_keeps_its_chunks() -> None:
    ranges = _ranges(tasks.MAX_CHUNKS)
    assert tasks.merged_ranges(ranges) == ranges
    assert tasks.merged_ranges([]) == []


def test_a_big_run_is_cut_into_at_most_max_chunks_covering_the_same_ids() -> None:
    ranges = _ranges(tasks.MAX_CHUNKS * 3 + 1)
    merged = tasks.merged_ranges(ranges)
    assert len(merged) <= tasks.MAX_CHUNKS
    assert merged[0].first_id == 1
    assert merged[-1].last_id == ranges[-1].last_id
    assert sum(r.size for r in merged) == sum(r.size for r in ranges)
    for before, after in itertools.pairwise(merged):
        assert after.first_id == before.last_id + 1


def test_chunks_grow_at_most_max_chunk_factor_times() -> None:
    merged = tasks.merged_ranges(_ranges(tasks.MAX_CHUNKS * tasks.MAX_CHUNK_FACTOR * 4))
    assert max(r.size for r in merged) == 10 * tasks.MAX_CHUNK_FACTOR
    assert len(merged) == tasks.MAX_CHUNKS * 4
