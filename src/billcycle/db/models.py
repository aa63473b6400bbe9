"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from billcycle.accounts.models import Account, Contact
from billcycle.billruns.models import BillRun, BillRunFailure, BillRunTotal, IdempotencyRecord
from billcycle.bulkjobs.models import BulkJob, BulkJobRecord
from billcycle.catalog.models import (
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.collections.models import CollectionAccount, CollectionEvent, CollectionPolicyRow
from billcycle.db.base import Base
from billcycle.events.models import Event
from billcycle.gateways.models import PaymentGateway, TestGatewayCharge
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.models import WorkChunk
from billcycle.ledger.models import LedgerEntry
from billcycle.notifications.models import InvoiceEmail
from billcycle.operators.models import OperatorKey
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.models import Payment, PendingApplication, Refund
from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeTier,
    SubscriptionRatePlan,
)
from billcycle.tenancy.models import ApiKey, InstallationSecret, NumberSequence, OAuthClient, Tenant
from billcycle.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSettings,
)

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "BillRun",
    "BillRunFailure",
    "BillRunTotal",
    "BulkJob",
    "BulkJobRecord",
    "CollectionAccount",
    "CollectionEvent",
    "CollectionPolicyRow",
    "Contact",
    "Event",
    "IdempotencyRecord",
    "InstallationSecret",
    "Invoice",
    "InvoiceEmail",
    "InvoiceItem",
    "LedgerEntry",
    "NumberSequence",
    "OAuthClient",
    "OperatorKey",
    "Payment",
    "PaymentActivity",
    "PaymentGateway",
    "PaymentMethod",
    "PaymentRun",
    "PaymentRunData",
    "PendingApplication",
    "Product",
    "ProductRatePlan",
    "ProductRatePlanCharge",
    "ProductRatePlanChargeTier",
    "Refund",
    "Subscription",
    "SubscriptionCharge",
    "SubscriptionChargeTier",
    "SubscriptionRatePlan",
    "Tenant",
    "TestGatewayCharge",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSettings",
    "WorkChunk",
]
