"""Helpers shared by CLI commands: settings, the runtime, and how a command fails."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import typer
from alembic.util import CommandError
from rich.console import Console
from sqlalchemy.exc import ArgumentError, DBAPIError
from typer import _click  # Typer vendors click; a TyperGroup gets this Context
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from billcycle.cli.audited import audited, note_database, note_tenant
from billcycle.cli.schema import SchemaNotReady, ensure_schema
from billcycle.config import Settings, get_settings
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits
from billcycle.runtime import Runtime, build_runtime
from billcycle.tenancy import repository as tenants

console = Console()
err_console = Console(stderr=True)


def settings_with(database_url: str | None) -> Settings:
    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    note_database(settings, get_current_context(silent=True))
    return settings


def runtime_for(database_url: str | None, *, ensure: bool = True) -> Runtime:
    """The runtime of a command that works on the data; with ``ensure`` (the default) the
    database first gets the current schema (SQLite) or the command stops (PostgreSQL
    behind: see cli/schema.py). ``serve`` and ``worker`` migrate by themselves."""
    logging.basicConfig(level=logging.WARNING)
    settings = settings_with(database_url)
    if ensure:
        note = ensure_schema(settings.database_url)
        if note:
            typer.echo(f"billcycle: {note}", err=True)
    return build_runtime(settings)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def expected_failure(exc: BaseException) -> str | None:
    """The one line to print for a condition a user can meet and fix (a database that is
    missing or unreachable, a bad URL or file, a domain rule); None for anything else,
    which is a bug and keeps its traceback."""
    if isinstance(exc, DomainError | SchemaNotReady | CommandError):
        return _one_line(str(exc))
    if isinstance(exc, DBAPIError):
        # The driver's own words ("connection refused", "unable to open database file"),
        # without SQLAlchemy's statement dump and background link.
        return f"database error: {_one_line(str(exc.orig))}"
    if isinstance(exc, psycopg.OperationalError):
        return f"database error: {_one_line(str(exc))}"
    if isinstance(exc, ArgumentError):
        return f"bad database URL: {_one_line(str(exc))}"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.strerror}: {exc.filename}"
    return None


class BillcycleGroup(TyperGroup):
    """The top-level command group: an expected failure anywhere below it ends the command
    with one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: _click.Context) -> Any:
        # A command that changes data is recorded in the audit log (billcycle.cli.audited).
        with audited():
            try:
                return super().invoke(ctx)
            except Exception as exc:
                line = expected_failure(exc)
                if line is None:
                    raise
                typer.echo(f"billcycle: {line}", err=True)
                raise typer.Exit(1) from None


def tenant_id_of(runtime: Runtime, tenant: str) -> int:
    """``--tenant``: an id or a name; an unknown one ends the command with one line."""
    with unit_of_work(runtime.session_factory) as session:
        found = (
            tenants.get_tenant(session, int(tenant))
            if is_ascii_digits(tenant)
            else tenants.find_tenant_by_name(session, tenant)
        )
        if found is None:
            err_console.print(f"[red]no tenant {tenant}[/red]")
            raise typer.Exit(2)
        note_tenant(found.id)
        return found.id
