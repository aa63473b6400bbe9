"""The migrations build, from nothing, exactly the schema the models describe, on both
databases, and can be taken down to nothing and up again."""

from __future__ import annotations

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.db.models import Base

runner = CliRunner()


def _state(url: str) -> tuple[set[str], set[str]]:
    """(current revisions, tables) of the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            revisions = set(MigrationContext.configure(connection).get_current_heads())
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    return revisions, tables


def _leftover_routines_and_types(url: str) -> list[str]:
    """PostgreSQL functions and types still there (procrastinate's schema makes some)."""
    if not url.startswith("postgresql"):
        return []
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT proname FROM pg_proc"
                    " WHERE pronamespace = current_schema()::regnamespace"
                    " UNION ALL SELECT typname FROM pg_type"
                    " LEFT JOIN pg_class ON pg_class.oid = pg_type.typrelid"
                    " WHERE typnamespace = current_schema()::regnamespace"
                    " AND (typtype = 'e' OR relkind = 'c')"  # enums, standalone composites
                )
            )
            return sorted(row[0] for row in rows)
    finally:
        engine.dispose()


def _heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(migrate.alembic_config(url)).get_heads())


def _db_check(url: str) -> None:
    """`billcycle db check`, as a user runs it: models and migrations agree."""
    result = runner.invoke(app, ["db", "check", "--database", url])
    assert result.exit_code == 0, result.output
    assert "models and migrations agree" in result.output


def test_upgrade_from_empty_to_head_builds_what_the_models_describe(
    empty_database_url: str,
) -> None:
    assert _state(empty_database_url) == (set(), set())

    migrate.upgrade(empty_database_url)

    revisions, tables = _state(empty_database_url)
    assert revisions == _heads(empty_database_url)
    assert set(Base.metadata.tables) <= tables
    _db_check(empty_database_url)


def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    before = _state(empty_database_url)
    migrate.upgrade(empty_database_url)
    assert _state(empty_database_url) == before
    _db_check(empty_database_url)


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)

    command.downgrade(migrate.alembic_config(empty_database_url), "base")

    revisions, tables = _state(empty_database_url)
    assert revisions == set()
    assert tables <= {"alembic_version"}
    assert _leftover_routines_and_types(empty_database_url) == []

    migrate.upgrade(empty_database_url)
    assert _state(empty_database_url)[0] == _heads(empty_database_url)
    _db_check(empty_database_url)


def test_db_check_refuses_a_database_that_is_behind(empty_database_url: str) -> None:
    result = runner.invoke(app, ["db", "check", "--database", empty_database_url])
    assert result.exit_code == 1
    assert "has no billcycle schema: run `billcycle db upgrade`" in result.output
    assert "Traceback" not in result.output


def _fillfactors(url: str) -> dict[str, str | None]:
    """The fill factor of the tables a payment run updates in place (PostgreSQL)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT relname, (SELECT split_part(o, '=', 2) FROM unnest(reloptions) o"
                    "  WHERE o LIKE 'fillfactor=%') FROM pg_class"
                    " WHERE relname IN ('payment_run_data', 'payment_methods')"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            )
            return {str(name): value for name, value in rows}
    finally:
        engine.dispose()


def test_payment_run_tables_keep_room_for_in_place_updates_on_postgres(
    empty_database_url: str,
) -> None:
    """0039_paypg_hot_updates: on PostgreSQL the records' and methods' pages are filled
    part way (their updates stay on the page and write no index); its downgrade gives
    the default back. SQLite has no fill factor: the migration does nothing there."""
    if not empty_database_url.startswith("postgresql"):
        migrate.upgrade(empty_database_url)
        _db_check(empty_database_url)
        return
    migrate.upgrade(empty_database_url)
    # 0044_pgfk_fewer_fk_checks: a record is written twice now (was three times: 30).
    assert _fillfactors(empty_database_url) == {"payment_run_data": "50", "payment_methods": "50"}
    command.downgrade(migrate.alembic_config(empty_database_url), "0043_lead_sqlite_database_mark")
    assert _fillfactors(empty_database_url) == {"payment_run_data": "30", "payment_methods": "50"}
    command.downgrade(migrate.alembic_config(empty_database_url), "0038_payrec_fewer_index_entries")
    assert _fillfactors(empty_database_url) == {"payment_run_data": None, "payment_methods": None}
    migrate.upgrade(empty_database_url)
    assert _fillfactors(empty_database_url) == {"payment_run_data": "50", "payment_methods": "50"}


# The foreign keys 0044_pgfk_fewer_fk_checks drops: each was checked for every row a
# payment run inserts.
_RUN_KEYS = {
    ("payments", "accounts"),
    ("collection_events", "accounts"),
    ("test_gateway_charges", "payment_gateways"),
    ("payment_run_data", "payment_runs"),
    ("payment_run_data", "tenants"),
}


def _run_keys(url: str) -> set[tuple[str, str]]:
    """Which of ``_RUN_KEYS`` the database at ``url`` declares."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {
                (table, str(key["referred_table"]))
                for table in {table for table, _ in _RUN_KEYS}
                for key in inspector.get_foreign_keys(table)
            } & _RUN_KEYS
    finally:
        engine.dispose()


def test_a_payment_runs_inserts_check_no_parent_the_code_keeps(
    empty_database_url: str,
) -> None:
    """0044_pgfk_fewer_fk_checks drops the keys on both databases (SQLite: the tables
    rebuilt, their partial indexes kept); its downgrade declares them again."""
    migrate.upgrade(empty_database_url)
    assert _run_keys(empty_database_url) == set()
    command.downgrade(migrate.alembic_config(empty_database_url), "0043_lead_sqlite_database_mark")
    assert _run_keys(empty_database_url) == _RUN_KEYS
    migrate.upgrade(empty_database_url)
    assert _run_keys(empty_database_url) == set()
    _db_check(empty_database_url)


def _ledger_keys(url: str) -> list[str]:
    """The tables ``ledger_entries``' foreign keys refer to."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            keys = inspect(connection).get_foreign_keys("ledger_entries")
            return sorted(str(key["referred_table"]) for key in keys)
    finally:
        engine.dispose()


def test_a_ledger_entry_checks_no_invoice_the_writers_read(empty_database_url: str) -> None:
    """0046_pgbook_ledger_invoice_fk drops the entry's key to its invoice on both
    databases (SQLite: the table rebuilt, its partial index kept); its downgrade declares
    it again."""
    migrate.upgrade(empty_database_url)
    assert _ledger_keys(empty_database_url) == []
    command.downgrade(migrate.alembic_config(empty_database_url), "0045_once_payments_in_flight")
    assert _ledger_keys(empty_database_url) == ["invoices"]
    migrate.upgrade(empty_database_url)
    assert _ledger_keys(empty_database_url) == []
    _db_check(empty_database_url)


def _ledger_invoice_index(url: str) -> str:
    """The definition of ``ix_ledger_entries_invoice`` (PostgreSQL)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(
                connection.scalar(
                    text("SELECT pg_get_indexdef(CAST('ix_ledger_entries_invoice' AS regclass))")
                )
            )
    finally:
        engine.dispose()


def test_ledger_invoice_index_leaves_out_entries_on_no_invoice_on_postgres(
    empty_database_url: str,
) -> None:
    """0040_pg_ledger_invoice_partial: on PostgreSQL a payment's received entry (on no
    invoice) has no entry in the invoice index; its downgrade gives the full index back.
    SQLite keeps the full index: the migration does nothing there."""
    migrate.upgrade(empty_database_url)
    if not empty_database_url.startswith("postgresql"):
        _db_check(empty_database_url)
        return
    assert _ledger_invoice_index(empty_database_url).endswith("WHERE (invoice_id IS NOT NULL)")
    command.downgrade(migrate.alembic_config(empty_database_url), "0039_paypg_hot_updates")
    assert "WHERE" not in _ledger_invoice_index(empty_database_url)
    migrate.upgrade(empty_database_url)
    assert _ledger_invoice_index(empty_database_url).endswith("WHERE (invoice_id IS NOT NULL)")
    _db_check(empty_database_url)
