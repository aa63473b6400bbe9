"""A tenant with one object of every kind the two dialects serve (catalog, accounts,
subscriptions, invoices, a payment method, a payment and its refund, a bill run, a
payment run, a bulk job), made through the services and the APIs themselves, and the
real ids of those objects for the fuzzing and cross-tenant suites."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, select

from billcycle.accounts.models import Account
from billcycle.catalog.models import Product, ProductRatePlan, ProductRatePlanCharge
from billcycle.demo import load_demo
from billcycle.ids import to_zuora_id
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import add_method
from tests.gateways.helpers import configure_test_gateway
from tests.support.api import Api, api_for
from tests.usage.helpers import PER_UNIT, add_uoms, add_usage, items_by_charge, subscribe


@dataclass(frozen=True)
class Seeded:
    """Integer ids (the Fusebill form); ``zuora`` gives the wire values per path parameter."""

    tenant: NewTenant
    account_id: int
    account_number: str
    subscription_id: int
    subscription_number: str
    invoice_id: int
    invoice_number: str
    product_id: int
    rate_plan_id: int
    charge_id: int
    gateway_id: int
    payment_method_id: int
    payment_id: int
    refund_id: int
    bill_run_id: int
    payment_run_id: int
    bulk_job_id: int
    usage_id: int
    usage_import_id: int
    usage_item_id: int
    file_id: int

    def zuora_path_values(self) -> dict[str, str]:
        """A real value for each Zuora path parameter name."""
        z = to_zuora_id
        return {
            "account_key": z(self.account_id),
            "account_id": z(self.account_id),
            "subscription_key": self.subscription_number,
            "subscription_number": self.subscription_number,
            "invoice_key": z(self.invoice_id),
            "invoice_id": z(self.invoice_id),
            "product_id": z(self.product_id),
            "rate_plan_id": z(self.rate_plan_id),
            "product_rate_plan_id": z(self.rate_plan_id),
            "charge_id": z(self.charge_id),
            "product_rate_plan_charge_id": z(self.charge_id),
            "payment_method_id": z(self.payment_method_id),
            "gateway_id": z(self.gateway_id),
            "payment_key": z(self.payment_id),
            "payment_id": z(self.payment_id),
            "refund_key": z(self.refund_id),
            "refund_id": z(self.refund_id),
            "bill_run_id": z(self.bill_run_id),
            "bill_run_key": z(self.bill_run_id),
            "payment_run_key": z(self.payment_run_id),
            "payment_run_id": z(self.payment_run_id),
            "import_id": z(self.usage_import_id),
            "invoice_item_id": z(self.usage_item_id),
            "file_id": z(self.file_id),
        }

    def fill(self, template: str) -> str:
        """A full path template (``/zuora/v1/payments/{payment_key}``) with real ids."""
        if template.startswith("/zuora"):
            values = self.zuora_path_values()
            z = to_zuora_id
            if "/object/product-rate-plan-charge/" in template:
                values["id"] = z(self.charge_id)
            elif "/object/product-rate-plan/" in template or "/product-rate-plans/" in template:
                values["id"] = z(self.rate_plan_id)
            elif "/object/product/" in template:
                values["id"] = z(self.product_id)
            elif "/object/usage/" in template:
                values["id"] = z(self.usage_id)
            values["product_key"] = z(self.product_id)
        else:
            values = self.fusebill_path_values()
            values["activity_id"] = str(self.payment_id)
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)

    def fusebill_path_values(self) -> dict[str, str]:
        return {
            "customer_id": str(self.account_id),
            "invoice_id": str(self.invoice_id),
            "payment_id": str(self.payment_id),
            "refund_id": str(self.refund_id),
            "job_id": str(self.bulk_job_id),
        }


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_tenant(runtime: Runtime, client: TestClient, tenant: NewTenant) -> Seeded:
    """Every kind of object in ``tenant``, through the services and the two APIs."""

    tid = tenant.tenant_id
    with runtime.service_context(tid) as ctx:
        load_demo(ctx, accounts_count=2, seed=7)
    with runtime.service_context(tid) as ctx:
        s = ctx.session
        account = s.scalars(
            select(Account).where(Account.tenant_id == tid).order_by(Account.id)
        ).first()
        assert account is not None
        subscription = s.scalars(
            select(Subscription).where(Subscription.account_id == account.id)
        ).first()
        invoice = s.scalars(
            select(Invoice).where(Invoice.account_id == account.id).order_by(Invoice.id)
        ).first()
        product = s.scalars(select(Product).where(Product.tenant_id == tid)).first()
        assert product is not None
        plan = s.scalars(
            select(ProductRatePlan).where(ProductRatePlan.product_id == product.id)
        ).first()
        assert plan is not None
        charge = s.scalars(
            select(ProductRatePlanCharge).where(
                ProductRatePlanCharge.product_rate_plan_id == plan.id
            )
        ).first()
        assert subscription is not None
        assert invoice is not None
        assert charge is not None
        ids = (
            account.id,
            account.account_number,
            subscription.id,
            subscription.subscription_number,
            invoice.id,
            invoice.invoice_number,
            product.id,
            plan.id,
            charge.id,
        )
    gateway_id = configure_test_gateway(runtime, tid, make_default=True)
    method_id = add_method(runtime, tid, ids[0], "tok_visa", gateway_id=gateway_id)
    api: Api = api_for(client, tenant)
    zh = api.zuora_headers
    payment = _ok(
        client.post(
            "/zuora/v1/payments",
            json={
                "accountId": to_zuora_id(ids[0]),
                "amount": 5,
                "currency": "USD",
                "type": "External",
                "effectiveDate": "2026-01-10",
            },
            headers=zh,
        )
    )
    refund = _ok(
        client.post(
            f"/zuora/v1/payments/{payment['id']}/refunds",
            json={"totalAmount": 1, "type": "External", "methodType": "Check"},
            headers=zh,
        )
    )
    bill_run = _ok(
        client.post(
            "/zuora/v1/bill-runs",
            json={"batches": ["Batch9"], "targetDate": "2026-02-01"},
            headers=zh,
        )
    )
    payment_run = _ok(
        client.post("/zuora/v1/payment-runs", json={"targetDate": "2026-02-01"}, headers=zh)
    )
    usage = _usage(runtime, client, api)
    files = _ok(client.get(f"/zuora/v1/invoices/{to_zuora_id(ids[4])}/files", headers=zh))
    file_id = int(files["invoiceFiles"][0]["pdfFileUrl"].rsplit("/", 1)[1], 16)
    bulk = _ok(
        client.post(
            "/fusebill/v1/bulkwriteoff",
            json={"accountUploadType": "BulkWriteOff", "data": [ids[4]]},
            headers=api.fusebill_headers,
        )
    )
    return Seeded(
        tenant=tenant,
        account_id=ids[0],
        account_number=ids[1],
        subscription_id=ids[2],
        subscription_number=ids[3],
        invoice_id=ids[4],
        invoice_number=ids[5],
        product_id=ids[6],
        rate_plan_id=ids[7],
        charge_id=ids[8],
        gateway_id=gateway_id,
        payment_method_id=method_id,
        payment_id=int(payment["id"], 16),
        refund_id=int(refund["id"], 16),
        bill_run_id=int(bill_run["id"], 16),
        payment_run_id=int(payment_run["id"], 16),
        bulk_job_id=int(bulk["id"]),
        usage_id=usage[0],
        usage_import_id=usage[1],
        usage_item_id=usage[2],
        file_id=file_id,
    )


def _usage(runtime: Runtime, client: TestClient, api: Api) -> tuple[int, int, int]:
    """An account on a usage charge with January's usage billed (a usage invoice item),
    February's record open, and a usage file import: (record, import, invoice item)."""
    tid = api.tenant.tenant_id
    zh = api.zuora_headers
    add_uoms(runtime, tid, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    _ok(add_usage(api, customer, "API calls", 3, "2026-01-05", "Call"))
    run = client.post(
        "/zuora/v1/bill-runs",
        json={
            "billRunFilters": [
                {"filterType": "Account", "accountId": to_zuora_id(customer.account_id)}
            ],
            "targetDate": "2026-02-01",
        },
        headers=zh,
    )
    _ok(run)
    assert isinstance(runtime.dispatcher, ManualDispatcher)
    runtime.dispatcher.run_until_idle()
    items = items_by_charge(runtime, tid, customer.account_id)
    item_id = items["API calls"][0].id
    record = _ok(add_usage(api, customer, "API calls", 2, "2026-02-05", "Call"))
    csv = f"ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE\n{customer.account_number},Call,1,02/06/2026,\n"
    upload = _ok(
        client.post(
            "/zuora/v1/usage", files={"file": ("usage.csv", csv.encode(), "text/csv")}, headers=zh
        )
    )
    runtime.dispatcher.run_until_idle()
    import_id = int(upload["checkImportStatus"].rsplit("/", 2)[1], 16)
    return int(record["Id"], 16), import_id, item_id


# The audit log records every state-changing call that passed authentication, refused ones
# included (docs/security.md, "Audit log"): a refused call changes nothing else.
REQUEST_LOG_TABLES = frozenset({"audit_events"})


def database_checksum(engine: Engine, tenant_ids: Sequence[int], *, audit_log: bool = False) -> int:
    """A checksum of every row the tenants own (and of the tenants' own rows): equal
    before and after means nothing of theirs was written. The tenants' audit events are
    left out unless ``audit_log`` (a call of another tenant must not add any there)."""
    metadata = MetaData()
    metadata.reflect(engine)
    crc = 0
    with engine.connect() as connection:
        for name in sorted(metadata.tables):
            table = metadata.tables[name]
            if name in REQUEST_LOG_TABLES and not audit_log:
                continue
            if name == "tenants":
                query = select(table).where(table.c.id.in_(tenant_ids))
            elif "tenant_id" in table.c:
                query = select(table).where(table.c.tenant_id.in_(tenant_ids))
            else:
                continue
            rows = connection.execute(query).all()
            crc = zlib.crc32(f"{name}:{sorted(map(repr, rows))}".encode(), crc)
    return crc


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str  # the full path template, mount prefix included
    include_in_schema: bool


def route_table(app: Any, prefix: str = "") -> list[RouteInfo]:
    """Every (method, path) the application serves, walked from its own route table
    (mounted sub-applications and included routers too)."""
    from fastapi.routing import _EffectiveRouteContext, _IncludedRouter
    from starlette.routing import Mount, Route

    found: list[RouteInfo] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, _IncludedRouter):
                walk(route.effective_candidates(), prefix)
            elif isinstance(route, _EffectiveRouteContext):
                original = route.original_route
                methods = getattr(original, "methods", None) or set()
                for method in sorted(methods - {"HEAD"}):
                    found.append(RouteInfo(method, prefix + route.path, route.include_in_schema))
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    found.append(RouteInfo(method, prefix + route.path, route.include_in_schema))

    walk(app.routes, prefix)
    return found
