"""Rate limits at the HTTP edge: the check a dialect's authentication dependency makes
once it knows the tenant and credential, and the headers every answer then carries.

Zuora's headers (IETF draft "RateLimit header fields for HTTP"): ``RateLimit-Limit``
(requests a minute), ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the
window ends); a refused request answers 429 with ``Retry-After``. The Fusebill dialect
answers the same headers (Fusebill documents none of its own) in its own envelope.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.errors import OverLimit
from billcycle.ratelimits.counter import Decision
from billcycle.ratelimits.service import RateLimiter

_STATE = "billcycle_rate"


def check_rate(request: Request, tenant_id: int, credential: str) -> None:
    """Count this request; raise OverLimit (429) past the tenant's or credential's limit."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    decision = limiter.check(tenant_id, credential)
    request.state.billcycle_rate = decision
    if not decision.allowed:
        raise OverLimit(
            f"Too many requests: the limit of {decision.limit} requests a minute is reached;"
            f" retry in {decision.reset} seconds."
        )


def _headers(decision: Decision, status: int) -> list[tuple[bytes, bytes]]:
    if decision.limit <= 0:
        return []
    headers = [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(decision.reset).encode()),
    ]
    if status == 429 or not decision.allowed:
        headers.append((b"retry-after", str(decision.reset).encode()))
    return headers


def rate_headers(state: dict[str, object], status: int) -> list[tuple[bytes, bytes]]:
    """The headers an answer of ``status`` carries for the request whose state this is."""
    decision = state.get(_STATE)
    return _headers(decision, status) if isinstance(decision, Decision) else []


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = rate_headers(state, int(message["status"]))
                if extra:
                    message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, add_headers)
