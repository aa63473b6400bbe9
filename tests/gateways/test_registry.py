"""Gateway types are found through the ``billcycle.gateways`` entry-point group: a
gateway package installed beside billcycle is configured and charged through without a
change to billcycle. The package here is a real (throwaway) distribution: a module and
its ``*.dist-info`` directory on ``sys.path``, which ``importlib.metadata`` reads as it
reads any installed package."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from billcycle.errors import InvalidValue
from billcycle.gateways import registry
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.interface import PaymentMethodRef, SaleRequest, TokenizingGateway
from billcycle.gateways.statuses import GatewayOutcome
from billcycle.gateways.test_gateway import TEST_GATEWAY_TYPE
from billcycle.payments import charging
from billcycle.payments.charging import ChargeRequest
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.statuses import PaymentStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import add_method
from tests.gateways.helpers import Sleeps
from tests.payments.helpers import balance, posted_invoices

ACME_MODULE = '''
"""A third-party gateway: approves everything up to its limit, remembers by key."""

from decimal import Decimal

from billcycle.errors import InvalidValue
from billcycle.gateways.interface import GatewayResult
from billcycle.gateways.statuses import GatewayOutcome, TransactionKind

BOOK = {}


class AcmeGateway:
    def __init__(self, config):
        self.config = config
        self.limit = Decimal(config.settings["limit"])

    def sale(self, request):
        key = (self.config.tenant_id, request.idempotency_key)
        if key not in BOOK:
            ok = request.amount <= self.limit
            BOOK[key] = GatewayResult(
                kind=TransactionKind.SALE,
                outcome=GatewayOutcome.APPROVED if ok else GatewayOutcome.DECLINED,
                idempotency_key=request.idempotency_key,
                transaction_id=f"acme-{len(BOOK) + 1}",
                amount=request.amount,
                currency=request.currency,
                code=None if ok else "over_limit",
            )
        return BOOK[key]

    def refund(self, request):
        raise NotImplementedError

    def void(self, request):
        raise NotImplementedError

    def status(self, idempotency_key):
        found = BOOK.get((self.config.tenant_id, idempotency_key))
        if found is None:
            return GatewayResult(None, GatewayOutcome.NOT_FOUND, idempotency_key)
        return found


class AcmeType:
    name = "Acme"

    def validate_settings(self, settings):
        if "limit" not in settings:
            raise InvalidValue("Acme needs a limit.", field="settings")
        return {"limit": str(settings["limit"])}

    def create(self, config):
        return AcmeGateway(config)


GATEWAY_TYPE = AcmeType()
NOT_A_TYPE = 42
'''


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Installs the ``acme-gateway`` distribution for this test (and only this one)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "acme_gateway.py").write_text(ACME_MODULE)
    info = site / "acme_gateway-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-gateway\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [billcycle.gateways]
            Acme = acme_gateway:GATEWAY_TYPE
            Broken = acme_gateway:NOT_A_TYPE
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("acme_gateway", None)


def test_the_test_gateway_is_built_in() -> None:
    assert "Test" in registry.type_names()
    assert registry.gateway_type("Test") is TEST_GATEWAY_TYPE


def test_billcycles_own_metadata_declares_the_test_gateway() -> None:
    """pyproject.toml registers the test gateway in the entry-point group like any
    package would (read from the file: the installed metadata may be older)."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    assert declared["billcycle.gateways"] == {
        "Test": "billcycle.gateways.test_gateway:TEST_GATEWAY_TYPE"
    }
    module, _, attribute = declared["billcycle.gateways"]["Test"].partition(":")
    assert getattr(sys.modules[module], attribute) is TEST_GATEWAY_TYPE


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidValue, match="Acme") as raised:
        registry.gateway_type("Acme")
    assert raised.value.field == "type"
    assert "Test" in raised.value.message


def test_a_gateway_package_is_found_through_its_entry_point_and_charges(
    acme_installed: Path, runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    assert {"Acme", "Broken", "Test"} <= set(registry.type_names())
    assert registry.gateway_type("Acme").name == "Acme"

    with (
        pytest.raises(InvalidValue, match="limit"),
        runtime.service_context(tenant.tenant_id) as ctx,
    ):
        gateways.create_gateway(ctx, NewGateway(name="acme", type="Acme"))
    with runtime.service_context(tenant.tenant_id) as ctx:
        row = gateways.create_gateway(
            ctx, NewGateway(name="acme", type="Acme", settings={"limit": 100})
        )
        assert (row.type, row.settings, row.is_default) == ("Acme", {"limit": "100"}, True)

    with runtime.service_context(tenant.tenant_id) as ctx:
        gateway = gateways.open_gateway(ctx, sleep=sleeps)
    assert not isinstance(gateway, TokenizingGateway)  # no card numbers for it
    request = SaleRequest("P-00000001", Decimal("99.99"), "USD", PaymentMethodRef("cus_1"))
    paid = gateway.sale(request)
    assert (paid.outcome, paid.transaction_id) == (GatewayOutcome.APPROVED, "acme-1")
    assert gateway.sale(request) == paid
    assert gateway.status("P-00000001") == paid
    over = gateway.sale(SaleRequest("P-2", Decimal("100.01"), "USD", PaymentMethodRef("cus_1")))
    assert (over.outcome, over.code) == (GatewayOutcome.DECLINED, "over_limit")


def test_an_entry_point_that_is_not_a_gateway_type_is_refused(acme_installed: Path) -> None:
    with pytest.raises(InvalidValue, match="Broken"):
        registry.gateway_type("Broken")


def test_the_package_is_gone_once_uninstalled(acme_installed: Path) -> None:
    assert "Acme" in registry.type_names()
    sys.path.remove(str(acme_installed))
    assert "Acme" not in registry.type_names()
    with pytest.raises(InvalidValue):
        registry.gateway_type("Acme")
    sys.path.insert(0, str(acme_installed))  # monkeypatch restores the original path


def test_an_installed_gateway_package_pays_an_invoice(
    acme_installed: Path, runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    """Nothing in billcycle names Acme: the entry point alone makes a posted invoice
    payable through it, by the same charging every payment uses."""
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["42.50"])
    [invoice_id] = billed.invoice_ids
    with runtime.service_context(t) as ctx:
        gateway_id = gateways.create_gateway(
            ctx, NewGateway(name="acme", type="Acme", settings={"limit": 100})
        ).id
    method_id = add_method(runtime, t, billed.account_id, token="cus_1", gateway_id=gateway_id)
    outcome = charging.charge_now(
        runtime,
        t,
        ChargeRequest(
            account_id=billed.account_id,
            amount_minor=4250,
            invoices=(InvoiceApplication(invoice_id),),
            payment_method_id=method_id,
        ),
        sleep=sleeps,
    )
    assert outcome.error is None
    assert outcome.status == PaymentStatus.PROCESSED
    assert outcome.transaction_id == "acme-1"
    assert balance(runtime, t, invoice_id) == 0
