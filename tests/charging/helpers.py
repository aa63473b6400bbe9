"""Shared steps of the charging tests: an account with posted invoices, a test gateway,
payment methods on test tokens, and reads of what the gateway and the ledger hold."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus, PaymentMethodType
from billcycle.payments import service as payments
from billcycle.payments.charging import ChargeRequest
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from tests.gateways.helpers import Sleeps, charge_rows, configure_test_gateway
from tests.payments.helpers import balance, posted_invoices

__all__ = ["Sleeps", "balance", "charge_rows"]


@dataclass(frozen=True)
class Setup:
    account_id: int
    invoice_ids: list[int]
    gateway_id: int
    method_id: int


def add_method(
    runtime: Runtime,
    tenant_id: int,
    account_id: int | None,
    token: str | None = "tok_visa",
    *,
    default: bool = True,
    status: PaymentMethodStatus = PaymentMethodStatus.ACTIVE,
    gateway_id: int | None = None,
    method_type: PaymentMethodType = PaymentMethodType.CREDIT_CARD,
) -> int:
    """A payment method with a gateway token: a Visa card, or (``method_type`` ACH) a bank
    account ending in 6789."""
    card = method_type == PaymentMethodType.CREDIT_CARD
    with runtime.service_context(tenant_id) as ctx:
        now = ctx.clock.now()
        method = methods.add_method(
            ctx.session,
            PaymentMethod(
                tenant_id=tenant_id,
                account_id=account_id,
                type=method_type.value,
                status=status.value,
                is_default=default,
                gateway_id=gateway_id,
                token=token,
                card_type="Visa" if card else None,
                card_mask="************4242" if card else None,
                bank_account_mask=None if card else "*****6789",
                details={},
                use_default_retry_rule=True,
                num_consecutive_failures=0,
                total_processed_payments=0,
                total_error_payments=0,
                created_at=now,
                updated_at=now,
            ),
        )
        return method.id


def setup(
    runtime: Runtime,
    tenant_id: int,
    amounts: list[str],
    token: str = "tok_visa",
    settings: dict[str, int] | None = None,
) -> Setup:
    billed = posted_invoices(runtime, tenant_id, amounts)
    gateway_id = configure_test_gateway(runtime, tenant_id, settings=settings)
    method_id = add_method(runtime, tenant_id, billed.account_id, token)
    return Setup(billed.account_id, billed.invoice_ids, gateway_id, method_id)


def request(
    s: Setup, amount_minor: int, *invoices: tuple[int, str | None], **kwargs: object
) -> ChargeRequest:
    return ChargeRequest(
        account_id=s.account_id,
        amount_minor=amount_minor,
        invoices=tuple(
            InvoiceApplication(invoice_id, None if value is None else Decimal(value))
            for invoice_id, value in invoices
        ),
        **kwargs,  # type: ignore[arg-type]
    )


def payment(runtime: Runtime, tenant_id: int, payment_id: int) -> Payment:
    with runtime.service_context(tenant_id) as ctx:
        return payments.get_payment(ctx, payment_id)


def method(runtime: Runtime, tenant_id: int, method_id: int) -> PaymentMethod:
    with runtime.service_context(tenant_id) as ctx:
        found = methods.get_method(ctx.session, tenant_id, method_id)
        assert found is not None
        return found


__all__ += ["Setup", "add_method", "balance", "method", "payment", "request", "setup"]
