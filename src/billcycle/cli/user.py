"""``billcycle user``: people who sign in to the console at ``/``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from billcycle.cli.common import console, err_console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError
from billcycle.users import service

app = typer.Typer(help="Console users (sign-in at /).", no_args_is_help=True)


@app.command()
def create(
    tenant: Annotated[str, typer.Argument(help="Tenant id or name")],
    email: Annotated[str, typer.Argument(help="The person's email (their sign-in)")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Grant ROLE in TENANT to EMAIL, creating the user if needed; a new user without
    --password-stdin gets a one-time password, printed once."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    runtime = runtime_for(database)
    try:
        tenant_id = tenant_id_of(runtime, tenant)
        with unit_of_work(runtime.session_factory) as session:
            created = service.create_user(
                session,
                runtime.clock,
                tenant_id=tenant_id,
                email=email,
                role=service.parse_role(role),
                password=password,
            )
    except DomainError as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        runtime.dispose()
    what = "created" if created.new_user else "granted"
    console.print(
        f"[bold]{created.email}[/bold] {what}: {created.role.value} in tenant {tenant_id}"
    )
    if created.password is not None:
        console.print(f"  one-time password: [cyan]{created.password}[/cyan] (shown only now)")
