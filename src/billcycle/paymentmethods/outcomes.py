"""What a sale (or a later chargeback) does to its payment method's counters: Zuora's
``numConsecutiveFailures`` (reset to 0 by a success; what retry rules read),
``lastTransaction``, ``lastTransactionDateTime``, ``lastFailedSaleTransactionDate`` and
the processed and error totals.

Written under the method's row lock, in the unit of work that records the payment's
outcome, so two outcomes recorded at once both count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from billcycle.context import ServiceContext
from billcycle.gateways.statuses import GatewayOutcome
from billcycle.paymentmethods import repository as repo
from billcycle.paymentmethods.models import PaymentMethod


def record_sale(
    ctx: ServiceContext, method_id: int, *, approved: bool, at: datetime
) -> PaymentMethod | None:
    """A sale through the method was approved or failed (declined, or refused by the
    gateway). None when the method is gone."""
    method = repo.lock_method(ctx.session, ctx.tenant_id, method_id)
    if method is None:
        return None
    method.last_transaction_at = at
    if approved:
        method.last_transaction = GatewayOutcome.APPROVED.value
        method.num_consecutive_failures = 0
        method.total_processed_payments = (method.total_processed_payments or 0) + 1
    else:
        method.last_transaction = GatewayOutcome.DECLINED.value
        method.last_failed_sale_at = at
        method.num_consecutive_failures = (method.num_consecutive_failures or 0) + 1
        method.total_error_payments = (method.total_error_payments or 0) + 1
    method.updated_at = at
    ctx.session.flush()
    return method


def record_approvals(ctx: ServiceContext, approved: Mapping[int, int], *, at: datetime) -> None:
    """``approved[method_id]`` sales through each method were approved (a batch settling
    a payment run's chunk): what :func:`record_sale` does, the methods locked in one go
    and updated by one statement."""
    repo.approve_methods(ctx.session, ctx.tenant_id, approved, at=at)


SalesBatch = repo.SalesBatch


def sales_batch(sales: Mapping[int, tuple[int, int, int, bool]]) -> SalesBatch:
    """``sales`` (as :func:`record_sales` takes them) made ready to write, in any thread
    and with no database: a payment run builds its slice's in the send thread."""
    return repo.sales_batch(sales)


def record_sales(
    ctx: ServiceContext,
    sales: Mapping[int, tuple[int, int, int, bool]] | SalesBatch,
    *,
    at: datetime,
) -> None:
    """Many sales' outcomes through many methods (a batch settling a payment run's
    slice): ``sales[method_id]`` = (approved, failed, failed since the last approval,
    the last one approved), counted in payment id order (or their :func:`sales_batch`);
    what :func:`record_sale` does for each, in one statement."""
    repo.record_sales(ctx.session, ctx.tenant_id, sales, at=at)


def record_reversal(ctx: ServiceContext, method_id: int, *, at: datetime) -> PaymentMethod | None:
    """A settled sale came back (chargeback, ACH return): a failure for dunning, as a
    decline is, though the sale itself was approved."""
    method = repo.lock_method(ctx.session, ctx.tenant_id, method_id)
    if method is None:
        return None
    method.num_consecutive_failures = (method.num_consecutive_failures or 0) + 1
    method.last_failed_sale_at = at
    method.updated_at = at
    ctx.session.flush()
    return method
