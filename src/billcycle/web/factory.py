"""The app factory behind ``billcycle serve --workers N`` (uvicorn ``--factory``): each
server process builds its runtime from ``BILLCYCLE_*`` and runs its background work as a
single ``billcycle serve`` would, for the life of the process."""

from __future__ import annotations

import atexit
from contextlib import ExitStack

from starlette.types import ASGIApp

from billcycle import logs, metrics
from billcycle.cli.common import runtime_for
from billcycle.cli.serve import background
from billcycle.web.app import create_app as create_web_app
from billcycle.web.app import for_server, freeze_startup_objects


def create_app() -> ASGIApp:
    runtime = runtime_for(None)
    logs.configure(runtime.settings.log_format, runtime.settings.log_level)
    # This process's live gauges (pool use) leave the multiprocess sums when it exits.
    atexit.register(metrics.mark_process_dead)
    # The app first: it registers its engine listeners before the background threads
    # run statements through them (see web.units.prepare_writers).
    app = create_web_app(runtime)
    stack = ExitStack()
    stack.enter_context(background(runtime))
    atexit.register(stack.close)
    freeze_startup_objects()
    return for_server(app)
