"""The receivables drill-down through the console: the accounts of an aging bucket,
largest balances first (or smallest), the buckets moved to the business date by the
first read after it changed (a viewer's GET), and the streamed CSV of a bucket."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.clock import FrozenClock
from billcycle.db.session import read_only_unit
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.users.roles import Role
from tests.console.helpers import add_user, sign_in
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly


def _accounts_listed(html: str) -> list[int]:
    table = html.split('id="aging-accounts"')[1].split("</table>")[0]
    return [int(i) for i in re.findall(r'href="/accounts/(\d+)"', table)]


def test_drill_down_moves_with_the_business_date_and_exports_csv(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, clock: FrozenClock
) -> None:
    today = clock.today()
    made: list[int] = []
    with runtime.service_context(tenant.tenant_id) as ctx:
        for n, (amount, days_late) in enumerate(((120, 10), (300, 25), (50, 5), (75, 40))):
            billed = make_subscription(ctx, make_account(ctx, name=f"Client {n}"))
            make_invoice(
                ctx,
                billed.account,
                [monthly(billed.charge, today.replace(day=1), str(amount))],
                status="Posted",
                due_date=today - timedelta(days=days_late),
            )
            made.append(billed.account.id)
    person = add_user(runtime, tenant.tenant_id, "ar@example.com", Role.VIEWER)
    with TestClient(app) as client:
        sign_in(client, person)
        page = client.get("/receivables/USD?bucket=1")
        assert page.status_code == 200, page.text[:500]
        # 1-30 days past due, largest first: 300, 120, 50 (75 is 31-60).
        assert _accounts_listed(page.text) == [made[1], made[0], made[2]]
        assert "$300.00" in page.text
        smallest = client.get("/receivables/USD?bucket=1&sort=balance")
        assert _accounts_listed(smallest.text) == [made[2], made[0], made[1]]
        assert _accounts_listed(client.get("/receivables/usd").text) == [
            made[1],
            made[0],
            made[3],
            made[2],
        ]
        # Ten days on, the 25- and 40-day invoices are 35 and 50 days late: 31-60. The
        # viewer's read moves the buckets to the new business date.
        clock.advance(timedelta(days=10))
        assert _accounts_listed(client.get("/receivables/USD?bucket=1").text) == [
            made[0],
            made[2],
        ]
        assert _accounts_listed(client.get("/receivables/USD?bucket=2").text) == [
            made[1],
            made[3],
        ]
        exported = client.get("/receivables/USD.csv?bucket=2")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.strip().splitlines()
        assert lines[0] == "account_number,account_name,bucket,open_balance,invoices"
        assert [line.split(",")[1] for line in lines[1:]] == ["Client 1", "Client 3"]
        assert lines[1].endswith(",31-60,300.00,1")
        assert client.get("/receivables/USD?bucket=9").status_code in (400, 422)
        assert client.get("/receivables/USD?sort=-name").status_code in (400, 422)
    with read_only_unit(runtime.session_factory) as session:
        assert open_balances.as_of(session, tenant.tenant_id) == clock.today()
        assert open_balances.account_differences(session, tenant.tenant_id) == []
