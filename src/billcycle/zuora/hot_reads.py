"""Hot reads answered before routing: ``GET /zuora/v1/bill-runs/{id}``.

It is what clients poll while a run works. Through the application it paid, per request,
the root router and the ``/zuora`` mount, the Zuora app's own middleware (error
containment, request-body limit, the dialect's protocol, rate-limit headers, audit,
``Idempotency-Key``: each a wrapper around ``send``), FastAPI's router over every route
and its dependency solving, and a second database round trip for the token's client
generation (docs/benchmarks.md, "Protocol: one round trip per hot GET (session 3)").

:class:`HotReadsFront` sits in the root app just inside the layers every request passes
(observability, head limits, the body guard, gzip: they still apply, unchanged) and
answers these paths itself, with the functions the route and the middleware it skips
use: the same protocol headers (:func:`billcycle.zuora.protocol.protocol_headers`), the
same authentication (:func:`billcycle.zuora.deps.zuora_units`, which counts the rate
limit and notes the caller), the same view and serialiser, the same error envelope, the
same rate-limit headers. The database sees ONE statement: the run with the client's
generation folded in (``billruns.repository.run_view(client=...)``; a stale token is
still refused before anything is shown), on a DB-API connection of ``db.direct`` (no
ORM ``Session``); on a database server (PostgreSQL) the reads of the GETs a process has
waiting go together, as ONE statement sent by the event loop itself on an async
connection (``db.direct.ReadBatches``, ``billruns.repository.run_views_direct``: one round
trip and no thread hand-off for many GETs),
each row then checked for its own request's token. The answer is a function of that row
alone, so the bytes built from a row are kept and answered again while the run's row reads
the same (docs/benchmarks.md, "GET bill run latency, fifth round"). The bytes on the wire
are the route's (tests/protocol/test_hot_reads.py compares them). Anything else (another
method, a query string, a bad ``Zuora-Track-Id`` or ``Zuora-Version``, another path) goes
the ordinary way.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from billcycle.billruns import service as bill_runs_service
from billcycle.billruns.service import BillRunKey
from billcycle.db.direct import DirectReads, ReadBatches, direct_reads
from billcycle.errors import DomainError
from billcycle.ids import parse_zuora_id
from billcycle.web.ratelimit import rate_headers
from billcycle.web.responses import json_response
from billcycle.zuora.errors import domain_error_response
from billcycle.zuora.hot_scope import (
    MOUNT,
    answer_unhandled,
    as_routed,
    caller_units,
    route_of,
)
from billcycle.zuora.protocol import protocol_headers
from billcycle.zuora.routes import bill_runs
from billcycle.zuora.routes.bill_runs import bill_run_view
from billcycle.zuora.schemas.bill_runs import bill_run_body

log = logging.getLogger(__name__)

PREFIX = f"{MOUNT}/v1/bill-runs/"
TEMPLATE = "/v1/bill-runs/{bill_run_id}"
# Answers kept per process, by (tenant, run): past this many, all are dropped at once.
KEPT_ANSWERS = 1024
# On a database server, the reads of GETs that come together go as one statement, one
# round trip, on the event loop (db.direct.ReadBatches): BATCHES names them.
BATCHES = "billruns.view"
# Batches out at once an event loop (each on its own connection): with one,
# a process's GETs all waited on a round trip that a loaded machine delayed (~900 GETs/s
# against ~1,600-1,900 with two, same CPU a GET; four added backend CPU and no GETs).
BATCH_READERS = 2


def _batches(reads: DirectReads) -> ReadBatches[BillRunKey, Any]:
    return ReadBatches(reads, bill_runs_service.unchecked_bill_run_rows, running=BATCH_READERS)


def hot_shaped(path: str) -> bool:
    """Whether a GET of ``path`` (no query string) may be a hot read: the app's root lets
    it skip FastAPI's own wrappers (``web.app``); :class:`HotReadsFront` decides."""
    if path.startswith(PREFIX):
        key = path[len(PREFIX) :]
        return bool(key) and "/" not in key
    return False


class HotReadsFront:
    def __init__(self, app: ASGIApp, *, zuora: FastAPI) -> None:
        self.app = app
        self.zuora = zuora
        self.route = route_of(bill_runs.router, TEMPLATE, "GET")
        # (tenant, run) -> (the database row it was built from, body, headers): the answer
        # is a function of the row alone, so an equal row answers the same bytes without
        # building them again (a polled run changes a few times a minute, polls many
        # times a second). The row is read on every request, so nothing is ever stale.
        self._answers: dict[tuple[int, int], tuple[Any, bytes, list[tuple[bytes, bytes]]]] = {}

    @staticmethod
    def engine(scope: Scope) -> Engine:
        engine: Engine = scope["app"].state.runtime.engine
        return engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            path: str = scope["path"]
            if path.startswith(PREFIX) and scope.get("root_path", "") == "":
                key = path[len(PREFIX) :]
                if key and "/" not in key:
                    extra, problem = protocol_headers(scope)
                    if problem is None:
                        await self._answer(scope, receive, send, key, extra)
                        return
        await self.app(scope, receive, send)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        as_routed(scope, self.zuora, self.route, {"bill_run_id": key})
        request = Request(scope, receive)
        response: Response
        try:
            work = await caller_units(request)
            run_id = parse_zuora_id(key)
            client = work.client
            if run_id is not None and client is not None:
                tenant_id = work.tenant_id
                reads = direct_reads(self.engine(scope))
                if reads.dialect_name == "sqlite":  # from this process, in microseconds
                    raw = bill_runs_service.bill_run_row(reads, tenant_id, run_id, client)
                else:
                    batches: ReadBatches[BillRunKey, Any] = reads.batches(BATCHES, _batches)
                    raw = bill_runs_service.checked_bill_run_row(
                        reads, await batches.read((tenant_id, run_id, client)), client
                    )
                if raw is not None:
                    await self._send_row(scope, send, (tenant_id, run_id), raw, extra)
                    return
            # By number, or no such run: the token check on its own, then the answer.
            body: dict[str, Any] = await work.read_off_loop(
                lambda ctx, client: bill_run_view(ctx, key, client)
            )
            response = json_response(body)
        except DomainError as exc:
            response = domain_error_response(request, exc)
        except Exception:
            await answer_unhandled(request, receive, send, log)
            raise
        status = response.status_code
        headers = response.raw_headers + rate_headers(scope["state"], status) + extra
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})

    async def _send_row(
        self,
        scope: Scope,
        send: Send,
        key: tuple[int, int],
        raw: Any,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        known = self._answers.get(key)
        reads = direct_reads(self.engine(scope))
        if known is not None and bill_runs_service.same_bill_run_rows(reads, known[0], raw):
            _, content, headers = known
        else:
            view = bill_runs_service.bill_run_row_view(reads, raw)
            response = json_response(
                {**bill_run_body(view.run, view.totals, view.failures), "success": True}
            )
            content, headers = bytes(response.body), list(response.raw_headers)
            if len(self._answers) >= KEPT_ANSWERS:
                self._answers.clear()
            self._answers[key] = (raw, content, headers)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": headers + rate_headers(scope["state"], 200) + extra,
            }
        )
        await send({"type": "http.response.body", "body": content, "more_body": False})
