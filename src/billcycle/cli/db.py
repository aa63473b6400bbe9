from __future__ import annotations

from typing import Annotated

import typer

from billcycle.cli.common import console, settings_with
from billcycle.db import migrate

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)

DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: BILLCYCLE_DATABASE_URL)")
]


@app.command()
def upgrade(database: DatabaseOpt = None) -> None:
    """Apply all migrations."""
    url = settings_with(database).database_url
    migrate.upgrade(url)
    console.print(f"[green]database is up to date[/green] ({url})")


@app.command()
def check(database: DatabaseOpt = None) -> None:
    """Fail if the models and the migrations disagree (alembic check)."""
    migrate.check(settings_with(database).database_url)
    console.print("[green]models and migrations agree[/green]")
