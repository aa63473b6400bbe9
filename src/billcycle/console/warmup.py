"""Warming up PDF rendering when a server starts.

The first invoice PDF a process renders pays WeasyPrint's and fontconfig's start-up
(loading the libraries, scanning and caching the fonts): about 3 s on the benchmark
machine against ~120 ms of CPU for each later one (docs/benchmarks.md, "Invoice PDFs").
A server renders one small page in the invoice template's fonts on a background thread
as it starts, so the first person who downloads an invoice does not wait for it. Tests
and the CLI never call this: they build apps without serving them.
"""

from __future__ import annotations

import logging
import threading
import time

from billcycle.documents.rendering import html_to_pdf

log = logging.getLogger(__name__)

# The default invoice template's fonts, a table and page rules: what a first render loads.
_PAGE = """<!doctype html><html><head><style>
@page { size: A4; margin: 18mm; @bottom-right { content: "Page " counter(page) } }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; }
th { font-weight: bold; text-align: left; }
</style></head><body><h1>Invoice INV00000000</h1>
<table><tr><th>Item</th><th>Amount</th></tr><tr><td>Warm-up</td><td>$0.00</td></tr></table>
</body></html>"""


def warm_up_pdf() -> float:
    """Render one small PDF now; the seconds it took."""
    started = time.perf_counter()
    html_to_pdf(_PAGE)
    return time.perf_counter() - started


def _run() -> None:
    try:
        seconds = warm_up_pdf()
    except Exception:  # a server without a working PDF stack still serves everything else
        log.exception("PDF warm-up failed; the first invoice PDF will pay the start-up")
        return
    log.info("PDF rendering warmed up in %.2f s", seconds)


def start_pdf_warm_up() -> threading.Thread:
    """Warm up on a daemon thread (the server answers meanwhile)."""
    thread = threading.Thread(target=_run, name="billcycle-pdf-warm-up", daemon=True)
    thread.start()
    return thread
