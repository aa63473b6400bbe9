"""The migrations build the schema the models describe, on both databases."""

from __future__ import annotations

from billcycle.db import migrate


def test_models_and_migrations_agree(database_url: str) -> None:
    # database_url was built by `migrate.upgrade`; check is `alembic check`.
    migrate.check(database_url)


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.check(database_url)
