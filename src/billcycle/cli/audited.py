"""Every ``billcycle`` command that changes data leaves a row in the audit log.

One mechanism for all commands, present and future: the top-level command group
(:class:`billcycle.cli.common.BillcycleGroup`) runs each command inside :func:`audited`.
Commands need do nothing: opening the database (``settings_with``) notes which one, and
resolving ``--tenant`` (``tenant_id_of``) notes the tenant; a command that acts on a
tenant it finds another way names it with :func:`note_tenant`. When the command ends,
one event is written per tenant it acted on (actor ``cli:<OS user>``, action the command
path such as ``bill-run create``, its arguments as object ids, outcome ``ok`` or the exit
status). A command that changed data without naming a tenant (``db restore``, ``operator
create``, ``audit purge``) acted on the whole installation and is written to every
tenant's log. Commands that only read are listed in :data:`READ_ONLY`; anything not
listed (a new command too) is recorded.

A command that fails records its attempt with its exit status in the tenant it named:
a command names its tenant as soon as it knows it, before it acts. One that fails
BEFORE it knows any tenant (an unknown ``--tenant`` or client id, a bad argument) is
not recorded: it did nothing, and no tenant's log can hold it (the log is per tenant,
and an unknown name may be another tenant's or none). That is how the HTTP dialects
treat a request refused before its tenant is known, how Kill Bill writes its audit
log (rows written in the transaction of the change they describe, so an attempt that
changed nothing leaves none) and how Zuora keeps its audit trail (changes to a
tenant's data and settings; failed sign-ins go to a separate login history, which
billcycle does not have: the CLI runs with the database's own credentials).
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from billcycle.audit import service as audit
from billcycle.config import Settings
from billcycle.db.session import unit_of_work
from billcycle.runtime import build_runtime

log = logging.getLogger(__name__)

# Commands (paths below ``billcycle``) that change no data: not recorded.
READ_ONLY = frozenset(
    {
        "serve",
        "worker",
        "db check",
        "db revision",
        "db backup",
        "tenant invoice-template show",
        "tenant invoice-template source",
        "tenant invoice-template render",
        "operator list",
        "bill-run show",
        "bill-run list",
        "bulk-job show",
        "gateway list",
        "collections show",
        "payment-run show",
        "payment-run list",
        "clock show",
        "org list",
        "audit list",
        "usage uom list",
        "webhook list",
        "webhook deliveries",
    }
)
# Whole groups that change no tenant's data (benchmarks build their own databases).
READ_ONLY_GROUPS = frozenset({"bench"})


@dataclass
class CliCall:
    path: str = ""
    arguments: list[str] = field(default_factory=list)
    settings: Settings | None = None
    tenant_ids: list[int] = field(default_factory=list)


_call: ContextVar[CliCall | None] = ContextVar("billcycle_cli_call", default=None)


def cli_actor() -> str:
    """``cli:<operating-system user>`` (BILLCYCLE_ACTOR overrides it, e.g. in scripts)."""
    named = os.environ.get("BILLCYCLE_ACTOR")
    if named:
        return f"cli:{named}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def changes_state(path: str) -> bool:
    return path not in READ_ONLY and path.split(" ", 1)[0] not in READ_ONLY_GROUPS


def note_database(settings: Settings, command: Any | None) -> None:
    """The command works on ``settings``' database; ``command`` is its click context."""
    call = _call.get()
    if call is None:
        return
    call.settings = settings
    if command is not None and not call.path:
        path = command.command_path.split(" ", 1)
        call.path = path[1] if len(path) > 1 else path[0]
        call.arguments = [
            str(command.params[param.name])
            for param in command.command.params
            if type(param).__name__.endswith("Argument")
            and param.name is not None
            and command.params.get(param.name) is not None
        ]


def note_tenant(tenant_id: int) -> None:
    """The command acts on ``tenant_id`` (``tenant_id_of`` notes it by itself)."""
    call = _call.get()
    if call is not None and tenant_id not in call.tenant_ids:
        call.tenant_ids.append(tenant_id)


@contextmanager
def audited() -> Iterator[None]:
    """Run a command; afterwards record it if it changes data (see the module doc)."""
    call = CliCall()
    token = _call.set(call)
    outcome = "ok"
    try:
        yield
    except SystemExit as exc:
        outcome = "ok" if exc.code in (0, None) else f"exit {exc.code}"
        raise
    except BaseException as exc:
        code = getattr(exc, "exit_code", None)
        outcome = "ok" if code == 0 else f"exit {code}" if code is not None else "error"
        raise
    finally:
        _call.reset(token)
        if call.settings is not None and call.path and changes_state(call.path):
            _record(call, outcome)


def _record(call: CliCall, outcome: str) -> None:
    assert call.settings is not None
    if not call.tenant_ids and outcome != "ok":
        # Failed before it named a tenant (see the module doc): nothing was done.
        return
    runtime = None
    try:
        runtime = build_runtime(call.settings)
        with unit_of_work(runtime.session_factory) as session:
            every = audit.every_tenant(session)
            # A tenant named by id that does not exist has no log to hold the event.
            tenant_ids = [t for t in call.tenant_ids if t in set(every)] or (
                [] if call.tenant_ids else every
            )
            now = runtime.machine_clock.now()
            for tenant_id in tenant_ids:
                audit.record(
                    session,
                    tenant_id,
                    cli_actor(),
                    call.path,
                    None,
                    None,
                    call.arguments,
                    outcome,
                    None,
                    None,
                    occurred_at=now,
                )
    except SQLAlchemyError as exc:  # e.g. a schema restored from before the audit log
        log.warning("billcycle: the audit log could not record %r: %s", call.path, exc)
    finally:
        if runtime is not None:
            runtime.dispose()
