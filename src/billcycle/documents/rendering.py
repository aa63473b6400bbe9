"""Templates to HTML (Jinja2, sandboxed) and HTML to PDF (WeasyPrint, in-process).

Every template, the packaged default and a tenant's own, runs in Jinja2's
``SandboxedEnvironment`` with autoescaping and strict undefined names: a tenant's
template can reach only the values it is given (no attributes of Python internals, no
imports), and a misspelt variable is an error at upload, not a blank on an invoice.

WeasyPrint fetches nothing: its ``url_fetcher`` serves ``data:`` URIs only and refuses
every other URL (``http(s)``, ``file``, ``ftp``...). A logo given as a path on the
server's disk is read by :mod:`billcycle.documents.service` and inlined as a ``data:``
URI before rendering, so a template (a tenant's, say) cannot make the server read a
file or call another host.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from billcycle.errors import InvalidValue

__all__ = [
    "DEFAULT_TEMPLATE_NAME",
    "MAX_TEMPLATE_CHARS",
    "compile_template",
    "default_template_source",
    "html_to_pdf",
    "render_html",
]

# WeasyPrint warns about every CSS property it ignores and every URL refused: noise in a
# server's log for each invoice; its errors still show.
logging.getLogger("weasyprint").setLevel(logging.ERROR)

DEFAULT_TEMPLATE_NAME = "invoice.html.j2"
MAX_TEMPLATE_CHARS = 200_000
_FIELD = "invoice_template"


class RefusedUrl(ValueError):
    """A URL an invoice document may not fetch."""


@cache
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def default_template_source() -> str:
    return (files("billcycle.documents") / "templates" / DEFAULT_TEMPLATE_NAME).read_text("utf-8")


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _environment().from_string(source)


def compile_template(source: str | None) -> Template:
    """The compiled template (the default for None); InvalidValue when it does not
    compile. Compiled templates are remembered by source."""
    if source is None:
        return _compiled(default_template_source())
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InvalidValue(
            f"invoice_template: the template has {len(source)} characters; at most "
            f"{MAX_TEMPLATE_CHARS} are allowed.",
            resource=_FIELD,
            field=_FIELD,
        )
    try:
        return _compiled(source)
    except TemplateError as exc:
        raise InvalidValue(
            f"invoice_template does not compile: {_describe(exc)}",
            resource=_FIELD,
            field=_FIELD,
        ) from exc


def render_html(template: Template, variables: dict[str, Any]) -> str:
    """The template rendered; InvalidValue when it fails (an unknown variable, a
    forbidden attribute, an error it raises)."""
    try:
        return template.render(variables)
    except TemplateError as exc:
        raise InvalidValue(
            f"invoice_template cannot be rendered: {_describe(exc)}",
            resource=_FIELD,
            field=_FIELD,
        ) from exc
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise InvalidValue(
            f"invoice_template cannot be rendered: {type(exc).__name__}: {exc}",
            resource=_FIELD,
            field=_FIELD,
        ) from exc


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{exc.message or type(exc).__name__}{where}"


@cache
def _fetcher_class() -> Any:
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """WeasyPrint's url_fetcher: ``data:`` URIs only, everything else refused."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.lower().startswith("data:"):
                raise RefusedUrl(f"invoice documents fetch no URLs: {url[:80]!r} refused")
            return super().fetch(url, headers)

    return DataOnlyFetcher


def url_fetcher() -> Any:
    """A new fetcher per document (a fetcher keeps per-request state)."""
    return _fetcher_class()(allowed_protocols=("data",), allow_redirects=False)


def html_to_pdf(html: str) -> bytes:
    """``html`` as PDF bytes. A refused URL (an image, a stylesheet) is left out of the
    page; WeasyPrint logs it as a warning."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, url_fetcher=url_fetcher(), base_url=None).write_pdf()
    return pdf
