"""Every console page through httpx, signed in as an operator of a tenant with demo data:
lists with their filters, sorts and next pages, and the actions end to end."""

from __future__ import annotations

import io
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader

from billcycle.audit import service as audit
from billcycle.billruns.statuses import BillRunStatus
from billcycle.db.session import read_only_unit
from billcycle.documents import service as documents
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.reports import service as reports
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.users.roles import Role
from tests.console.helpers import add_user, demo_data, sign_in


def _first_id(html: str, prefix: str) -> int:
    found = re.search(rf'href="/{prefix}/(\d+)"', html)
    assert found is not None, f"no link to /{prefix}/<id> on the page"
    return int(found.group(1))


def test_signed_out_pages_send_to_sign_in(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/invoices?status=Posted", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=/invoices%3Fstatus%3DPosted"
        assert client.get("/static/htmx.min.js").status_code == 200


def test_every_list_page_renders_filters_and_sorts(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "op@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        sign_in(client, person)
        for url in (
            "/",
            "/dashboard/runs",
            "/bill-runs",
            "/bill-runs?status=Completed&sort=-number",
            "/bill-runs/scheduled",
            "/bill-runs/new",
            "/bulk-jobs",
            "/bulk-jobs/new",
            "/accounts",
            "/accounts?q=lab&sort=-name",
            "/invoices",
            "/invoices?status=Posted&sort=amount&currency=usd",
            "/invoices?sort=-due",
            "/payments",
            "/payments?sort=-amount",
            "/payment-runs",
            "/collections",
            "/receivables",
            "/receivables/USD",
            "/receivables/USD?bucket=0",
            "/catalog",
            "/settings",
        ):
            response = client.get(url)
            assert response.status_code == 200, (url, response.text[:500])
            assert "Traceback" not in response.text
        accounts = client.get("/accounts").text
        account_id = _first_id(accounts, "accounts")
        page = client.get(f"/accounts/{account_id}")
        assert page.status_code == 200
        assert "Collections history" in page.text
        invoices = client.get("/invoices?status=Posted").text
        invoice_id = _first_id(invoices, "invoices")
        page = client.get(f"/invoices/{invoice_id}")
        assert page.status_code == 200
        assert f'src="/invoices/{invoice_id}/document"' in page.text
        assert f'href="/invoices/{invoice_id}/pdf"' in page.text
        number = re.search(r"Invoice (INV\w+)", page.text)
        assert number is not None
        document = client.get(f"/invoices/{invoice_id}/document")
        assert document.status_code == 200
        assert number.group(1) in document.text
        assert "script-src" not in document.headers["content-security-policy"]
        assert "default-src 'none'" in document.headers["content-security-policy"]
        pdf = client.get(f"/invoices/{invoice_id}/pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert number.group(1) in text
        assert "$" in page.text or "€" in page.text
        csv = client.get("/invoices.csv?status=Posted")
        assert csv.status_code == 200
        assert csv.text.startswith("invoice_number,")
        assert len(csv.text.strip().splitlines()) == invoices.count('href="/invoices/') + 1
        aging = client.get("/receivables.csv")
        assert aging.status_code == 200
        assert aging.text.startswith("currency,Current,")
        assert client.get("/payments.csv").status_code == 200


def test_keyset_pages_walk_every_row_once_in_each_order(
    runtime: Runtime, tenant: NewTenant
) -> None:
    demo_data(runtime, tenant.tenant_id, accounts=8)
    for sort in ("date", "due", "number", "amount"):
        for descending in (False, True):
            seen: list[int] = []
            after = None
            with read_only_unit(runtime.session_factory) as session:
                ctx = runtime.context(session, tenant.tenant_id)
                every = reports.invoices(
                    ctx,
                    reports.InvoiceFilter(),
                    sort=reports.Sorting(sort, descending),
                    after=None,
                    limit=200,
                ).rows
                while True:
                    page = reports.invoices(
                        ctx,
                        reports.InvoiceFilter(),
                        sort=reports.Sorting(sort, descending),
                        after=after,
                        limit=3,
                    )
                    seen.extend(r.id for r in page.rows)
                    if page.next_cursor is None:
                        break
                    after = page.next_cursor
            assert seen == [r.id for r in every], (sort, descending)
            assert len(seen) == len(set(seen)) > 3


def test_a_bill_run_from_the_form_to_posted(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "op@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        bad = client.post("/bill-runs/new", data={"csrf_token": csrf, "target_date": "soon"})
        assert bad.status_code == 400
        assert 'id="error-target_date"' in bad.text
        created = client.post(
            "/bill-runs/new",
            data={"csrf_token": csrf, "target_date": "2026-03-01", "name": "March"},
            follow_redirects=False,
        )
        assert created.status_code == 303
        url = created.headers["location"]
        page = client.get(url)
        assert 'hx-get="' + url + '/progress"' in page.text  # Pending: the card polls
        jobs.run_until_idle()
        card = client.get(url + "/progress")
        assert "Completed" in card.text
        assert card.headers.get("hx-refresh") == "true"
        page = client.get(url)
        assert 'id="post-run"' in page.text
        assert 'id="delete-run"' not in page.text
        posted = client.post(url + "/post", data={"csrf_token": csrf}, follow_redirects=False)
        assert posted.status_code == 303
        jobs.run_until_idle()
        page = client.get(url)
        assert BillRunStatus.POSTED.value in page.text
        assert 'id="post-run"' not in page.text
        assert 'id="email-run"' in page.text
        emailed = client.post(url + "/email", data={"csrf_token": csrf}, follow_redirects=False)
        assert emailed.status_code == 303
        jobs.run_until_idle()
        emails = client.get(url + "?tab=emails")
        assert emails.status_code == 200
        assert 'id="run-emails"' in emails.text
        assert "Sent" in emails.text.split('id="run-emails"')[1]
        assert client.get(url + "?tab=failures").status_code == 200
        # The same post again (a stale page): a clear message, nothing changes.
        again = client.post(url + "/post", data={"csrf_token": csrf})
        assert again.status_code == 200
        assert "only a Completed bill run can be posted" in again.text
    # Every console action is in the tenant's audit log, with who did it and the outcome.
    with runtime.service_context(tenant.tenant_id) as ctx:
        logged = [
            (e.actor, e.action, e.outcome)
            for e in audit.list_events(ctx.session, tenant.tenant_id, limit=100)
        ]
    actor = f"user:{person.email}"
    assert (actor, "console.sign_in", "ok") in logged
    assert sorted(a for a in logged if a[1] == "console.post") == [
        (actor, "console.post", "ok"),
        (actor, "console.post", "refused"),
    ]


def test_invoice_actions_and_a_bulk_write_off(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "op@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        listing = client.get("/invoices?status=Posted&sort=-amount").text
        ids = [int(i) for i in re.findall(r'href="/invoices/(\d+)"', listing)]
        first, second = ids[0], ids[1]
        done = client.post(f"/invoices/{first}/write-off", data={"csrf_token": csrf})
        assert done.status_code == 200
        assert "written off" in done.text
        assert 'id="write-off-invoice"' not in done.text
        again = client.post(f"/invoices/{first}/cancel", data={"csrf_token": csrf})
        assert "only draft invoices can be posted" in again.text or "Posted" in again.text
        job = client.post(
            "/bulk-jobs/new",
            data={"csrf_token": csrf, "invoice_ids": f"{second}\n999999999"},
            follow_redirects=False,
        )
        assert job.status_code == 303, job.text
        url = job.headers["location"]
        jobs.run_until_idle()
        page = client.get(url)
        assert "ValidatedWithErrors" in page.text
        assert 'id="process-job"' in page.text
        failed = client.get(url + "?status=FailedValidation")
        assert "999999999" in failed.text
        assert f">{second}<" not in failed.text
        processed = client.post(url + "/process", data={"csrf_token": csrf})
        assert processed.status_code == 200
        jobs.run_until_idle()
        page = client.get(url)
        assert "Processed" in page.text
        csv = client.get(url + "/records.csv")
        assert csv.status_code == 200
        assert "Processed" in csv.text
        assert str(second) in csv.text
        invoice = client.get(f"/invoices/{second}")
        assert 'id="invoice-balance">$0.00' in invoice.text or "0.00" in invoice.text
    with read_only_unit(runtime.session_factory) as session:
        ctx = runtime.context(session, tenant.tenant_id)
        page = reports.invoices(
            ctx,
            reports.InvoiceFilter(status=InvoiceStatus.POSTED),
            sort=reports.Sorting("number", False),
            after=None,
            limit=200,
        )
        balances = {r.id: r.balance_minor for r in page.rows}
    assert balances[first] == 0
    assert balances[second] == 0


def test_settings_are_saved_by_an_admin_with_errors_next_to_fields(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    person = add_user(runtime, tenant.tenant_id, "admin@example.com", Role.ADMIN)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        bad = client.post("/settings", data={"csrf_token": csrf, "payment_terms_days": "lots"})
        assert bad.status_code == 400
        assert 'id="error-payment_terms_days"' in bad.text
        for logo in ("ftp://x", "https://example.com/logo.png"):  # nothing fetched from outside
            bad = client.post("/settings", data={"csrf_token": csrf, "invoice_logo_url": logo})
            assert bad.status_code == 400
            assert 'id="error-invoice_logo_url"' in bad.text
        ok = client.post(
            "/settings",
            data={
                "csrf_token": csrf,
                "invoice_logo_url": "data:image/png;base64,iVBORw0KGgo=",
                "invoice_payment_instructions": "Wire to IBAN DE00 0000",
                "invoice_seller_address": "1 Main St\nSpringfield",
                "invoice_footer": "Thanks!",
                "payment_terms_days": "30",
            },
        )
        assert ok.status_code == 200
        assert "saved" in ok.text
    with runtime.service_context(tenant.tenant_id) as ctx:
        saved = documents.template_settings(ctx)
    assert saved.payment_terms_days == 30
    assert saved.invoice_payment_instructions == "Wire to IBAN DE00 0000"
    assert saved.invoice_footer == "Thanks!"
    assert saved.invoice_seller_address == "1 Main St\nSpringfield"


def test_the_new_bill_run_form_checks_each_field(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "form@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        base = {"csrf_token": csrf, "target_date": "2026-03-01"}
        for field, value in (
            ("batches", "one"),
            ("batches", "51"),
            ("bill_cycle_day", "32"),
            ("account_number", "A99999999"),
            ("invoice_date", "01/02/2026"),
        ):
            bad = client.post("/bill-runs/new", data=base | {field: value})
            assert bad.status_code == 400, (field, value)
            assert f'id="error-{field}"' in bad.text, (field, value)
            assert f'value="{value}"' in bad.text or value in bad.text
        assert "No bill run." in client.get("/bill-runs").text
        by_batch = client.post(
            "/bill-runs/new",
            data=base | {"batches": "1, 2", "bill_cycle_day": "1"},
            follow_redirects=False,
        )
        assert by_batch.status_code == 303
        one = client.post(
            "/bill-runs/new", data=base | {"account_number": "A00000001"}, follow_redirects=False
        )
        assert one.status_code == 303
        listing = client.get("/bill-runs").text
        assert (
            listing.count('href="/bill-runs/')
            - listing.count('href="/bill-runs/new"')
            - (listing.count('href="/bill-runs/scheduled"'))
            == 2
        )


def test_a_payment_run_from_the_form(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "pr@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        assert 'id="new-payment-run"' in client.get("/payment-runs").text
        bad = client.post("/payment-runs/new", data={"csrf_token": csrf, "batch": "77"})
        assert bad.status_code == 400
        assert 'id="error-batch"' in bad.text
        bad = client.post("/payment-runs/new", data={"csrf_token": csrf, "account_number": "A9"})
        assert bad.status_code == 400
        assert 'id="error-account_number"' in bad.text
        created = client.post(
            "/payment-runs/new",
            data={"csrf_token": csrf, "currency": "usd", "target_date": "2026-02-01"},
            follow_redirects=False,
        )
        assert created.status_code == 303, created.text
        url = created.headers["location"]
        assert "Pending" in client.get(url).text
        jobs.run_until_idle()
        page = client.get(url)
        assert "Completed" in page.text
        assert 'id="cancel-payment-run"' not in page.text
        listing = client.get("/payment-runs").text
        assert url in listing
