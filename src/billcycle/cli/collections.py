"""``billcycle collections show ACCOUNT``: an account's collections state and events.

Reads the database directly (``--tenant`` id or name, like ``billcycle bill-run``): the
standing (Good, PoorStanding, Collection), the suspension, the policy as it applies to
the account, and its collections events, newest last.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from billcycle.accounts import service as accounts
from billcycle.cli.bill_run import TenantOpt
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import fail
from billcycle.collections import events
from billcycle.collections import service as collections
from billcycle.collections.models import CollectionEvent
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits, parse_zuora_id

app = typer.Typer(
    help="Collections: an account's standing and dunning events.", no_args_is_help=True
)

LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Events to show")]


def _account_key(text: str) -> tuple[int | None, str]:
    """An account number (A00000001), its 32-hex id, or its integer id."""
    if is_ascii_digits(text):
        return int(text), text
    return parse_zuora_id(text), text


@app.command()
def show(
    account: str, tenant: TenantOpt, limit: LimitOpt = 200, database: DatabaseOpt = None
) -> None:
    """Show an account's standing, suspension, effective policy and collections events."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    account_id, number = _account_key(account)
    try:
        with runtime.service_context(tenant_id) as ctx:
            found = accounts.find_account(ctx, account_id=account_id, number=number)
            state = collections.account_collections(ctx, found.id)
            rows = events.account_events(ctx, found.id, limit=limit)
            policy = state.policy
            summary = Table(show_header=False, title=f"Collections of {found.account_number}")
            summary.add_row("Account", f"{found.account_number} ({found.name}), {found.status}")
            summary.add_row("Dunning", "on" if policy.dunning_enabled else "off (tenant)")
            summary.add_row("Standing", str(state.standing))
            summary.add_row("Poor standing since", _text(state.poor_standing_since))
            summary.add_row("Suspended", _text(state.suspended_on) if state.suspended else "no")
            summary.add_row("Cancelled by collections", _text(state.cancelled_on))
            summary.add_row("Dunning exempt", "yes" if policy.dunning_exempt else "no")
            summary.add_row(
                "Attempt days",
                ", ".join(map(str, policy.attempt_days))
                + ("" if state.attempt_days is None else " (account's own)"),
            )
            summary.add_row(
                "Grace days",
                f"{policy.grace_days}" + ("" if state.grace_days is None else " (account's own)"),
            )
            summary.add_row(
                "Retry rule",
                (
                    f"{policy.max_consecutive_failures} failures, "
                    f"{policy.min_hours_between_attempts} h apart"
                    if policy.retry_enabled
                    else "off"
                ),
            )
            summary.add_row("Auto-cancel after", _text(policy.auto_cancel_after_days, " days"))
            summary.add_row("Auto write-off", "yes" if policy.auto_write_off else "no")
            lines = [_event_line(event) for event in rows]
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()
    console.print(summary)
    console.print("[bold]Events[/bold]" if lines else "No collections events.")
    for line in lines:
        # One line per event, never wrapped: greppable, and a terminal scrolls it.
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _event_line(event: CollectionEvent) -> str:
    parts = [event.business_date.isoformat(), event.event_type]
    if event.from_value or event.to_value:
        parts.append(f"{event.from_value or ''} -> {event.to_value or ''}")
    if event.invoice_id is not None:
        parts.append(f"invoice {event.invoice_id}")
    if event.payment_id is not None:
        parts.append(f"payment {event.payment_id}")
    if event.gateway_code:
        parts.append(f"gateway {event.gateway_code}")
    if event.message:
        parts.append(event.message)
    return "  ".join(parts)


def _text(value: object, suffix: str = "", *, none: str = "-") -> str:
    return none if value is None else f"{value}{suffix}"
