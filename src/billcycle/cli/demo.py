from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.demo import DEMO_TENANT, has_demo_data, load_demo
from billcycle.tenancy import repository as tenants
from billcycle.tenancy import service as tenancy
from billcycle.users.roles import Role
from billcycle.users.service import ensure_user

app = typer.Typer(help="Demo data.", no_args_is_help=True)

CREDENTIALS_FILE = Path("demo-credentials.json")
# The demo's console user (a fixed, public password: the demo runs on 127.0.0.1 only).
DEMO_USER_EMAIL = "demo@billcycle.example"
DEMO_USER_PASSWORD = "demo-billcycle-console"


@app.command()
def load(
    accounts: Annotated[int, typer.Option(help="How many demo accounts", min=1)] = 50,
    port: Annotated[
        int, typer.Option(help="Port shown in the curl example", min=1, max=65535)
    ] = 8080,
    database: DatabaseOpt = None,
) -> None:
    """Create the demo tenant and its data once; print its credentials every time."""
    runtime = runtime_for(database)
    with unit_of_work(runtime.session_factory) as session:
        tenant = tenants.find_tenant_by_name(session, DEMO_TENANT)
        stored = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else None
        if tenant is None:
            created = tenancy.create_tenant(session, runtime.clock, DEMO_TENANT, bulk_jobs=True)
        elif stored is None or int(stored.get("entityId", "0"), 16) != tenant.id:
            # Secrets are kept only as digests: issue a fresh pair for this machine.
            created = tenancy.issue_credentials(session, runtime.clock, tenant.id)
        else:
            created = None
        if created is not None:
            stored = {
                "entityId": created.entity_id,
                "clientId": created.client_id,
                "clientSecret": created.client_secret,
                "apiKey": created.api_key,
            }
            CREDENTIALS_FILE.write_text(json.dumps(stored, indent=2) + "\n")
        assert stored is not None
        tenant_id = int(stored["entityId"], 16)
    with runtime.service_context(tenant_id) as ctx:
        if has_demo_data(ctx):
            console.print("[dim]demo data already loaded[/dim]")
        else:
            summary = load_demo(ctx, accounts_count=accounts)
            console.print(
                f"[green]demo data loaded[/green]: {summary.accounts} accounts, "
                f"{summary.subscriptions} subscriptions, {summary.invoices} posted invoices"
            )
    with unit_of_work(runtime.session_factory) as session:
        ensure_user(
            session,
            runtime.clock,
            tenant_id=tenant_id,
            email=DEMO_USER_EMAIL,
            role=Role.ADMIN,
            password=DEMO_USER_PASSWORD,
        )
    runtime.dispose()
    _print_credentials(stored, port)
    console.print(
        f"\n[bold]Console[/bold]: http://127.0.0.1:{port}/  sign in as "
        f"[cyan]{DEMO_USER_EMAIL}[/cyan] / [cyan]{DEMO_USER_PASSWORD}[/cyan] (demo only)"
    )


def _print_credentials(stored: dict[str, str], port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold]Demo tenant credentials[/bold] (also in {CREDENTIALS_FILE}):")
    for key, value in stored.items():
        console.print(f"  {key}: [cyan]{value}[/cyan]")
    console.print("\n[bold]Try it[/bold] (once the server is up):")
    console.print(
        f"TOKEN=$(curl -s -X POST {base}/zuora/oauth/token "
        f"-d client_id={stored['clientId']} -d client_secret={stored['clientSecret']} "
        "-d grant_type=client_credentials | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'curl -s {base}/zuora/v1/accounts/A00000001 -H "Authorization: Bearer $TOKEN"\n'
        f'curl -s {base}/fusebill/v1/customers/1 -H "Authorization: Basic {stored["apiKey"]}"\n'
        f"Docs: {base}/zuora/docs",
        soft_wrap=True,
    )
