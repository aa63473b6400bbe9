"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from billcycle.access.models import ClientEntityGrant, ClientOrgGrant, Organization
from billcycle.accounts.models import Account, Contact
from billcycle.audit.models import AuditEvent
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
from billcycle.documents.models import InvoiceFile, StoredFile, TenantInvoiceSettings
from billcycle.events.models import Event
from billcycle.gateways.models import PaymentGateway, TestGatewayCharge
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.models import WorkChunk
from billcycle.ledger.models import LedgerEntry
from billcycle.ledger.open_balances_repository import (
    OpenAccountBalance,
    OpenBalance,
    OpenBalanceAging,
)
from billcycle.notifications.models import InvoiceEmail
from billcycle.operators.models import OperatorKey
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.schedule_models import PaymentRunSchedule
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.models import Payment, PaymentsInFlight, PendingApplication, Refund
from billcycle.requestkeys.models import RequestKey
from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeTier,
    SubscriptionRatePlan,
)
from billcycle.tenancy.models import ApiKey, InstallationSecret, NumberSequence, OAuthClient, Tenant
from billcycle.usage.models import UnitOfMeasure, UsageImport, UsageImportPart, UsageRecord
from billcycle.users.models import ConsoleGrant, ConsoleUser
from billcycle.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSettings,
)

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BillRun",
    "BillRunFailure",
    "BillRunTotal",
    "BulkJob",
    "BulkJobRecord",
    "ClientEntityGrant",
    "ClientOrgGrant",
    "CollectionAccount",
    "CollectionEvent",
    "CollectionPolicyRow",
    "ConsoleGrant",
    "ConsoleUser",
    "Contact",
    "Event",
    "IdempotencyRecord",
    "InstallationSecret",
    "Invoice",
    "InvoiceEmail",
    "InvoiceFile",
    "InvoiceItem",
    "LedgerEntry",
    "NumberSequence",
    "OAuthClient",
    "OpenAccountBalance",
    "OpenBalance",
    "OpenBalanceAging",
    "OperatorKey",
    "Organization",
    "Payment",
    "PaymentActivity",
    "PaymentGateway",
    "PaymentMethod",
    "PaymentRun",
    "PaymentRunData",
    "PaymentRunSchedule",
    "PaymentsInFlight",
    "PendingApplication",
    "Product",
    "ProductRatePlan",
    "ProductRatePlanCharge",
    "ProductRatePlanChargeTier",
    "Refund",
    "RequestKey",
    "StoredFile",
    "Subscription",
    "SubscriptionCharge",
    "SubscriptionChargeTier",
    "SubscriptionRatePlan",
    "Tenant",
    "TenantInvoiceSettings",
    "TestGatewayCharge",
    "UnitOfMeasure",
    "UsageImport",
    "UsageImportPart",
    "UsageRecord",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSettings",
    "WorkChunk",
]
