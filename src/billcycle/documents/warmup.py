"""Warming up PDF rendering when a server starts.

The first invoice PDF a process renders pays WeasyPrint's and fontconfig's start-up
(loading the libraries, scanning and caching the fonts): about 3 s on the benchmark
machine against ~120 ms of CPU for each later one (docs/benchmarks.md, "Invoice PDFs").
A server renders one small page in the invoice template's fonts on a background thread
as it starts, so the first person who downloads an invoice does not wait for it. Tests
and the CLI never call this: they build apps without serving them.

Until the warm-up has finished the process reports itself not ready (``/readyz``): the
render holds the interpreter for most of a second and leaves its libraries' objects for
the garbage collector, so requests served meanwhile wait behind it (a p99 of 0.7-1.5 s in
the first seconds of ``bench http``). Once done, what it loaded is frozen out of the
collector's reach like the rest of the start-up (``web.app.freeze_startup_objects``).
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from billcycle.documents import view
from billcycle.documents.rendering import compile_template, html_to_pdf, render_html

log = logging.getLogger(__name__)

_started = threading.Event()
_finished = threading.Event()


def warm_up_pdf() -> float:
    """Render the default invoice template's sample invoice (the one a template upload is
    checked against) to PDF now; the seconds it took. A smaller page of the same fonts
    was tried first and left the first real invoice as slow: the template's own fonts,
    styles and page rules are what the start-up loads."""
    started = time.perf_counter()
    template = compile_template(None)
    html = render_html(template, view.context(view.sample_facts(), view.locale_named(None)))
    html_to_pdf(html)
    return time.perf_counter() - started


def pending() -> bool:
    """A warm-up was started in this process and has not finished (readiness)."""
    return _started.is_set() and not _finished.is_set()


def _run() -> None:
    try:
        seconds = warm_up_pdf()
    except Exception:  # a server without a working PDF stack still serves everything else
        log.exception("PDF warm-up failed; the first invoice PDF will pay the start-up")
    else:
        log.info("PDF rendering warmed up in %.2f s", seconds)
    finally:
        gc.collect()
        gc.freeze()
        _finished.set()


def start_pdf_warm_up() -> threading.Thread:
    """Warm up on a daemon thread (the server answers meanwhile)."""
    _started.set()
    thread = threading.Thread(target=_run, name="billcycle-pdf-warm-up", daemon=True)
    thread.start()
    return thread
