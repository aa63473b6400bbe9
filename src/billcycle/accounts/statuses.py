"""The one home of an account's status words (Zuora's, stored as is; the Fusebill dialect
shows ``Canceled`` in its own spelling, ``Cancelled``)."""

from __future__ import annotations

from enum import StrEnum


class AccountStatus(StrEnum):
    """Iteration order is the order error messages list them in."""

    DRAFT = "Draft"
    ACTIVE = "Active"
    CANCELED = "Canceled"


# A new account starts Draft or Active. An account can be activated and cancelled, and a
# cancelled one reactivated (Zuora's "reactivate"); nothing goes back to Draft.
INITIAL_STATUSES = frozenset({AccountStatus.DRAFT, AccountStatus.ACTIVE})
TRANSITIONS = frozenset(
    {
        (AccountStatus.DRAFT, AccountStatus.ACTIVE),
        (AccountStatus.DRAFT, AccountStatus.CANCELED),
        (AccountStatus.ACTIVE, AccountStatus.CANCELED),
        (AccountStatus.CANCELED, AccountStatus.ACTIVE),
    }
)
