"""Fusebill conventions on the routes of this module: raw-key Basic auth, forgiving paths,
the error envelope for routing errors."""

from __future__ import annotations

import pytest

from tests.fusebill.helpers import Customer, assert_error, error, fget
from tests.support.api import Api

MALFORMED = "Authorization key is not in the correct format."
DENIED = "Authorization has been denied for this request."


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer x"},
        {"Authorization": "Basic"},
        {"Authorization": "Basic    "},
        {"Authorization": "Basic two words"},
    ],
    ids=["missing", "bearer", "basic-no-key", "basic-blank", "basic-two-words"],
)
@pytest.mark.parametrize("path", ["/v1/customers/1", "/v1/customers/1/invoices", "/v1/invoices/1"])
def test_malformed_authorization_is_401(api: Api, headers: dict[str, str], path: str) -> None:
    response = api.client.get(f"/fusebill{path}", headers=headers)
    assert response.status_code == 401
    assert response.json() == error(401, MALFORMED)


def test_unknown_key_is_denied(api: Api, customer: Customer) -> None:
    response = api.client.get(
        f"/fusebill/v1/customers/{customer.id}", headers={"Authorization": "Basic not-a-key"}
    )
    assert response.status_code == 401
    assert response.json() == error(401, DENIED)


def test_write_off_needs_a_key_before_anything_else(api: Api) -> None:
    response = api.client.post(
        "/fusebill/v1/invoices/writeoff", content=b"{not json", headers={"Authorization": "x"}
    )
    assert response.status_code == 401
    assert response.json() == error(401, MALFORMED)


TOLERATED = [
    "/V1/CUSTOMERS/{customer}",
    "/v1/Customers/{customer}/",
    "/v1//customers//{customer}",
    "/v1/customers/{customer}/Invoices/",
    "/V1/Invoices/{invoice}",
    "/v1//invoices/{invoice}",
    "/v1/invoices/{invoice}//",
]


def test_paths_are_case_and_slash_tolerant(api: Api, customer: Customer) -> None:
    for template in TOLERATED:
        path = template.format(customer=customer.id, invoice=customer.overdue)
        response = fget(api, path)
        assert response.status_code == 200, (path, response.text)


def test_unknown_route_and_method_use_the_envelope(api: Api) -> None:
    assert_error(fget(api, "/v1/nothing/here"), 404, "not found")
    response = api.client.delete("/fusebill/v1/invoices/1", headers=api.fusebill_headers)
    assert response.json() == error(405, "The requested resource does not support this method.")
    response = api.client.get("/fusebill/v1/invoices/writeoff", headers=api.fusebill_headers)
    assert_error(response, 400, "ids are integers")
