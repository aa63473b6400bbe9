"""The PostgreSQL server settings a billing database needs, and how far a server is from
them (``billcycle db check`` warns; ``billcycle bench`` reports what it ran with).

A bill run writes every invoice, item and watermark durably, a chunk per commit. With
PostgreSQL's defaults (``max_wal_size`` 1 GB, ``checkpoint_timeout`` 5 min,
``shared_buffers`` 128 MB) a million-account run forces dozens of checkpoints: each one
writes every dirty page, and the first change to a page after it writes the whole page to
the WAL again (full-page writes), so the same run writes several times the WAL, and the
backends evict dirty buffers themselves. Spacing checkpoints out and giving the tables a
buffer pool in which a run's pages stay is what makes the run's cost the rows' cost.
None of these trades durability: a committed chunk survives a crash either way (the
settings that would, ``fsync``, ``synchronous_commit``, ``full_page_writes``, are warned
about when off). docs/operations.md says the same for operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, text

MB = 1024 * 1024
GB = 1024 * MB


@dataclass(frozen=True)
class Recommended:
    name: str
    recommended: int  # bytes or seconds, like ``minimum``
    minimum: int  # below this, ``db check`` warns ("far from" the recommendation)
    unit: str  # "bytes" or "seconds"
    why: str


RECOMMENDED = (
    Recommended(
        "max_wal_size",
        8 * GB,
        4 * GB,
        "bytes",
        "WAL written between checkpoints; a bill run writes gigabytes, and at 1 GB it "
        "forces a checkpoint every few seconds (full-page writes again after each)",
    ),
    Recommended(
        "checkpoint_timeout",
        15 * 60,
        10 * 60,
        "seconds",
        "time between checkpoints; every checkpoint writes all dirty pages and restarts "
        "full-page writes",
    ),
    Recommended(
        "shared_buffers",
        2 * GB,
        512 * MB,
        "bytes",
        "the buffer pool; a run's invoice, item and charge pages and their indexes should "
        "stay in it (about a quarter of the server's memory)",
    ),
)

# Settings that would trade a committed chunk for speed: warned about when off.
MUST_BE_ON = ("fsync", "synchronous_commit", "full_page_writes")

_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "MB": MB, "GB": GB, "TB": 1024 * GB}
_SECONDS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class ServerSetting:
    name: str
    value: int | str  # bytes or seconds (Recommended), the word otherwise
    shown: str  # as the server shows it (SHOW)


def normalized(setting: str, unit: str | None) -> int | str:
    """A ``pg_settings`` value in bytes or seconds (its ``unit`` column), else as is."""
    if unit in _UNITS:
        return int(setting) * _UNITS[unit]
    if unit in _SECONDS:
        return int(int(setting) * _SECONDS[unit])
    return setting


def read(engine: Engine) -> dict[str, ServerSetting]:
    """The server's values of the settings above (PostgreSQL; empty on SQLite)."""
    if engine.dialect.name != "postgresql":
        return {}
    names = [r.name for r in RECOMMENDED] + list(MUST_BE_ON)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, setting, unit, current_setting(name) FROM pg_settings "
                "WHERE name = ANY(:names)"
            ),
            {"names": names},
        ).all()
    return {
        name: ServerSetting(name, normalized(setting, unit), shown)
        for name, setting, unit, shown in rows
    }


def _show(value: int, unit: str) -> str:
    if unit == "seconds":
        return f"{value // 60}min" if value % 60 == 0 else f"{value}s"
    return f"{value // GB}GB" if value % GB == 0 else f"{value // MB}MB"


def warnings(settings: Mapping[str, ServerSetting]) -> list[str]:
    """One sentence per setting far from what a billing database needs."""
    found: list[str] = []
    for rec in RECOMMENDED:
        setting = settings.get(rec.name)
        if setting is None or not isinstance(setting.value, int):
            continue
        if setting.value < rec.minimum:
            found.append(
                f"{rec.name} is {setting.shown}; a billing database needs "
                f"{_show(rec.recommended, rec.unit)} (at least {_show(rec.minimum, rec.unit)}): "
                f"{rec.why}"
            )
    for name in MUST_BE_ON:
        setting = settings.get(name)
        if setting is not None and setting.value not in ("on", "remote_apply", "remote_write"):
            found.append(
                f"{name} is {setting.shown}: a crash can lose committed invoices; turn it on"
            )
    return found


def summary(settings: Mapping[str, ServerSetting]) -> dict[str, str]:
    """What a benchmark ran with: each setting as the server shows it."""
    return {name: settings[name].shown for name in sorted(settings)}
