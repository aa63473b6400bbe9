"""Alembic environment: the URL comes from the caller (billcycle.db.migrate) or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from billcycle.config import get_settings
from billcycle.db.engine import make_engine
from billcycle.db.models import Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # procrastinate's tables are created by migration 0003 from procrastinate's own SQL.
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `billcycle db upgrade`")
run_migrations_online()
