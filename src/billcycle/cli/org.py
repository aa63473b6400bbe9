"""``billcycle org``: organizations inside a tenant (multi-org)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from billcycle.access import service as access
from billcycle.accounts import service as accounts
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.ids import parse_zuora_id, to_zuora_id

app = typer.Typer(help="Organizations inside a tenant (Zuora multi-org).", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or name")]


@app.command()
def create(name: str, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Create an organization; prints its id (what Zuora-Org-Ids names)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with unit_of_work(runtime.session_factory) as session:
        org = access.create_organization(session, runtime.clock, tenant_id, name)
        org_id = org.id
    console.print(f"organization {name}: [cyan]{to_zuora_id(org_id)}[/cyan] (id {org_id})")


@app.command("list")
def list_orgs(
    tenant: TenantOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    database: DatabaseOpt = None,
) -> None:
    """The tenant's organizations."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with unit_of_work(runtime.session_factory) as session:
        rows = [(o.id, o.name) for o in access.organizations(session, tenant_id)]
    if as_json:
        typer.echo(json.dumps([{"id": to_zuora_id(i), "name": n} for i, n in rows]))
        return
    for org_id, name in rows:
        console.print(f"{to_zuora_id(org_id)}  {name}")


@app.command()
def grant(
    client_id: str,
    organization: Annotated[str, typer.Argument(help="Organization id or name")],
    tenant: TenantOpt,
    database: DatabaseOpt = None,
) -> None:
    """Limit an OAuth client, in this tenant, to its granted organizations (this one and
    any granted before). Applies to the client's next token."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with unit_of_work(runtime.session_factory) as session:
        org = access.grant_organization(
            session, runtime.clock, client_id, tenant_id, organization, parse_zuora_id(organization)
        )
        org_id = org.id
    console.print(f"client {client_id} granted organization {to_zuora_id(org_id)}")


@app.command()
def revoke(
    client_id: str,
    organization: Annotated[str, typer.Argument(help="Organization id or name")],
    tenant: TenantOpt,
    database: DatabaseOpt = None,
) -> None:
    """Take an organization back from an OAuth client (from its next token on)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with unit_of_work(runtime.session_factory) as session:
        removed = access.revoke_organization(
            session, client_id, tenant_id, organization, parse_zuora_id(organization)
        )
    word = "no longer has" if removed else "did not have"
    console.print(f"client {client_id} {word} organization {organization}")


@app.command()
def assign(
    account: Annotated[str, typer.Argument(help="Account number or id")],
    organization: Annotated[str, typer.Argument(help="Organization id or name")],
    tenant: TenantOpt,
    database: DatabaseOpt = None,
) -> None:
    """Put an account in an organization."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        org = access.find_organization(
            ctx.session, tenant_id, organization, parse_zuora_id(organization)
        )
        found = accounts.find_account(ctx, account_id=parse_zuora_id(account), number=account)
        accounts.set_organization(ctx, found, org.id)
        org_id = org.id
    console.print(f"account {account} is in organization {to_zuora_id(org_id)}")
