"""The payment-method service on both databases: every type, defaults, updates, the
end of a method's life, verification, and what is never stored."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import Table, select

from billcycle.errors import InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.paymentmethods import service
from billcycle.paymentmethods.inputs import NewPaymentMethod, PaymentMethodChanges, RetryRule
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentmethods.helpers import (
    account,
    card,
    card_method,
    configure_gateway,
    token_method,
)

NUMBERS = ["4242424242424242", "4000000000000341", "4000000000000002"]


def test_a_full_card_number_is_tokenized_and_never_stored_nor_logged(
    runtime: Runtime, tenant: NewTenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_gateway(runtime, tenant.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        methods = [card_method(ctx, acct.id, number) for number in NUMBERS]
        first = methods[0]
        assert first.token is not None
        assert first.token.startswith("tok_visa_")
        assert first.card_mask == "************4242"
        assert first.card_type == "Visa"
        assert (first.expiration_month, first.expiration_year) == (3, 2031)
        assert first.is_default
        assert not methods[1].is_default
    with runtime.session_factory() as session:
        table = PaymentMethod.__table__
        assert isinstance(table, Table)
        rows = session.execute(select(table).where(table.c.tenant_id == tenant.tenant_id)).all()
        stored = "\n".join(repr(tuple(row)) for row in rows)
    assert len(rows) == 3
    for number in NUMBERS:
        assert number[:12] not in stored
        assert number[:12] not in caplog.text
    # The CVV is three digits: random hex ids and tokens (with at least one letter, so a
    # stored card number is never taken for one) can hold "737" by chance; look past them.
    outside_random = re.sub(r"(?<![0-9a-f])(?=[0-9a-f]*[a-f])[0-9a-f]{16,}(?![0-9a-f])", "", stored)
    assert "737" not in outside_random


def test_a_card_number_with_a_gateway_that_cannot_tokenize_is_refused(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        # No gateway at all: nothing can take the number.
        with pytest.raises(RuleViolation):
            card_method(ctx, acct.id)
        assert service.methods_of_account(ctx, acct) == []


def test_tokens_need_a_mask_and_a_mask_cannot_be_a_number(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        with pytest.raises(MissingField) as missing:
            token_method(ctx, acct.id, card_mask=None)
        assert missing.value.field == "cardMaskNumber"
        with pytest.raises(InvalidValue) as bad:
            token_method(ctx, acct.id, card_mask="4242424242424242")
        assert bad.value.field == "cardMaskNumber"
        with pytest.raises(InvalidValue):
            token_method(ctx, acct.id, card_type="Amex")
        method = token_method(ctx, acct.id)
        assert (method.token, method.card_mask, method.is_default) == (
            "tok_visa",
            "************4242",
            True,
        )


def test_reference_transaction_ach_and_sepa(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        ccrt = service.create_method(
            ctx,
            NewPaymentMethod(
                type="CreditCardReferenceTransaction",
                account_id=acct.id,
                token="cus_123",
                second_token="card_456",
                card_mask="************1111",
            ),
        )
        assert (ccrt.token, ccrt.second_token, ccrt.card_mask) == (
            "cus_123",
            "card_456",
            "************1111",
        )
        ach = service.create_method(
            ctx,
            NewPaymentMethod(
                type="ACH",
                account_id=acct.id,
                bank_aba_code="011000015",
                bank_account_name="Ada Lovelace",
                bank_account_type="Checking",
                bank_name="First Bank",
                bank_account_number="000123456789",
            ),
        )
        assert ach.bank_account_mask == "********6789"
        mandate = service.create_method(
            ctx,
            NewPaymentMethod(
                type="ACH",
                account_id=acct.id,
                bank_aba_code="011000015",
                bank_account_name="Ada Lovelace",
                bank_account_type="BusinessSaving",
                bank_name="First Bank",
                mandate_id="MD-1",
                bank_account_mask="****1234",
            ),
        )
        assert (mandate.mandate_id, mandate.bank_account_mask) == ("MD-1", "****1234")
        sepa = service.create_method(
            ctx,
            NewPaymentMethod(
                type="SEPA",
                account_id=acct.id,
                iban="DE89 3704 0044 0532 0130 00",
                business_identification_code="COBADEFFXXX",
                holder={"holder_name": "Ada Lovelace", "city": "Berlin"},
                mandate={"mandate_id": "M-77", "mandate_status": "Active"},
            ),
        )
        assert sepa.iban_mask == "DE****************3000"
        assert sepa.details == {
            "holder": {"holder_name": "Ada Lovelace", "city": "Berlin"},
            "mandate": {"mandate_id": "M-77", "mandate_status": "Active"},
        }
        assert [m.id for m in service.methods_of_account(ctx, acct)] == [
            ccrt.id,
            ach.id,
            mandate.id,
            sepa.id,
        ]
        assert ccrt.is_default


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"type": "Cash"}, InvalidValue, "type"),
        ({"type": "ACH", "bank_aba_code": "12"}, InvalidValue, "bankABACode"),
        ({"type": "ACH", "bank_account_type": "Gold"}, InvalidValue, "bankAccountType"),
        (
            {"type": "ACH", "bank_account_number": None, "token": None},
            MissingField,
            "bankAccountNumber",
        ),
        ({"type": "ACH", "bank_account_number": "12ab"}, InvalidValue, "bankAccountNumber"),
        ({"type": "SEPA", "iban": "DE89370400440532013001"}, InvalidValue, "IBAN"),
        ({"type": "SEPA", "holder": None}, MissingField, "accountHolderInfo"),
        ({"type": "CreditCardReferenceTransaction", "token": None}, MissingField, "tokenId"),
    ],
)
def test_bad_methods_are_refused_and_nothing_is_written(
    runtime: Runtime,
    tenant: NewTenant,
    fields: dict[str, object],
    error: type[Exception],
    field: str,
) -> None:
    base: dict[str, object] = {
        "bank_aba_code": "011000015",
        "bank_account_name": "Ada",
        "bank_account_type": "Checking",
        "bank_name": "Bank",
        "bank_account_number": "000123456789",
        "iban": "DE89370400440532013000",
        "holder": {"holder_name": "Ada"},
        "token": "cus_1",
    }
    base.update(fields)
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        with pytest.raises(error) as raised:  # type: ignore[call-overload]
            service.create_method(ctx, NewPaymentMethod(account_id=acct.id, **base))  # type: ignore[arg-type]
        assert raised.value.field == field
        assert service.methods_of_account(ctx, acct) == []


def test_orphan_methods_attach_later_and_become_the_first_default(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        orphan = token_method(ctx, None)
        assert orphan.account_id is None
        assert not orphan.is_default
        with pytest.raises(RuleViolation):
            token_method(ctx, None, make_default=True)
        attached = service.update_method(ctx, orphan.id, PaymentMethodChanges(account_id=acct.id))
        assert attached.account_id == acct.id
        assert attached.is_default
        other = account(ctx, name="Other")
        with pytest.raises(RuleViolation):
            service.update_method(ctx, orphan.id, PaymentMethodChanges(account_id=other.id))


def test_make_default_moves_the_default(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        first = token_method(ctx, acct.id)
        second = token_method(ctx, acct.id, make_default=True)
        assert second.is_default
        ctx.session.refresh(first)
        assert not first.is_default
        assert service.require_default_method(ctx, acct).id == second.id
        third = token_method(ctx, acct.id)
        assert not third.is_default
        service.set_default_for_account(ctx, acct, third.id)
        assert service.require_default_method(ctx, acct).id == third.id


def test_update_expiry_holder_and_retry_rule(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        method = token_method(ctx, acct.id, holder={"holder_name": "Ada", "city": "London"})
        method.num_consecutive_failures = 3
        updated = service.update_method(
            ctx,
            method.id,
            PaymentMethodChanges(
                expiration_month=1,
                expiration_year=2032,
                holder={"city": "Paris", "email": "ada@example.com"},
                retry=RetryRule(
                    use_default_retry_rule=False,
                    max_consecutive_payment_failures=5,
                    payment_retry_window_hours=24,
                ),
                num_consecutive_failures=0,
            ),
        )
        assert (updated.expiration_month, updated.expiration_year) == (1, 2032)
        assert updated.details["holder"] == {
            "holder_name": "Ada",
            "city": "Paris",
            "email": "ada@example.com",
        }
        assert updated.use_default_retry_rule is False
        assert updated.max_consecutive_payment_failures == 5
        assert updated.payment_retry_window_hours == 24
        assert updated.num_consecutive_failures == 0
        for changes in (
            PaymentMethodChanges(expiration_month=13),
            PaymentMethodChanges(num_consecutive_failures=2),
            PaymentMethodChanges(retry=RetryRule(max_consecutive_payment_failures=101)),
            PaymentMethodChanges(retry=RetryRule(payment_retry_window_hours=None)),
        ):
            with pytest.raises((InvalidValue, MissingField)):
                service.update_method(ctx, method.id, changes)


def test_delete_refuses_the_default(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        default = token_method(ctx, acct.id)
        other = token_method(ctx, acct.id)
        with pytest.raises(RuleViolation):
            service.delete_method(ctx, default.id)
        service.delete_method(ctx, other.id)
        with pytest.raises(NotFound):
            service.get_method(ctx, other.id)
        assert [m.id for m in service.methods_of_account(ctx, acct)] == [default.id]


def test_scrub_blanks_and_hides_close_keeps(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        default = token_method(ctx, acct.id, holder={"holder_name": "Ada"})
        closed = service.close_method(ctx, token_method(ctx, acct.id).id)
        assert closed.status == "Closed"
        with pytest.raises(RuleViolation):
            service.make_default(ctx, closed)
        with pytest.raises(RuleViolation):
            service.update_method(ctx, closed.id, PaymentMethodChanges(expiration_month=2))
        scrubbed = service.scrub_method(ctx, default.id)
        assert scrubbed.status == "Scrubbed"
        assert (scrubbed.token, scrubbed.card_mask, scrubbed.details) == (None, None, {})
        assert not scrubbed.is_default
        assert [m.id for m in service.methods_of_account(ctx, acct)] == [closed.id]
        assert service.methods_of_account(ctx, acct, active_only=True) == []


def test_the_default_of_an_autopay_account_cannot_be_scrubbed_or_closed(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx, auto_pay=True)
        default = token_method(ctx, acct.id)
        with pytest.raises(RuleViolation):
            service.scrub_method(ctx, default.id)
        with pytest.raises(RuleViolation):
            service.close_method(ctx, default.id)


@pytest.mark.parametrize(
    ("number", "verified"),
    [
        ("4242424242424242", True),
        ("4000000000000341", True),  # attaches and verifies; its charges fail
        ("4000000000000002", False),
        ("4000000000009995", False),
        ("4000000000000069", False),
    ],
)
def test_verify_through_the_gateway(
    runtime: Runtime, tenant: NewTenant, number: str, verified: bool
) -> None:
    configure_gateway(runtime, tenant.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        method = card_method(ctx, account(ctx).id, number)
        if verified:
            result = service.verify_method(ctx, method.id)
            assert result.result.approved
        else:
            with pytest.raises(RuleViolation) as raised:
                service.verify_method(ctx, method.id)
            assert "declined" in raised.value.message.lower()


def test_methods_of_other_tenants_are_not_found(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        method_id = token_method(ctx, acct.id).id
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        for call in (
            lambda: service.get_method(ctx, method_id),
            lambda: service.update_method(ctx, method_id, PaymentMethodChanges()),
            lambda: service.delete_method(ctx, method_id),
            lambda: service.scrub_method(ctx, method_id),
            lambda: service.verify_method(ctx, method_id),
        ):
            with pytest.raises(NotFound):
                call()
        other_account = account(ctx)
        with pytest.raises(NotFound):
            service.set_default_for_account(ctx, other_account, method_id)
        with pytest.raises(NotFound):
            token_method(ctx, acct.id)


def test_a_method_of_another_account_is_not_found(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        first = account(ctx)
        second = account(ctx, name="Second")
        method = token_method(ctx, first.id)
        with pytest.raises(NotFound):
            service.set_default_for_account(ctx, second, method.id)


def test_card_details_hide_the_number() -> None:
    assert "4242424242" not in repr(card())
    assert "4242424242" not in repr(NewPaymentMethod(type="CreditCard", card=card()))


def test_a_methods_gateway_is_its_own_else_its_accounts(
    runtime: Runtime, tenant: NewTenant
) -> None:
    first = configure_gateway(runtime, tenant.tenant_id, "first")
    second = configure_gateway(runtime, tenant.tenant_id, "second")
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        plain = token_method(ctx, acct.id)
        own = token_method(ctx, acct.id, gateway_id=first)
        assert service.gateway_for(ctx, plain) is None  # the tenant's default
        acct.payment_gateway_id = second
        assert service.gateway_for(ctx, plain) == second
        assert service.gateway_for(ctx, own) == first
        assert service.gateway_for(ctx, token_method(ctx, None)) is None
        with pytest.raises(InvalidValue):
            token_method(ctx, acct.id, gateway_id=first + second + 1000)
