"""Laying a report out: Markdown and HTML from the Jinja2 templates in ``templates/report``; PDF via HTML.

- ``report.html.j2`` (autoescaped) with ``report.css``: A4 print CSS for
  WeasyPrint (``@page`` size and margins, the page number
  ``counter(page) / counter(pages)`` and the report hash in the page footer),
  the timeline picture (:func:`kinkyu.reports.svg.phase_chart`) inline;
- ``report.md.j2``: the same sections as Markdown tables (every value escaped
  by the ``md`` filter); the picture's content is there as the phase table.

**The report hash** is the SHA-256 of :meth:`ReportModel.canonical_bytes`:
the canonical JSON of the model (sorted keys, no spaces, ASCII), which is
exactly what ``kinkyu report … --format json`` prints. The Markdown, HTML and
PDF of one model therefore carry the same hash, and a reviewer recomputes it
with ``kinkyu report … --format json --as-of <the report's time> | sha256sum``.

Templates never see anything but the model, which is already in one language
and already redacted for its kind.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import jinja2
from markupsafe import Markup

from kinkyu.core.freetext import neutralise, neutralise_value
from kinkyu.reports.exceptions import ReportError
from kinkyu.reports.model import ReportModel
from kinkyu.reports.svg import phase_chart
from kinkyu.resources import bundled

Format = Literal["pdf", "html", "md", "json"]
FORMATS: tuple[Format, ...] = ("pdf", "html", "md", "json")
EXTENSIONS: dict[str, str] = {"pdf": "pdf", "html": "html", "md": "md", "json": "json"}


TEMPLATES_DIR = bundled("templates", "report")

_BLANK_LINES = re.compile(r"\n{3,}")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md_escape(value: object) -> str:
    """Text safe in a Markdown table cell or paragraph: Markdown and HTML specials escaped, newlines as <br>.

    Control and bidi-formatting characters are neutralised first, so a bare CR
    is a line break like any other (a bare CR used to end the table row).
    """
    text = neutralise(str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\n", "<br>")


def css_string(value: object) -> Markup:
    """A CSS string literal for ``content:`` inside a ``<style>`` element.

    Backslash, quote and line breaks are CSS-escaped and ``<`` is escaped so the
    text cannot close the ``<style>`` element; marked safe, because HTML escaping
    does not apply inside ``<style>`` (the parser would not decode ``&quot;``).
    """
    text = neutralise(str(value))
    out = []
    for ch in text:
        if ch in {"\\", '"', "<", ">", "&"} or ord(ch) < 0x20:  # noqa: PLR2004  # control characters
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')  # noqa: S704  # escaped above for the CSS context


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (StrictUndefined: a misspelt name fails)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # report.html.j2 and its macros are HTML; the Markdown templates and the CSS are not.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        # Every printed value, whatever a template forgets: no control or bidi-override characters.
        finalize=neutralise_value,
    )
    env.filters["md"] = md_escape
    env.filters["css_string"] = css_string
    return env


def _render(name: str, **context: object) -> str:
    try:
        return environment().get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise ReportError(f"report template {name} not found in {TEMPLATES_DIR}") from exc
    except jinja2.TemplateError as exc:
        raise ReportError(f"report template {name} failed: {type(exc).__name__}: {exc.message}") from exc


def render_html(model: ReportModel) -> str:
    """The report as a standalone HTML document (print CSS for A4, the timeline picture inline)."""
    # The SVG is built by our own code from escaped text: it goes in as markup.
    svg = Markup(phase_chart(model.chart))  # noqa: S704
    return _render("report.html.j2", m=model, svg=svg, hash=model.sha256())


def render_markdown(model: ReportModel) -> str:
    """The report as Markdown (GitHub tables)."""
    # Blocks a template leaves out (a letter in the public version, an empty note) leave blank lines: one is enough.
    return _BLANK_LINES.sub("\n\n", _render("report.md.j2", m=model, hash=model.sha256())).lstrip("\n")


def render(model: ReportModel, fmt: Format) -> bytes:
    """The report in ``fmt``: ``md`` and ``html`` (UTF-8), ``json`` (the hashed bytes), ``pdf``.

    PDF needs WeasyPrint and the CJK fonts (:mod:`kinkyu.reports.pdf`); when
    they are missing it raises :class:`~kinkyu.reports.exceptions.RendererMissingError`.
    """
    if fmt == "md":
        return render_markdown(model).encode("utf-8")
    if fmt == "html":
        return render_html(model).encode("utf-8")
    if fmt == "json":
        return model.canonical_bytes()
    if fmt == "pdf":
        from kinkyu.reports.pdf import html_to_pdf  # noqa: PLC0415  # WeasyPrint is heavy and optional

        return html_to_pdf(render_html(model))
    raise ReportError(f"unknown report format {fmt!r} (pdf, html, md or json)")
