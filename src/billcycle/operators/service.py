"""Creating, listing, revoking and checking operator keys.

An operator key reads ``bco_<key id>_<secret>``. Its prefix differs from a tenant API
key's (``bc_``), so no tenant credential can even be mistaken for one; revoking a key
deletes it, and the next request made with it is refused.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billcycle.clock import Clock
from billcycle.errors import InvalidValue, NotAuthenticated, NotFound, RuleViolation
from billcycle.operators import repository
from billcycle.operators.models import OperatorKey
from billcycle.tenancy import credentials

PREFIX = "bco"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class NewOperatorKey:
    name: str
    key: str


def _new_key() -> tuple[str, str, str]:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}_{key_id}_{secret}", key_id, secret


def key_prefix(key: OperatorKey) -> str:
    """The public start of the key: tells keys apart, useless to sign in with."""
    return f"{PREFIX}_{key.key_id}_"


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 16:
        return None
    return parts[1], parts[2]


def create_operator_key(session: Session, clock: Clock, name: str) -> NewOperatorKey:
    """The key is returned once; only its digest is kept."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidValue(
            "An operator name is 1 to 64 letters, digits or . _ @ - and starts with a "
            "letter or digit.",
            field="name",
        )
    if repository.find_by_name(session, name) is not None:
        raise RuleViolation(f"An operator key named {name!r} already exists.", field="name")
    key, key_id, secret = _new_key()
    repository.add_operator_key(
        session,
        OperatorKey(
            name=name,
            key_id=key_id,
            secret_digest=credentials.digest(secret),
            created_at=clock.now(),
        ),
    )
    return NewOperatorKey(name=name, key=key)


def list_operator_keys(session: Session) -> Sequence[OperatorKey]:
    return repository.list_operator_keys(session)


def revoke_operator_key(session: Session, name: str) -> None:
    key = repository.find_by_name(session, name.strip())
    if key is None:
        raise NotFound(f"No operator key is named {name!r}.")
    repository.delete_operator_key(session, key.id)


def authenticate_operator(session: Session, key: str) -> OperatorKey:
    parts = _split(key)
    record = repository.find_by_key_id(session, parts[0]) if parts else None
    # Compare even when the key is unknown, so timing does not reveal which ids exist.
    stored = record.secret_digest if record else credentials.digest("\0unknown")
    secret = parts[1] if parts else ""
    if not credentials.matches(secret, stored) or record is None:
        raise NotAuthenticated("The operator key is missing, malformed, unknown or revoked.")
    return record
