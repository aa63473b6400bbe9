"""Entry point of the ``billcycle`` console script."""

from __future__ import annotations

import typer

import billcycle.tasks  # noqa: F401  (registers the background work the commands run)
from billcycle.cli import (
    audit,
    bench,
    bill_run,
    bulk_job,
    clock,
    collections,
    db,
    demo,
    gateway,
    operator,
    org,
    payment_run,
    tenant,
    usage,
    user,
    webhook,
)
from billcycle.cli.common import BillcycleGroup
from billcycle.cli.serve import serve, worker

app = typer.Typer(
    cls=BillcycleGroup,
    help="billcycle: subscription billing speaking the Zuora v1 and Fusebill APIs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(tenant.app, name="tenant")
app.add_typer(operator.app, name="operator")
app.add_typer(demo.app, name="demo")
app.add_typer(bill_run.app, name="bill-run")
app.add_typer(bulk_job.app, name="bulk-job")
app.add_typer(gateway.app, name="gateway")
app.add_typer(collections.app, name="collections")
app.add_typer(payment_run.app, name="payment-run")
app.add_typer(clock.app, name="clock")
app.add_typer(bench.app, name="bench")
app.add_typer(org.app, name="org")
app.add_typer(audit.app, name="audit")
app.add_typer(user.app, name="user")
app.add_typer(usage.app, name="usage")
app.add_typer(webhook.app, name="webhook")
app.command()(serve)
app.command()(worker)


if __name__ == "__main__":
    app()
