"""Payment terms decide invoice due dates; invoicing relies on these exact rules."""

from __future__ import annotations

from datetime import date

import pytest

from billcycle.accounts.payment_terms import PaymentTerm, due_date, normalize_payment_term
from billcycle.errors import InvalidValue


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Due Upon Receipt", date(2026, 1, 31)),
        ("Net 15", date(2026, 2, 15)),
        ("Net 30", date(2026, 3, 2)),
        ("Net 45", date(2026, 3, 17)),
        ("Net 60", date(2026, 4, 1)),
        ("Net 90", date(2026, 5, 1)),
    ],
)
def test_due_date_adds_the_term_in_days(term: str, expected: date) -> None:
    assert due_date(date(2026, 1, 31), term) == expected


def test_due_date_crosses_leap_day() -> None:
    assert due_date(date(2028, 2, 15), "Net 15") == date(2028, 3, 1)


def test_terms_are_matched_without_regard_to_case_or_spacing() -> None:
    assert normalize_payment_term("net  30") == "Net 30"
    assert normalize_payment_term(" due upon receipt ") == "Due Upon Receipt"


@pytest.mark.parametrize("term", ["Net 31", "Net", "", "Due on receipt", "30"])
def test_unknown_terms_are_rejected(term: str) -> None:
    with pytest.raises(InvalidValue):
        due_date(date(2026, 1, 1), term)


def test_a_known_term_comes_back_as_its_member_with_its_days() -> None:
    term = normalize_payment_term("NET 45")
    assert term is PaymentTerm.NET_45
    assert (term.days, PaymentTerm.DUE_UPON_RECEIPT.days) == (45, 0)


def test_an_unknown_term_is_refused_with_the_list_of_known_ones() -> None:
    with pytest.raises(InvalidValue) as refused:
        normalize_payment_term("Net 31")
    assert refused.value.message == (
        "Invalid value for paymentTerm: 'Net 31' is not a payment term (Due Upon Receipt, "
        "Net 15, Net 30, Net 45, Net 60, Net 90)."
    )
