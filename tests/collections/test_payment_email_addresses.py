"""Who gets a payment email: the account's bill-to contact, at its work address or else
its personal one, only when the account takes emails; a batch of outcomes reads them in
one query (``collections.repository.payment_email_rows``). Both databases, a real SMTP
sink."""

from __future__ import annotations

from email.utils import parseaddr

from billcycle.accounts.models import Account, Contact
from billcycle.collections.emails import PaymentNotice, send_payment_emails
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.collections.helpers import dunning_customer, pay_invoice
from tests.support.api import Api
from tests.support.smtp import SmtpServer


def _set_bill_to(
    runtime: Runtime,
    tenant_id: int,
    account_id: int,
    *,
    wants: bool,
    work: str | None,
    personal: str | None,
) -> None:
    with runtime.service_context(tenant_id) as ctx:
        account = ctx.session.get(Account, account_id)
        assert account is not None
        assert account.bill_to_contact_id is not None
        account.invoice_delivery_prefs_email = wants
        contact = ctx.session.get(Contact, account.bill_to_contact_id)
        assert contact is not None
        contact.work_email = work
        contact.personal_email = personal


def test_only_accounts_taking_emails_with_an_address_get_one(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, smtp_server: SmtpServer
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    payment = pay_invoice(runtime, t, customer, "1")
    cases = [
        # (takes emails, work, personal) -> the address written to, or None
        ((True, "ada@example.com", "home@example.com"), "ada@example.com"),
        ((True, "", "home@example.com"), "home@example.com"),
        ((True, None, "home@example.com"), "home@example.com"),
        ((False, "ada@example.com", None), None),
        ((True, "", ""), None),
        ((True, None, None), None),
    ]
    for (wants, work, personal), expected in cases:
        _set_bill_to(runtime, t, customer.account_id, wants=wants, work=work, personal=personal)
        before = len(smtp_server.received)
        sent = send_payment_emails(
            runtime, t, [PaymentNotice(payment.id, True), PaymentNotice(-1, True)]
        )
        assert sent == [expected is not None, False], (wants, work, personal)
        received = smtp_server.received[before:]
        assert [parseaddr(str(r.message["To"]))[1] for r in received] == (
            [expected] if expected else []
        )
        if expected:
            assert received[0].message["Subject"] == f"Payment received: {payment.number}"
