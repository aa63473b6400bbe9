"""The one home of the collections words.

``AccountStanding`` is Fusebill's accounting status (stored as is, shown as is by the
Fusebill dialect; ``Collection`` is the manual flag's spelling billcycle already answers).
``CollectionEventType`` names each row of ``collection_events``.
"""

from __future__ import annotations

from enum import StrEnum


class AccountStanding(StrEnum):
    GOOD = "Good"
    POOR_STANDING = "PoorStanding"
    COLLECTION = "Collection"


class CollectionEventType(StrEnum):
    ATTEMPT = "Attempt"  # a collection attempt scheduled for an invoice
    PAYMENT_SUCCEEDED = "PaymentSucceeded"
    PAYMENT_FAILED = "PaymentFailed"
    STANDING_CHANGED = "StandingChanged"
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
    CANCELLED = "Cancelled"
    WRITTEN_OFF = "WrittenOff"
    POLICY_CHANGED = "PolicyChanged"
    EMAIL_SENT = "EmailSent"
