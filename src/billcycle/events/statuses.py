"""The words of the events outbox: event types and the kinds of object they are about.

One home for every event type: services name members (``EventType.INVOICE_POSTED``),
the admin API and the CLI validate subscriptions against this enum.
"""

from __future__ import annotations

from enum import StrEnum


class ObjectType(StrEnum):
    ACCOUNT = "account"
    SUBSCRIPTION = "subscription"
    INVOICE = "invoice"
    BILL_RUN = "bill_run"
    BULK_JOB = "bulk_job"
    PAYMENT = "payment"
    REFUND = "refund"
    PAYMENT_RUN = "payment_run"
    WEBHOOK_ENDPOINT = "webhook_endpoint"
    USAGE = "usage"
    USAGE_IMPORT = "usage_import"


class EventType(StrEnum):
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_CANCELLED = "subscription.cancelled"
    SUBSCRIPTION_SUSPENDED = "subscription.suspended"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    INVOICE_POSTED = "invoice.posted"
    INVOICE_CANCELLED = "invoice.cancelled"
    INVOICE_WRITTEN_OFF = "invoice.written_off"
    INVOICE_EMAILED = "invoice.emailed"
    BILL_RUN_STATUS_CHANGED = "bill_run.status_changed"
    BULK_JOB_STATUS_CHANGED = "bulk_job.status_changed"
    PAYMENT_CREATED = "payment.created"
    PAYMENT_PROCESSED = "payment.processed"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REFUNDED = "payment.refunded"
    REFUND_CREATED = "refund.created"
    REFUND_PROCESSED = "refund.processed"
    REFUND_FAILED = "refund.failed"
    REFUND_CANCELLED = "refund.cancelled"
    PAYMENT_RUN_STATUS_CHANGED = "payment_run.status_changed"
    COLLECTIONS_DUNNING_STEP = "collections.dunning_step"
    COLLECTIONS_STANDING_CHANGED = "collections.standing_changed"
    COLLECTIONS_STATUS_CHANGED = "collections.status_changed"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    # Sent by `billcycle webhook test` / POST .../test; never written by the domain.
    WEBHOOK_TEST = "webhook.test"
    USAGE_CREATED = "usage.created"
    USAGE_IMPORT_STATUS_CHANGED = "usage_import.status_changed"


# Event types a bill run or bulk job writes once per invoice (set-based with its chunk),
# and only when the tenant subscribes to them: without a subscriber a run writes one event per
# run status change.
PER_INVOICE_RUN_EVENTS = frozenset(
    {EventType.INVOICE_POSTED, EventType.INVOICE_CANCELLED, EventType.INVOICE_WRITTEN_OFF}
)
