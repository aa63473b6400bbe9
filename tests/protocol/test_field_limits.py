"""Per-field limits as Zuora's OpenAPI document declares them: every request field
billcycle accepts has zuora-sdk's maxLength/maxItems (generated into
billcycle/zuora/schemas/field_limits.py, which cannot drift from zuora-sdk), shows it in
billcycle's OpenAPI document, and a longer value is refused with 400 in Zuora's envelope."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from zuora_sdk import CreateAccountContact, CreateAccountRequest

from billcycle.devtools import zuora_field_limits
from billcycle.zuora.schemas.field_limits import FIELD_LIMITS
from tests.protocol.helpers import ACCOUNTS, account_body
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


def _limit(schema: dict[str, Any]) -> int | None:
    for key in ("maxLength", "maxItems"):
        if key in schema:
            return int(schema[key])
    for option in schema.get("anyOf", []):
        found = _limit(option)
        if found is not None:
            return found
    return None


@pytest.mark.slow
def test_the_table_is_what_zuora_sdk_declares() -> None:
    """Regenerated from zuora-sdk now: equal to the committed table (run
    ``python -m billcycle.devtools.zuora_field_limits`` when this fails)."""
    assert zuora_field_limits.generate() == FIELD_LIMITS


def test_every_request_model_carries_its_limits() -> None:
    assert len(FIELD_LIMITS) > 20
    for key, limits in FIELD_LIMITS.items():
        module, name = key.split(".", 1)
        model = getattr(importlib.import_module(f"billcycle.zuora.schemas.{module}"), name)
        properties = model.model_json_schema(by_alias=True)["properties"]
        assert {alias: _limit(properties[alias]) for alias in limits} == limits, key


def test_the_openapi_document_shows_them(api: Api) -> None:
    document = api.client.get("/zuora/openapi.json").json()
    contact = document["components"]["schemas"]["CreateContactRequest"]["properties"]
    assert _limit(contact["workEmail"]) == 80


def test_a_longer_value_is_refused_in_zuoras_envelope(api: Api, live_url: str) -> None:
    sdk = make_sdk_client(f"{live_url}/zuora", api.tenant.client_id, api.tenant.client_secret)
    made = sdk.accounts_api().create_account(
        CreateAccountRequest(
            name="n" * 255,
            currency="USD",
            bill_cycle_day=1,
            bill_to_contact=CreateAccountContact(first_name="f" * 100, last_name="L"),
        )
    )
    assert made.success
    # zuora-sdk refuses these before sending; a raw client gets Zuora's 400.
    for body, field in (
        (account_body(name="n" * 256), "name"),
        (
            account_body(billToContact={"firstName": "f" * 101, "lastName": "L"}),
            "billToContact.firstName",
        ),
    ):
        answer = api.client.post(ACCOUNTS, json=body, headers=api.zuora_headers)
        assert answer.status_code == 400, answer.text
        reason = answer.json()["reasons"][0]
        assert answer.json()["success"] is False
        assert reason["code"] % 100 == 20
        assert field in reason["message"]
        assert "at most" in reason["message"]
