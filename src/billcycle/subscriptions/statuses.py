"""The one home of a subscription's words (Zuora's strings, stored and shown as is).

Lifecycle: ``Active`` -> ``Cancelled``; ``Active`` -> ``Suspended`` -> ``Active``.
``Expired`` is Zuora's word for a termed subscription left to run out; billcycle shows
it but sets it nowhere yet. Iteration order is the order error messages list them in.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    SUSPENDED = "Suspended"
    EXPIRED = "Expired"


class TermType(StrEnum):
    TERMED = "TERMED"
    EVERGREEN = "EVERGREEN"


class RenewalSetting(StrEnum):
    RENEW_WITH_SPECIFIC_TERM = "RENEW_WITH_SPECIFIC_TERM"
    RENEW_TO_EVERGREEN = "RENEW_TO_EVERGREEN"


class TermPeriodType(StrEnum):
    """The unit of a term's length (initial, renewal, current) and of suspend/resume periods."""

    MONTH = "Month"
    YEAR = "Year"
    DAY = "Day"
    WEEK = "Week"


class CancellationPolicy(StrEnum):
    END_OF_CURRENT_TERM = "EndOfCurrentTerm"
    END_OF_LAST_INVOICE_PERIOD = "EndOfLastInvoicePeriod"
    SPECIFIC_DATE = "SpecificDate"


class SuspendPolicy(StrEnum):
    TODAY = "Today"
    END_OF_LAST_INVOICE_PERIOD = "EndOfLastInvoicePeriod"
    SPECIFIC_DATE = "SpecificDate"
    FIXED_PERIODS_FROM_TODAY = "FixedPeriodsFromToday"


class ResumePolicy(StrEnum):
    TODAY = "Today"
    FIXED_PERIODS_FROM_SUSPEND_DATE = "FixedPeriodsFromSuspendDate"
    SPECIFIC_DATE = "SpecificDate"
    SUSPEND_DATE = "SuspendDate"


class ChargeDetail(StrEnum):
    """Which segment of each charge a read shows (Zuora's ``charge-detail``)."""

    LAST_SEGMENT = "last-segment"
    CURRENT_SEGMENT = "current-segment"
    ALL_SEGMENTS = "all-segments"
    SPECIFIC_SEGMENT = "specific-segment"
