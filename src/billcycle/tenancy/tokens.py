"""Stateless OAuth access tokens (HS256 JWTs).

Any server or worker that shares the database can verify a token without a lookup:
the signing key is BILLCYCLE_SECRET_KEY or, when unset, a random key generated once
and kept in the database.

A client sends the same token on every request until it expires, and checking its
signature costs more than the rest of a small read (~30 µs of CPU), so each signer
remembers the tokens it has verified, with their expiry: a remembered token is still
refused once the (injectable) machine clock passes its ``exp``, and a token that fails
verification is never remembered.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billcycle.db.session import unit_of_work
from billcycle.errors import NotAuthenticated
from billcycle.tenancy import repository

_ALGORITHM = "HS256"
_ISSUER = "billcycle"


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int
    jti: str
    scope: str


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: int
    client_id: str
    # Every entity (tenant) the token may act in, its own first (multi-entity), and per
    # entity the organizations it is limited to (an entity missing: all of them).
    entities: tuple[int, ...] = ()
    orgs: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # The client's generation when the token was issued (0: a token without one, which
    # no live client matches).
    generation: int = 0

    @property
    def all_entities(self) -> tuple[int, ...]:
        return self.entities or (self.tenant_id,)


# Verified tokens kept per signer; past this many the oldest are forgotten (a client
# that fetches a token per request must not grow the cache without bound).
VERIFIED_CACHE_SIZE = 4096


class TokenSigner:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self._ttl = ttl_seconds
        # token -> (claims, exp as a POSIX timestamp). Plain dict operations are atomic
        # under the GIL, which is all the sharing between request threads needs.
        self._verified: dict[str, tuple[TokenClaims, int]] = {}

    def issue(
        self,
        tenant_id: int,
        client_id: str,
        now: datetime,
        generation: int = 1,
        *,
        entities: tuple[int, ...] = (),
        orgs: dict[int, tuple[int, ...]] | None = None,
    ) -> AccessToken:
        jti = uuid.uuid4().hex
        granted = entities or (tenant_id,)
        scope = " ".join(f"entity.{tid:032x}" for tid in granted)
        scope += " platform.write service.usage.write"
        payload: dict[str, object] = {
            "iss": _ISSUER,
            "sub": client_id,
            "tid": tenant_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self._ttl)).timestamp()),
            "jti": jti,
            "gen": generation,
        }
        if len(granted) > 1:
            payload["ents"] = list(granted)
        if orgs:
            payload["orgs"] = {str(tid): list(ids) for tid, ids in orgs.items()}
        token = jwt.encode(payload, self._key, algorithm=_ALGORITHM)
        return AccessToken(token=token, expires_in=self._ttl, jti=jti, scope=scope)

    def verify(self, token: str, now: datetime) -> TokenClaims:
        known = self._verified.get(token)
        if known is not None:
            claims, expires = known
            if expires <= int(now.timestamp()):
                self._verified.pop(token, None)
                raise NotAuthenticated("Authentication error: the access token has expired.")
            return claims
        claims, expires = self._decode(token, now)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            # Another thread may change the cache meanwhile: it is only a cache.
            with suppress(KeyError, StopIteration, RuntimeError):
                del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, expires)
        return claims

    def _decode(self, token: str, now: datetime) -> tuple[TokenClaims, int]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"verify_exp": False, "require": ["exp", "tid", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise NotAuthenticated("Authentication error: invalid access token.") from exc
        # Expiry is checked against the injectable machine clock, not the OS clock (and
        # never a tenant's business clock, which a test clock may move by months).
        expires = int(claims["exp"])
        if expires <= int(now.timestamp()):
            raise NotAuthenticated("Authentication error: the access token has expired.")
        try:
            entities = tuple(int(tid) for tid in claims.get("ents", ()))
            orgs = {
                int(tid): tuple(int(org) for org in ids)
                for tid, ids in dict(claims.get("orgs", {})).items()
            }
        except (TypeError, ValueError) as exc:
            raise NotAuthenticated("Authentication error: invalid access token.") from exc
        generation = claims.get("gen", 0)
        return (
            TokenClaims(
                tenant_id=int(claims["tid"]),
                client_id=str(claims["sub"]),
                entities=entities,
                orgs=orgs,
                generation=generation if isinstance(generation, int) else 0,
            ),
            expires,
        )


def load_signing_key(factory: sessionmaker[Session], configured: str | None) -> str:
    if configured:
        return configured
    with unit_of_work(factory) as session:
        existing = repository.installation_secret(session)
    if existing:
        return existing
    try:
        with unit_of_work(factory) as session:
            repository.store_installation_secret(session, secrets.token_urlsafe(48))
    except IntegrityError:
        pass  # another process stored it first; use theirs
    with unit_of_work(factory) as session:
        stored = repository.installation_secret(session)
    assert stored is not None
    return stored
