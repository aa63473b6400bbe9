"""Transports that deliver composed messages: an SMTP server, or an outbox folder.

A mailer is used for one batch at a time, from one thread: ``open()`` (or ``with``),
``send()`` many, ``close()``. The SMTP mailer connects on the first send of a batch and
reuses that connection until ``close()``, so a batch of a hundred invoices costs one TCP
(and TLS) handshake and one login, not a hundred; outside a batch each send connects
and disconnects on its own.

Failures come in two kinds, because the caller reacts differently: a
:class:`DeliveryError` concerns one message (a refused recipient, a rejected body) and
the next message may well succeed; a :class:`TransportUnavailable` means the transport
itself cannot be reached (connection refused, timeout, bad credentials, an outbox that
cannot be written), so the rest of the batch would fail the same way, each after a
timeout.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from datetime import UTC
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import unquote, urlsplit

from billcycle.config import Settings
from billcycle.notifications.statuses import EmailTransport

__all__ = [
    "INVOICE_HEADER",
    "DeliveryError",
    "Mailer",
    "OutboxMailer",
    "SmtpMailer",
    "TransportUnavailable",
    "mailer_from_settings",
]

# Names the invoice a message carries; the outbox uses it to name the file.
INVOICE_HEADER = "X-Billcycle-Invoice"

DEFAULT_TIMEOUT = 30.0
# "Service not available, closing transmission channel": the connection is gone.
_CLOSING = 421
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9@._-]+")


class DeliveryError(Exception):
    """This message was not delivered; the transport may still deliver others."""


class TransportUnavailable(DeliveryError):
    """The transport cannot be reached: every further send in the batch would fail."""


class Mailer(Protocol):
    """Delivers messages. ``send`` returns the message's Message-ID (setting one when the
    message has none) and raises :class:`DeliveryError` when it was not delivered."""

    @property
    def transport(self) -> str:
        """What ``invoice_emails.transport`` records: ``smtp`` or ``outbox``."""
        ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(self, message: EmailMessage) -> str: ...


class _Batch:
    """``with mailer:`` is ``open()`` ... ``close()``."""

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _ensure_message_id(message: EmailMessage, domain: str = "localhost") -> str:
    message_id = message.get("Message-ID")
    if message_id is None:
        message_id = make_msgid(domain=domain)
        message["Message-ID"] = message_id
    return str(message_id)


# -- SMTP ------------------------------------------------------------------------------


class SmtpMailer(_Batch):
    """Sends through an SMTP server named by a URL.

    ``smtp://host:25`` (plain), ``smtp+starttls://host:587`` (upgraded with STARTTLS,
    refused if the server does not offer it) or ``smtps://host:465`` (TLS from the first
    byte); ``user:password@`` (percent-encoded) logs in. TLS verifies the server's
    certificate against the system's trust store unless ``ssl_context`` says otherwise.
    """

    transport = EmailTransport.SMTP

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(
                f"Unsupported SMTP URL scheme {parts.scheme!r}: use smtp://, "
                "smtp+starttls:// or smtps://."
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("The SMTP URL has an invalid port.") from exc
        if not parts.hostname:
            raise ValueError("The SMTP URL has no host.")
        self.scheme = scheme
        self.host = parts.hostname
        self.port = port or _DEFAULT_PORTS[scheme]
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._connection: smtplib.SMTP | None = None
        self._batch = False

    def __repr__(self) -> str:
        # Never the password: mailers end up in logs and tracebacks.
        user = f"{self.username}@" if self.username else ""
        return f"SmtpMailer({self.scheme}://{user}{self.host}:{self.port})"

    def open(self) -> None:
        """Start a batch; the connection is made by the first send."""
        self._batch = True

    def close(self) -> None:
        self._batch = False
        self._disconnect()

    def send(self, message: EmailMessage) -> str:
        sender_domain = _domain_of(message.get("From"))
        message_id = _ensure_message_id(message, sender_domain)
        connection = self._connect()
        try:
            refused = connection.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            self._disconnect()
            raise DeliveryError(f"SMTP server closed the connection: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(_refusal(exc.recipients)) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == _CLOSING:
                self._disconnect()
            raise DeliveryError(_reply(exc.smtp_code, exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._disconnect()
            raise DeliveryError(f"SMTP error: {exc}") from exc
        finally:
            if not self._batch:
                self._disconnect()
        if refused:
            raise DeliveryError(_refusal(refused))
        return message_id

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        context = self._ssl_context or ssl.create_default_context()
        connection: smtplib.SMTP | None = None
        try:
            if self.scheme == "smtps":
                connection = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                connection = smtplib.SMTP(
                    self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
                )
                if self.scheme == "smtp+starttls":
                    connection.starttls(context=context)
            if self.username:
                connection.login(self.username, self._password)
        except (smtplib.SMTPException, OSError) as exc:
            if connection is not None:
                _quietly_close(connection)
            raise TransportUnavailable(
                f"Cannot use SMTP server {self.host}:{self.port}: {_describe(exc)}"
            ) from exc
        self._connection = connection
        return connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            _quietly_close(connection)


def _quietly_close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return str(exc) or type(exc).__name__


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {message}".strip()


def _refusal(recipients: dict[str, tuple[int, bytes]]) -> str:
    described = "; ".join(
        f"{addr}: {_reply(code, text)}" for addr, (code, text) in recipients.items()
    )
    return f"Recipient refused: {described}"


def _domain_of(address: object) -> str:
    text = str(address or "")
    domain = text.rpartition("@")[2].strip().rstrip(">").strip()
    return domain or "localhost"


# -- outbox ----------------------------------------------------------------------------


class OutboxMailer(_Batch):
    """Writes each message to ``directory`` as an RFC 5322 ``.eml`` file (CRLF line
    ends), for installations without SMTP: another program, or a person, picks them up.

    Files are named ``<UTC date-time>-<invoice number>-<message id>.eml`` so a listing
    sorts by time and shows what each one is. A file appears whole or not at all: it is
    written under a temporary name in the same directory, synced, then renamed.
    """

    transport = EmailTransport.OUTBOX

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.directory)!r})"

    def open(self) -> None:
        self._ensure_directory()

    def close(self) -> None:
        pass

    def send(self, message: EmailMessage) -> str:
        message_id = _ensure_message_id(message, _domain_of(message.get("From")))
        self._ensure_directory()
        try:
            data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        except (ValueError, LookupError) as exc:
            raise DeliveryError(f"Cannot serialise the message: {exc}") from exc
        target = self.directory / _file_name(message, message_id)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".eml.tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise DeliveryError(f"Cannot write {target.name}: {exc}") from exc
        return message_id

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportUnavailable(
                f"Cannot create the outbox directory {self.directory}: {exc}"
            ) from exc


def _file_name(message: EmailMessage, message_id: str) -> str:
    stamp = "undated"
    date_header = message.get("Date")
    if date_header is not None:
        try:
            sent = parsedate_to_datetime(str(date_header))
            if sent.tzinfo is not None:
                sent = sent.astimezone(UTC)
            stamp = sent.strftime("%Y%m%dT%H%M%SZ")
        except (TypeError, ValueError):
            pass
    invoice = str(message.get(INVOICE_HEADER) or "message")
    parts = (stamp, invoice, message_id.strip("<> "))
    return "-".join(_UNSAFE_FILENAME.sub("_", part).strip("._") or "_" for part in parts) + ".eml"


# -- choice ----------------------------------------------------------------------------


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when ``BILLCYCLE_SMTP_URL`` is set, else the outbox directory."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return OutboxMailer(settings.outbox_dir)
