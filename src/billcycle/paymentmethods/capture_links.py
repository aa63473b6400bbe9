"""Signed, expiring links to the hosted card page: how a customer gives billcycle a card
without the card number ever passing through a client's API call.

A link names one tenant's account and an expiry, signed with a key derived from the
installation's signing key (``BILLCYCLE_SECRET_KEY`` or the key kept in the database),
so any server sharing the database accepts it, and it can never be mistaken for an
access token (a different key and audience). Expiry is machine time: a business test
clock moving by months must not revive or expire a link.

Tenant: the link carries its tenant; reading it is how the page finds the tenant.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.errors import NotAuthenticated

_ALGORITHM = "HS256"
_AUDIENCE = "billcycle:card-capture"
_CONTEXT = b"billcycle card-capture link v1"

# A link in a failed-payment email stays usable for a week by default.
DEFAULT_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class CaptureClaims:
    tenant_id: int
    account_id: int
    expires_at: datetime


def link_key(signing_key: str) -> bytes:
    """The links' own key: an HMAC of the installation's signing key, so a leaked link
    key signs no access token and the other way round."""
    return hmac.new(signing_key.encode(), _CONTEXT, hashlib.sha256).digest()


def issue(
    signing_key: str,
    *,
    tenant_id: int,
    account_id: int,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    expires = now + ttl
    return jwt.encode(
        {
            "aud": _AUDIENCE,
            "tid": tenant_id,
            "acc": account_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        },
        link_key(signing_key),
        algorithm=_ALGORITHM,
    )


def read(signing_key: str, token: str, now: datetime) -> CaptureClaims:
    """The link's tenant and account; ``NotAuthenticated`` for a forged, altered or
    expired link (the page says which, without saying more)."""
    try:
        claims = jwt.decode(
            token,
            link_key(signing_key),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"verify_exp": False, "require": ["exp", "tid", "acc", "aud"]},
        )
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated("This card link is not valid.") from exc
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    if expires <= now:
        raise NotAuthenticated("This card link has expired: ask for a new one.")
    return CaptureClaims(
        tenant_id=int(claims["tid"]), account_id=int(claims["acc"]), expires_at=expires
    )


@dataclass(frozen=True, slots=True)
class CardLink:
    url: str
    expires_at: datetime


def card_link(
    ctx: ServiceContext,
    account_id: int,
    *,
    signing_key: str,
    public_url: str,
    ttl: timedelta = DEFAULT_TTL,
) -> CardLink:
    """A link to the card page of one of the tenant's accounts (another tenant's account
    is not found), for an operator to send or a failed-payment email to carry."""
    account = accounts.require_account(ctx, account_id)
    now = ctx.machine_clock.now()
    token = issue(signing_key, tenant_id=ctx.tenant_id, account_id=account.id, now=now, ttl=ttl)
    return CardLink(url=public_url.rstrip("/") + page_path(token), expires_at=now + ttl)


def page_path(token: str) -> str:
    """Where the hosted card page answers for ``token`` (below the server's public URL)."""
    return f"/pay/card/{token}"
