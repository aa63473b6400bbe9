"""``/readyz``: may this process take traffic? The database answers, its schema is at
the migrations' head, (PostgreSQL) some ``billcycle worker`` sent a heartbeat within
a lease (on SQLite: the embedded worker thread is alive), and a server's PDF warm-up has
finished (``documents.warmup``: requests served during it wait behind it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from alembic.script import ScriptDirectory

from billcycle.db import migrate
from billcycle.db.bulk import is_postgres
from billcycle.db.session import read_only_unit
from billcycle.documents import warmup
from billcycle.operations import repository as repo
from billcycle.runtime import Runtime

OK = "ok"


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(value == OK for value in self.checks.values())


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revisions of the migrations shipped with this code (read once)."""
    config = migrate.alembic_config("sqlite://")
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def check(runtime: Runtime) -> Readiness:
    result = Readiness()
    try:
        with read_only_unit(runtime.session_factory) as session:
            repo.ping(session)
            result.checks["database"] = OK
            applied = repo.schema_revision(session)
            heads = migration_heads()
            result.checks["migrations"] = (
                OK
                if applied == set(heads)
                else f"database at {', '.join(sorted(applied)) or 'no revision'}, "
                f"code expects {', '.join(sorted(heads))}"
            )
            if is_postgres(runtime.engine):
                fresh = runtime.settings.worker_lease_seconds
                alive, last = repo.live_workers(session, fresh)
                result.checks["worker"] = (
                    OK
                    if alive
                    else f"no billcycle worker heartbeat in the last {fresh} s"
                    + (f" (last {last.isoformat()})" if last is not None else "")
                )
    except Exception as exc:
        result.checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        if result.checks["database"] == OK:
            result.checks["migrations"] = f"unreadable: {type(exc).__name__}"
        return result
    if not is_postgres(runtime.engine):
        alive_fn = getattr(runtime.dispatcher, "is_alive", None)
        if callable(alive_fn):
            result.checks["worker"] = OK if alive_fn() else "the embedded worker thread stopped"
    if warmup.pending():
        result.checks["pdf_warm_up"] = "invoice PDF rendering is still warming up"
    return result
