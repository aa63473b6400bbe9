"""Checks every subscription use case shares: text, counts, dates and allowed states.

Each refusal names the subscription API's field, as Zuora's REST API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from billcycle.errors import InvalidValue, MissingField, RuleViolation
from billcycle.subscriptions.models import SUBSCRIPTION, Subscription
from billcycle.subscriptions.terms import check_date

MAX_TERM = 100_000
MAX_PERIODS = 10_000
MAX_NUMBER_LENGTH = 100
MAX_NOTES = 1000
MAX_DESCRIPTION = 500


def invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=SUBSCRIPTION, field=field)


def rule(message: str) -> RuleViolation:
    return RuleViolation(message, resource=SUBSCRIPTION)


def text(value: str | None, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise invalid(f"Invalid value for {field}: it contains a NUL character.", field)
    if len(value) > max_length:
        raise invalid(f"Invalid value for {field}: at most {max_length} characters.", field)
    return value


def count(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise invalid(f"Invalid value for {field}: {value}. Use {low} to {high}.", field)
    return value


def optional_date(value: date | None, field: str) -> date | None:
    return check_date(value, field) if value is not None else None


def required_date(value: date | None, field: str, chosen_by: str) -> date:
    """The date a ``SpecificDate`` choice (of a policy or a trigger event) needs."""
    if value is None:
        raise MissingField(
            f"{field} is required when {chosen_by} is SpecificDate.",
            resource=SUBSCRIPTION,
            field=field,
        )
    return value


def require_status(subscription: Subscription, allowed: Sequence[str], action: str) -> None:
    if subscription.status not in allowed:
        raise rule(
            f"Subscription {subscription.subscription_number} is {subscription.status}: it "
            f"cannot be {action}."
        )


def within_subscription(subscription: Subscription, day: date, field: str) -> date:
    check_date(day, field)
    if day < subscription.subscription_start_date:
        raise invalid(
            f"Invalid value for {field}: {day.isoformat()} is before the subscription starts "
            f"({subscription.subscription_start_date.isoformat()}).",
            field,
        )
    end = subscription.term_end_date
    if end is not None and day > end:
        raise invalid(
            f"Invalid value for {field}: {day.isoformat()} is after the current term ends "
            f"({end.isoformat()}).",
            field,
        )
    return day


def literal(value: str) -> str:
    """Client text placed in a message that also names ids: braces doubled, so that the
    dialect's rendering of the ``{id}`` placeholders leaves the text as it was sent."""
    return value.replace("{", "{{").replace("}", "}}")
