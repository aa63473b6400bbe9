"""The schema a CLI command needs, before it runs.

A command that works on the data first makes sure the database has billcycle's current
schema. The embedded SQLite default is migrated on the spot (a newcomer's first command,
`billcycle tenant create acme`, then just works, as `billcycle serve` does); a PostgreSQL
database is shared and changed on purpose, so a command stops with the one command to run
(`billcycle db upgrade`) instead of migrating it behind the operator's back.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from billcycle.db import migrate
from billcycle.db.engine import make_engine, normalize_url


class SchemaNotReady(Exception):
    """The database cannot be used as it is: unreachable, or not at the schema this
    billcycle expects (the message is the one line the user sees)."""


def display_url(url: str) -> str:
    """The URL as it can be printed: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def pending(url: str) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the code's heads); equal when up to date."""
    heads = set(ScriptDirectory.from_config(migrate.alembic_config(url)).get_heads())
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())
        raise SchemaNotReady(f"cannot open the database {display_url(url)}: {reason}") from exc
    finally:
        engine.dispose()
    return current, heads


def require_current(url: str) -> None:
    """Raise SchemaNotReady unless the database is at the code's heads."""
    current, heads = pending(url)
    if current != heads:
        raise SchemaNotReady(_behind(url, current))


def _behind(url: str, current: set[str]) -> str:
    state = "has no billcycle schema" if not current else "is at an older schema"
    return (
        f"the database {display_url(url)} {state}: run `billcycle db upgrade` "
        "(with the same BILLCYCLE_DATABASE_URL or --database) first"
    )


def ensure_schema(url: str) -> str | None:
    """Bring SQLite to the current schema, or raise SchemaNotReady for PostgreSQL.

    Returns a note to show when SQLite was migrated, None when nothing was done."""
    current, heads = pending(url)
    if current == heads:
        return None
    if is_sqlite(url):
        migrate.upgrade(url)
        what = "created the schema" if not current else "migrated the schema"
        return f"{what} of {display_url(url)} (revision {', '.join(sorted(heads))})"
    raise SchemaNotReady(_behind(url, current))
