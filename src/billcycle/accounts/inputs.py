"""What a caller hands the accounts service, free of any wire dialect.

Both dialects translate their requests into these: the service alone decides what is
valid. Updates are patches: a field left at :data:`UNSET` is not touched, while ``None``
on a nullable field clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from billcycle.accounts.statuses import AccountStatus
from billcycle.unset import UNSET, Unset


@dataclass(frozen=True, slots=True)
class ContactInput:
    first_name: str
    last_name: str
    work_email: str | None = None
    personal_email: str | None = None
    work_phone: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    county: str | None = None
    tax_region: str | None = None
    nickname: str | None = None


@dataclass(frozen=True, slots=True)
class ContactChanges:
    first_name: str | Unset = UNSET
    last_name: str | Unset = UNSET
    work_email: str | Unset | None = UNSET
    personal_email: str | Unset | None = UNSET
    work_phone: str | Unset | None = UNSET
    address1: str | Unset | None = UNSET
    address2: str | Unset | None = UNSET
    city: str | Unset | None = UNSET
    state: str | Unset | None = UNSET
    postal_code: str | Unset | None = UNSET
    country: str | Unset | None = UNSET
    county: str | Unset | None = UNSET
    tax_region: str | Unset | None = UNSET
    nickname: str | Unset | None = UNSET

    def given(self) -> dict[str, str | None]:
        """The fields the caller set, by name."""
        out: dict[str, str | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not UNSET:
                out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class NewAccount:
    name: str
    currency: str
    bill_to_contact: ContactInput
    # None: not given (refused: billcycle cannot infer it without a subscription);
    # 0: Zuora's "auto-set".
    bill_cycle_day: int | None
    sold_to_contact: ContactInput | None = None
    # The sold-to contact is the bill-to contact (one shared record).
    sold_to_same_as_bill_to: bool = False
    account_number: str | None = None
    batch: int = 1
    payment_term: str | None = None
    auto_pay: bool = False
    status: str = AccountStatus.ACTIVE
    crm_id: str | None = None
    notes: str | None = None
    invoice_delivery_prefs_email: bool = False


@dataclass(frozen=True, slots=True)
class AccountChanges:
    name: str | Unset = UNSET
    currency: str | Unset = UNSET
    bill_cycle_day: int | Unset = UNSET
    batch: int | Unset = UNSET
    payment_term: str | Unset = UNSET
    auto_pay: bool | Unset = UNSET
    status: str | Unset = UNSET
    crm_id: str | Unset | None = UNSET
    notes: str | Unset | None = UNSET
    invoice_delivery_prefs_email: bool | Unset = UNSET
    bill_to_contact: ContactChanges | Unset = UNSET
    sold_to_contact: ContactChanges | Unset = UNSET
