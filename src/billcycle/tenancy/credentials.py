"""Credential material. Secrets are random and high-entropy, so a SHA-256 digest is a
sound way to keep them (unlike passwords, they need no slow hash), and it keeps
per-request API-key checks cheap. Digests are compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_client_id() -> str:
    """36 characters in UUID form, as zuora-sdk expects."""
    return str(uuid.uuid4())


def new_client_secret() -> str:
    """At most 42 characters (zuora-sdk's limit): 40 url-safe characters."""
    return secrets.token_urlsafe(30)


def new_api_key() -> tuple[str, str, str]:
    """Returns (full key, key id, secret part). The key id is looked up, the secret
    part compared against its digest."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(24)
    return f"bc_{key_id}_{secret}", key_id, secret


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "bc" or len(parts[1]) != 16:
        return None
    return parts[1], parts[2]


def api_key_prefix(key_id: str) -> str:
    """The public start of an API key: enough to tell keys apart, useless to sign in."""
    return f"bc_{key_id}_"
