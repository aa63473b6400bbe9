"""The payment emails: a receipt when a payment succeeds, a notice when it fails.

Sent by the ``collections.payment_emails`` task (one per batch of outcomes, through one
mailer session) after the outcome's unit of work commits (never from inside it: an SMTP
handover cannot roll back), through the installation's mailer (SMTP or the outbox), to
the account's bill-to contact. Each sent email is a collections event; an account
without an email address, or that opted out of emails, gets none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from billcycle.collections import repository as repo
from billcycle.collections.events import Event, record
from billcycle.collections.statuses import CollectionEventType
from billcycle.context import ServiceContext
from billcycle.money import from_minor
from billcycle.notifications.invoice_email import DEFAULT_SENDER
from billcycle.notifications.mailer import INVOICE_HEADER, DeliveryError, mailer_from_settings
from billcycle.paymentmethods import capture_links
from billcycle.runtime import Runtime
from billcycle.tenancy.tokens import load_signing_key

log = logging.getLogger(__name__)


def compose_payment_email(
    *,
    to: str,
    name: str | None,
    account_number: str,
    payment_number: str,
    amount: str,
    currency: str,
    succeeded: bool,
    message: str | None,
    sent_at_header: str,
    card_link: str | None = None,
) -> EmailMessage:
    email = EmailMessage()
    email["From"] = DEFAULT_SENDER
    email["To"] = Address(display_name=name or "", addr_spec=to)
    email["Date"] = sent_at_header
    email[INVOICE_HEADER] = payment_number  # names the outbox file
    if succeeded:
        email["Subject"] = f"Payment received: {payment_number}"
        body = (
            f"Thank you. We received your payment {payment_number} of {amount} {currency} "
            f"for account {account_number}.\n"
        )
    else:
        email["Subject"] = f"Payment failed: {payment_number}"
        reason = f" The payment processor answered: {message}." if message else ""
        body = (
            f"We could not collect your payment {payment_number} of {amount} {currency} "
            f"for account {account_number}.{reason}\n"
            "Please update your payment method; we will try again.\n"
        )
        if card_link:
            body += f"\nUpdate your card here (the link works for a few days):\n{card_link}\n"
    email.set_content(body)
    return email


def _card_link(runtime: Runtime, ctx: ServiceContext, account_id: int, signing_key: str) -> str:
    """A hosted card page link for the failure notice (the customer's way to fix it)."""
    settings = runtime.settings
    return capture_links.card_link(
        ctx,
        account_id,
        signing_key=signing_key,
        public_url=settings.public_url,
        ttl=timedelta(seconds=settings.card_link_ttl_seconds),
    ).url


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """One payment's email to send: its receipt, or its failure notice."""

    payment_id: int
    succeeded: bool
    message: str | None = None


def send_payment_email(
    runtime: Runtime, tenant_id: int, payment_id: int, succeeded: bool, message: str | None
) -> bool:
    """Send the receipt or the failure notice of a payment; True when one was sent."""
    return send_payment_emails(runtime, tenant_id, [PaymentNotice(payment_id, succeeded, message)])[
        0
    ]


def send_payment_emails(
    runtime: Runtime, tenant_id: int, notices: Sequence[PaymentNotice]
) -> list[bool]:
    """Send the receipts and failure notices of many payments of the tenant as one batch:
    the payments and their bill-to contacts read in one query each, the emails handed to
    one mailer session, and the ``EmailSent`` events recorded in one statement. Which
    were sent, in the order given."""
    sent = [False] * len(notices)
    if not notices:
        return sent
    composed: list[tuple[int, EmailMessage, int, str]] = []  # (index, email, account, to)
    with runtime.service_context(tenant_id) as ctx:
        # Only the payments whose account wants emails and has a bill-to address.
        payments = repo.payment_email_rows(ctx.session, tenant_id, [n.payment_id for n in notices])
        if not payments:
            return sent
        sent_at = format_datetime(ctx.clock.now())
        signing_key: str | None = None
        for index, notice in enumerate(notices):
            payment = payments.get(notice.payment_id)
            if payment is None:
                continue
            address = payment.work_email or payment.personal_email
            if not address:
                continue
            name = " ".join(p for p in (payment.first_name, payment.last_name) if p) or None
            link = None
            if not notice.succeeded:
                if signing_key is None:
                    signing_key = load_signing_key(
                        runtime.session_factory, runtime.settings.secret_key
                    )
                link = _card_link(runtime, ctx, payment.account_id, signing_key)
            try:
                email = compose_payment_email(
                    to=address,
                    name=name,
                    account_number=payment.account_number,
                    payment_number=payment.number,
                    amount=str(from_minor(payment.amount_minor, payment.currency)),
                    currency=payment.currency,
                    succeeded=notice.succeeded,
                    message=notice.message,
                    sent_at_header=sent_at,
                    card_link=link,
                )
            except ValueError as exc:  # an address that cannot be written as a header
                log.warning("payment email for payment %s not composed: %s", payment.id, exc)
                continue
            composed.append((index, email, payment.account_id, address))
    if not composed:
        return sent
    mailer = mailer_from_settings(runtime.settings)
    try:
        mailer.open()
    except DeliveryError as exc:
        log.warning("payment emails not sent (%s of them): %s", len(composed), exc)
        return sent
    events: list[Event] = []
    try:
        for index, email, account_id, address in composed:
            try:
                mailer.send(email)
            except DeliveryError as exc:
                log.warning(
                    "payment email for payment %s not sent: %s", notices[index].payment_id, exc
                )
                continue
            sent[index] = True
            events.append(
                Event(
                    account_id,
                    CollectionEventType.EMAIL_SENT,
                    payment_id=notices[index].payment_id,
                    message=str(email["Subject"]),
                    details={"to": address},
                )
            )
    finally:
        try:
            mailer.close()
        except DeliveryError as exc:
            log.warning("mailer not closed cleanly: %s", exc)
    with runtime.service_context(tenant_id) as ctx:
        record(ctx, *events)
    return sent
