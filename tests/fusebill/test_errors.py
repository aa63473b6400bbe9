"""Fusebill's statuses for domain errors: by kind, except the codes it calls bad requests."""

from __future__ import annotations

import json

import pytest

from billcycle.errors import ErrorCode, RuleViolation
from billcycle.fusebill.errors import domain_error_response


def _answer(error: RuleViolation) -> tuple[int, dict[str, object]]:
    response = domain_error_response(error)
    return response.status_code, json.loads(bytes(response.body))


def test_a_broken_rule_is_a_conflict() -> None:
    status, body = _answer(RuleViolation("Invoice 7 has a zero balance."))
    assert status == 409
    assert body == {
        "ErrorId": 0,
        "HttpStatusCode": 409,
        "Errors": [{"Key": "Api Error", "Value": "Invoice 7 has a zero balance."}],
    }


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.BULK_JOB_STATUS,
        ErrorCode.AMOUNT_NOT_FULL_BALANCE,
        ErrorCode.AMOUNT_EXCEEDS_BALANCE,
    ],
)
def test_rules_broken_by_what_the_request_says_are_bad_requests(code: ErrorCode) -> None:
    status, body = _answer(RuleViolation("Refused.", code=code))
    assert (status, body["HttpStatusCode"]) == (400, 400)
