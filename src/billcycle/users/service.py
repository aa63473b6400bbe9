"""Creating console users, granting them tenants, and checking a sign-in.

A password is chosen by the person (read from stdin by the CLI) or generated once and
shown once; only its argon2id hash is kept. A sign-in with an unknown email costs the
same hash check as one with a wrong password, so timing does not reveal which emails exist.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from billcycle.clock import Clock
from billcycle.errors import InvalidValue, NotAuthenticated, NotFound, RuleViolation
from billcycle.tenancy import repository as tenants
from billcycle.users import repository
from billcycle.users.models import ConsoleGrant, ConsoleUser
from billcycle.users.roles import Role

MIN_PASSWORD = 12
MAX_PASSWORD = 512
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")
_HASHER = PasswordHasher()
# Verified against when the email is unknown: the same work as a real check.
_DUMMY_HASH = _HASHER.hash("billcycle: no such user")


@dataclass(frozen=True)
class Grant:
    tenant_id: int
    tenant_name: str
    role: Role


@dataclass(frozen=True)
class CreatedUser:
    user_id: int
    email: str
    tenant_id: int
    role: Role
    password: str | None  # the generated one-time password, shown once; None if chosen
    new_user: bool


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidValue(f"{email!r} is not an email address.", field="email")
    return email


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidValue(
            f"A role is one of {', '.join(r.value for r in Role)}; {text!r} is not.", field="role"
        ) from None


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidValue(f"A password has at least {MIN_PASSWORD} characters.", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidValue(f"A password has at most {MAX_PASSWORD} characters.", field="password")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def create_user(
    session: Session,
    clock: Clock,
    *,
    tenant_id: int,
    email: str,
    role: Role,
    password: str | None = None,
) -> CreatedUser:
    """Grants ``role`` in the tenant to the user with this email, creating the user if
    there is none (with ``password``, else a generated one returned once). An existing
    user keeps its password unless ``password`` is given."""
    email = normalize_email(email)
    if tenants.get_tenant(session, tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} not found.", resource="tenant")
    chosen = _check_password(password) if password is not None else None
    now = clock.now()
    user = repository.find_by_email(session, email)
    shown: str | None = None
    new_user = user is None
    if user is None:
        if chosen is None:
            chosen = shown = generate_password()
        user = repository.add_user(
            session,
            ConsoleUser(
                email=email,
                password_hash=_HASHER.hash(chosen),
                created_at=now,
                password_changed_at=now,
            ),
        )
    elif chosen is not None:
        user.password_hash = _HASHER.hash(chosen)
        user.password_changed_at = now
    if repository.grant_of(session, user.id, tenant_id) is not None:
        raise RuleViolation(f"{email} already has a role in tenant {tenant_id}.", field="email")
    repository.add_grant(
        session, ConsoleGrant(user_id=user.id, tenant_id=tenant_id, role=role, created_at=now)
    )
    session.flush()
    return CreatedUser(user.id, email, tenant_id, role, shown, new_user)


def ensure_user(
    session: Session, clock: Clock, *, tenant_id: int, email: str, role: Role, password: str
) -> None:
    """The user exists with this password and role in the tenant (the demo's user)."""
    email = normalize_email(email)
    user = repository.find_by_email(session, email)
    if user is None or not verify_password(user, password):
        if user is None:
            create_user(
                session, clock, tenant_id=tenant_id, email=email, role=role, password=password
            )
            return
        user.password_hash = _HASHER.hash(_check_password(password))
        user.password_changed_at = clock.now()
    if repository.grant_of(session, user.id, tenant_id) is None:
        repository.add_grant(
            session,
            ConsoleGrant(user_id=user.id, tenant_id=tenant_id, role=role, created_at=clock.now()),
        )
    session.flush()


def verify_password(user: ConsoleUser, password: str) -> bool:
    try:
        return _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str) -> ConsoleUser:
    """The user whose email and password these are, or ``NotAuthenticated``."""
    user = repository.find_by_email(session, email.strip().lower())
    if user is None:
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_DUMMY_HASH, password[:MAX_PASSWORD] or "x")
        raise NotAuthenticated("The email or password is wrong.")
    if len(password) > MAX_PASSWORD or not verify_password(user, password):
        raise NotAuthenticated("The email or password is wrong.")
    return user


def get_user(session: Session, user_id: int) -> ConsoleUser | None:
    return repository.get_user(session, user_id)


def grants(session: Session, user_id: int) -> list[Grant]:
    """The tenants granted to the user, by tenant name."""
    return [Grant(t, n, Role(r)) for t, n, r in repository.grants_with_names(session, user_id)]
