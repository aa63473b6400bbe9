"""Structured logs (structlog): JSON lines in production, readable lines in a terminal.

``configure`` routes both structlog loggers and the standard library's (billcycle's own
modules, uvicorn, procrastinate, SQLAlchemy) through ONE chain of processors, which ends
with :func:`redact`: credentials, tokens, card numbers and API keys never reach a log
line, whatever logged them (a field, a message, an exception's text).

Per-request and per-job fields (request id, ``Zuora-Track-Id``, tenant, run and chunk
ids) are bound with :func:`bind` / ``structlog.contextvars`` and appear on every line
logged meanwhile.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

# A field whose name contains one of these is dropped whatever its value.
_SECRET_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "cookie",
    "signature",
    "card_number",
    "cardnumber",
    "card-number",
    "cvv",
    "cvc",
    "security_code",
    "securitycode",
    "pan",
    "credential",
)
# A field whose name is one of these is kept as is (it names a secret, it is not one).
_SAFE_KEYS = frozenset({"token_type", "expires_in", "event", "level", "logger", "timestamp"})

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# billcycle's API keys (bc_<id>_<secret>) and operator keys (bco_<id>_<secret>).
_API_KEY = re.compile(r"\bbco?_[0-9a-f]{16}_[A-Za-z0-9_-]+")
# key=value and "key": "value" pairs naming a secret inside free text (query strings,
# form bodies, reprs of dicts).
_PAIR = re.compile(
    r"(?i)(\b(?:client_secret|secret|password|token|access_token|refresh_token|api_?key|"
    r"card_?number|cvv|cvc|security_?code|authorization)\b[\"']?\s*[:=]\s*[\"']?)"
    r"([^\"'&\s,}]+)"
)
# SQLAlchemy appends a statement's bound parameters to its errors' text.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\(|$|\n))", re.DOTALL)
# 13 to 19 digits, maybe grouped by spaces or dashes: a card number when Luhn agrees.
# Not a run inside a longer word or dashed id (a UUID such as a track id holds digit runs
# that pass Luhn one time in ten): nothing alphanumeric, nor a dash and one, either side.
_ANY_DIGITS = re.compile(r"[0-9]{4}")
_DIGITS = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)(?:[0-9][ -]?){12,18}[0-9](?![0-9A-Za-z])(?!-[0-9A-Za-z])"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[card]" if _luhn(digits) else match.group(0)


def scrub(text: str) -> str:
    """``text`` without anything that looks like a credential or a card number."""
    if len(text) < 12:  # too short to hold a card number, a key or a token
        return text
    # Each pattern runs only where a cheap test says it could match: most log values
    # (ids, routes, statuses, messages) are scrubbed by a few substring tests.
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "bc_" in text or "bco_" in text:
        text = _API_KEY.sub(REDACTED, text)
    if "=" in text or ":" in text:
        text = _PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    if _ANY_DIGITS.search(text):
        text = _DIGITS.sub(_card, text)
    return text


@lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if lowered in _SAFE_KEYS:
        return False
    if lowered == "pan" or lowered.endswith("_pan"):
        return True
    return any(word in lowered for word in _SECRET_KEYS if word != "pan")


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 5:
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _is_secret_key(k) else _clean(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The last processor before rendering: drops secret fields, scrubs every string."""
    for key in list(event_dict):
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(event_dict[key])
    return event_dict


# The request id of the HTTP request this thread or task serves (set by the request
# middleware: a bare ContextVar, cheaper per request than structlog's bound variables).
REQUEST_ID: ContextVar[str | None] = ContextVar("billcycle_request_id", default=None)


def _add_request_id(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _drop_color_message(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    # uvicorn passes a colored copy of its message along; the plain one is enough.
    event_dict.pop("color_message", None)
    return event_dict


def wants_json(log_format: str | None, stream: TextIO | None = None) -> bool:
    """``json`` or ``console``; unset: readable in a terminal, JSON otherwise."""
    if log_format:
        return log_format.lower() == "json"
    stream = stream if stream is not None else sys.stderr
    return not (hasattr(stream, "isatty") and stream.isatty())


# structlog loggers hand their events to the standard library (fields as ``extra``), so
# ONE handler renders both kinds of line; until ``configure`` runs (tests, library use)
# they follow whatever logging setup the process has.
_TO_STDLIB: list[Any] = [
    structlog.stdlib.filter_by_level,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.stdlib.render_to_log_kwargs,
]
structlog.configure(
    processors=_TO_STDLIB,
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=False,
)


def formatter(log_format: str | None = None, stream: TextIO | None = None) -> logging.Formatter:
    """The formatter of billcycle's log lines: fields, then :func:`redact`, then JSON or
    readable text."""
    renderer: Any
    if wants_json(log_format, stream):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=bool(stream is None and sys.stderr.isatty()),
            exception_formatter=structlog.dev.plain_traceback,
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # A record's ``extra={...}`` fields (and a structlog event's) become fields.
            structlog.stdlib.ExtraAdder(),
            _drop_color_message,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before redaction, so what an exception says is
            # scrubbed too.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def configure(
    log_format: str | None = None, level: str = "info", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log line of this process (billcycle's, uvicorn's, procrastinate's)
    through billcycle's formatter to ``stream`` (stderr); returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(log_format, stream))
    handler.set_name("billcycle")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "procrastinate"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # billcycle logs one line per request itself (web.observability), with more in it.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.disabled = True
    # procrastinate logs every job at INFO; keep its warnings and errors.
    if logging.getLevelName(level.upper()) == logging.INFO:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    return handler


def get(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def bind(**fields: Any) -> None:
    structlog.contextvars.bind_contextvars(**fields)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields on every line logged in the block (this thread or task only)."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield
