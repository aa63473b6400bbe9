"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Headers ``webhook-id`` (the event's id, the same on every attempt), ``webhook-timestamp``
(seconds since the epoch, at the attempt) and ``webhook-signature``: ``v1,`` + base64 of
HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed with the secret's bytes. Secrets are
``whsec_`` + base64 of at least 24 random bytes, as the reference libraries expect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from billcycle.errors import InvalidValue

PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
NEW_SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(NEW_SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX), validate=True)


def check_secret(secret: str) -> str:
    """``secret`` as stored (``whsec_`` + base64), or InvalidValue."""
    try:
        raw = secret_bytes(secret.strip())
    except (binascii.Error, ValueError):
        raise InvalidValue(
            "The secret must be 'whsec_' followed by base64 (as Standard Webhooks secrets are).",
            resource="webhook_endpoint",
            field="secret",
        ) from None
    if len(raw) < MIN_SECRET_BYTES:
        raise InvalidValue(
            f"The secret is {len(raw)} bytes: at least {MIN_SECRET_BYTES} are required.",
            resource="webhook_endpoint",
            field="secret",
        )
    return PREFIX + base64.b64encode(raw).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = secret_bytes(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "billcycle-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
