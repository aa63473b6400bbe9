"""``billcycle operator``: the keys of billcycle's admin API (``/billcycle/v1``).

Operators are above tenants, so these commands take no tenant. Only this command line,
run with access to the database, can make the first key: the admin API cannot be used
to grant itself.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from billcycle.cli.common import console, err_console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError
from billcycle.operators import service

app = typer.Typer(help="Operator keys for the admin API (/billcycle/v1).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only")]


@app.command()
def create(name: str, as_json: JsonOpt = False, database: DatabaseOpt = None) -> None:
    """Create an operator key and print it (it is shown only once)."""
    runtime = runtime_for(database)
    try:
        with unit_of_work(runtime.session_factory) as session:
            created = service.create_operator_key(session, runtime.clock, name)
    except DomainError as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        runtime.dispose()
    if as_json:
        typer.echo(json.dumps({"name": created.name, "key": created.key}))
    else:
        console.print(f"[bold]Operator {created.name}[/bold] created")
        console.print(f"  key: [cyan]{created.key}[/cyan]")
        console.print("  Send it as 'Authorization: Bearer <key>' to /billcycle/v1.")


@app.command("list")
def list_keys(as_json: JsonOpt = False, database: DatabaseOpt = None) -> None:
    """List operator keys (name, public prefix, creation time; keys are never shown again)."""
    runtime = runtime_for(database)
    try:
        with unit_of_work(runtime.session_factory) as session:
            keys = [
                {
                    "name": key.name,
                    "keyPrefix": service.key_prefix(key),
                    "createdAt": key.created_at.isoformat(),
                }
                for key in service.list_operator_keys(session)
            ]
    finally:
        runtime.dispose()
    if as_json:
        typer.echo(json.dumps(keys))
    elif not keys:
        console.print("no operator keys")
    else:
        for key in keys:
            console.print(f"{key['name']}  {key['keyPrefix']}…  created {key['createdAt']}")


@app.command()
def revoke(name: str, database: DatabaseOpt = None) -> None:
    """Revoke (delete) an operator key: requests made with it are refused from now on."""
    runtime = runtime_for(database)
    try:
        with unit_of_work(runtime.session_factory) as session:
            service.revoke_operator_key(session, name)
    except DomainError as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        runtime.dispose()
    console.print(f"operator key {name} revoked")
