"""The one home of the words a payment activity carries (Fusebill's, stored and shown as is).

A payment activity is one attempt to move money: every collection or refund, successful
or not. A failed attempt leaves an activity and no payment (Fusebill's documented
behaviour), so the activity is where a declined card shows.
"""

from __future__ import annotations

from enum import StrEnum


class ActivityStatus(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    UNKNOWN = "Unknown"  # the gateway's outcome is pending or unknown


class ActivityType(StrEnum):
    """Fusebill's ``transactionType``."""

    NSF = "NSF"
    VALIDATE = "Validate"
    COLLECT = "Collect"
    REFUND = "Refund"


# Gateway decline codes that mean "not sufficient funds": Fusebill shows such a failed
# attempt as an ``NSF`` activity (the test gateway's 4000000000009995 answers the first).
NSF_CODES = frozenset({"insufficient_funds", "nsf", "R01"})


def attempt_type(decline_code: str | None) -> ActivityType:
    """The ``transactionType`` of a charge attempt: ``NSF`` for a decline for
    insufficient funds, else ``Collect``."""
    return ActivityType.NSF if decline_code in NSF_CODES else ActivityType.COLLECT


class PaymentSource(StrEnum):
    """Who started the payment (Fusebill's ``source``)."""

    MANUAL = "Manual"
    AUTOMATIC = "Automatic"
    SELF_SERVICE_PORTAL = "SelfServicePortal"
    IMPORT = "Import"


class MethodKind(StrEnum):
    """How the money came (Fusebill's ``paymentMethod``): recorded money (cash, a check,
    a direct deposit) or a charge through a gateway (a card, a bank debit)."""

    CREDIT_CARD = "CreditCard"
    CASH = "Cash"
    CHECK = "Check"
    DIRECT_DEPOSIT = "DirectDeposit"
    ACH = "ACH"


# Recorded at once as External payments; the others are charged through a gateway.
RECORDED_KINDS = frozenset({MethodKind.CASH, MethodKind.CHECK, MethodKind.DIRECT_DEPOSIT})


class AllocationOrder(StrEnum):
    """Which open invoices an auto-allocated payment pays first."""

    OLDEST_TO_NEWEST = "OldestToNewest"
    NEWEST_TO_OLDEST = "NewestToOldest"


class RefundChannel(StrEnum):
    """How a refund leaves (Fusebill's refund ``method``): back through the payment's own
    method, or as recorded money."""

    PAYMENT_METHOD = "PaymentMethod"
    CHECK = "Check"
    CASH = "Cash"
    DIRECT_DEPOSIT = "DirectDeposit"
