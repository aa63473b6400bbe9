"""``billcycle gateway``: a tenant's payment gateways from the command line (the ids
Zuora clients pass as ``authGateway`` and ``gatewayId``), and configuring one."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.gateways import registry
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.models import PaymentGateway
from billcycle.ids import to_zuora_id

app = typer.Typer(help="Payment gateways of a tenant: list, create.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or name")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only")]


def _row(gateway: PaymentGateway) -> dict[str, Any]:
    return {
        "id": to_zuora_id(gateway.id),
        "name": gateway.name,
        "type": gateway.type,
        "isActive": gateway.is_active,
        "isDefault": gateway.is_default,
        "settings": gateway.settings,
    }


@app.command("list")
def list_gateways(
    tenant: TenantOpt, as_json: JsonOpt = False, database: DatabaseOpt = None
) -> None:
    """The tenant's gateways, the default marked, with the installed gateway types."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        rows = [_row(g) for g in gateways.list_gateways(ctx)]
    runtime.dispose()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title=f"Payment gateways of tenant {tenant}")
    for column in ("id", "name", "type", "active", "default", "settings"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            row["type"],
            "yes" if row["isActive"] else "no",
            "[bold green]default[/bold green]" if row["isDefault"] else "",
            json.dumps(row["settings"], sort_keys=True),
        )
    console.print(table)
    if not rows:
        console.print("No gateway yet: `billcycle gateway create NAME --tenant ...`.")
    console.print(f"Installed gateway types: {', '.join(registry.type_names())}")


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--setting")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


@app.command()
def create(
    name: str,
    tenant: TenantOpt,
    gateway_type: Annotated[
        str, typer.Option("--type", help="An installed gateway type (see `gateway list`)")
    ] = "Test",
    setting: Annotated[
        list[str] | None,
        typer.Option("--setting", help="KEY=VALUE (a JSON value or text); repeatable"),
    ] = None,
    make_default: Annotated[
        bool, typer.Option("--default", help="Make it the tenant's default gateway")
    ] = False,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Configure a gateway for the tenant (its first one becomes the default)."""
    settings = dict(_setting(item) for item in setting or [])
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        row = _row(
            gateways.create_gateway(
                ctx,
                NewGateway(
                    name=name, type=gateway_type, settings=settings, make_default=make_default
                ),
            )
        )
    runtime.dispose()
    if as_json:
        typer.echo(json.dumps(row))
    else:
        marker = " (default)" if row["isDefault"] else ""
        console.print(f"[bold]Gateway {row['name']}[/bold]{marker}: id [cyan]{row['id']}[/cyan]")
