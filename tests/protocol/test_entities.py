"""Multi-entity through zuora-sdk: an OAuth client granted a second entity
(`billcycle tenant grant`) names the one each call acts in with Zuora-Entity-Ids; it must
when its token covers two, and an entity the token does not cover is refused."""

from __future__ import annotations

import json

import pytest
from zuora_sdk import CreateAccountContact, CreateAccountRequest
from zuora_sdk.rest import ApiException

from billcycle.accounts import service as accounts
from billcycle.errors import NotFound
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.protocol.helpers import cli
from tests.support.tenants import other_tenant
from tests.support.zuora_sdk import make_sdk_client

__all__ = ["other_tenant"]


def _new(name: str) -> CreateAccountRequest:
    return CreateAccountRequest(
        name=name,
        currency="USD",
        bill_cycle_day=1,
        bill_to_contact=CreateAccountContact(first_name="Ada", last_name="L", country="US"),
    )


def _reason(error: pytest.ExceptionInfo[ApiException]) -> tuple[int, str]:
    [reason] = json.loads(error.value.body or "{}")["reasons"]
    return reason["code"], reason["message"]


def _exists(runtime: Runtime, tenant_id: int, account_id: str) -> bool:
    with runtime.service_context(tenant_id) as ctx:
        try:
            accounts.find_account(ctx, account_id=int(account_id, 16), number=account_id)
        except NotFound:
            return False
        return True


def test_a_client_of_two_entities_names_one_per_call(
    live_url: str,
    runtime: Runtime,
    tenant: NewTenant,
    other_tenant: NewTenant,
    database_url: str,
) -> None:
    granted = cli(database_url, "tenant", "grant", tenant.client_id, other_tenant.entity_id)
    assert "granted" in granted.output
    # Granting again changes nothing.
    assert (
        "already had"
        in cli(database_url, "tenant", "grant", tenant.client_id, other_tenant.entity_id).output
    )
    api = make_sdk_client(
        f"{live_url}/zuora", tenant.client_id, tenant.client_secret
    ).accounts_api()

    with pytest.raises(ApiException) as missing:
        api.create_account(_new("nowhere"))
    assert missing.value.status == 400
    assert _reason(missing)[1] == (
        "Zuora-Entity-Ids is required: the access token covers more than one entity."
    )

    theirs = api.create_account(_new("there"), zuora_entity_ids=other_tenant.entity_id)
    mine = api.create_account(_new("here"), zuora_entity_ids=tenant.entity_id)
    assert _exists(runtime, other_tenant.tenant_id, theirs.account_id)
    assert not _exists(runtime, tenant.tenant_id, theirs.account_id)
    assert _exists(runtime, tenant.tenant_id, mine.account_id)
    # Each entity sees its own objects only.
    read = api.get_account(theirs.account_id, zuora_entity_ids=other_tenant.entity_id)
    assert read.basic_info.name == "there"
    with pytest.raises(ApiException) as elsewhere:
        api.get_account(theirs.account_id, zuora_entity_ids=tenant.entity_id)
    assert elsewhere.value.status == 404

    # Taken back: the client's next token covers its own entity only.
    ungranted = cli(database_url, "tenant", "ungrant", tenant.client_id, other_tenant.entity_id)
    assert "no longer has" in ungranted.output
    again = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    with pytest.raises(ApiException) as revoked:
        again.accounts_api().get_account(theirs.account_id, zuora_entity_ids=other_tenant.entity_id)
    assert revoked.value.status == 403
    assert again.accounts_api().get_account(mine.account_id).basic_info.name == "here"


def test_an_entity_the_token_does_not_cover_is_refused(
    live_url: str, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    api = make_sdk_client(
        f"{live_url}/zuora", tenant.client_id, tenant.client_secret
    ).accounts_api()
    # A single-entity client needs no header, and may name its own entity.
    api.create_account(_new("plain"))
    api.create_account(_new("named"), zuora_entity_ids=tenant.entity_id)
    for header in (other_tenant.entity_id, "f" * 32, "not-an-id"):
        with pytest.raises(ApiException) as refused:
            api.create_account(_new("x"), zuora_entity_ids=header)
        assert refused.value.status == 403
        code, message = _reason(refused)
        assert code % 100 == 10
        assert message == "The access token is not valid for the entity in Zuora-Entity-Ids."
    with pytest.raises(ApiException) as two:
        api.create_account(
            _new("x"), zuora_entity_ids=f"{tenant.entity_id},{other_tenant.entity_id}"
        )
    assert two.value.status == 400
    # The client's default headers carry the entity the same way.
    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    client.add_default_header("Zuora-Entity-Ids", other_tenant.entity_id)
    with pytest.raises(ApiException) as by_default:
        client.accounts_api().create_account(_new("x"))
    assert by_default.value.status == 403
