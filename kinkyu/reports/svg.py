# no copyright header in this project; Japanese text uses full-width punctuation
"""The timeline picture: the phases of an incident's response against their deadlines, as SVG.

Pure: :func:`phase_chart` turns a :class:`~kinkyu.reports.model.Chart` into an
SVG string. One row per phase (検知・受付 → 第一報 → 書面報告 → 被害拡大防止 →
復旧 → 終結): a bar from when it started to when it was done (dashed while it
is still open), a due marker (a line with a triangle and the word 期限), and
the verdict written out on the right (○ 期限内, × 期限超過, △ 期限前 …), so the
picture reads in black and white: colour repeats the text, a missed phase is
also hatched. Numbered vertical lines mark when it happened, when the
contractor learned of it, the city's PPC dates and the report itself.

Time runs on a logarithmic axis from the first event: a 直ちに hour and a
30-day 確報 fit on one page, each readable. Labels are in the chart's
language (Japanese first, English when the report is English).
"""

from __future__ import annotations

import math
from datetime import datetime
from xml.sax.saxutils import escape

from kinkyu.core.freetext import neutralise
from kinkyu.core.timefmt import doc_datetime
from kinkyu.reports.model import Chart, Phase

WIDTH = 800
_LABEL_X = 8
_PLOT_X0 = 168
_PLOT_X1 = 640
_STATUS_X = 652
_TOP = 64
_ROW_H = 34
_BAR_H = 14
_MARKER_GAP = 16  # pixels: marker numbers closer than this step down a level
_K = 2.0  # log1p(K * hours): the first hour gets about a seventh of a 30-day axis
_FONT = "'Noto Sans CJK JP', 'Noto Sans JP', 'Noto Sans CJK', sans-serif"

# verdict -> (stroke and text colour, bar fill). Dark enough to print; the text says the same.
_COLOURS: dict[str, tuple[str, str]] = {
    "met": ("#1b5e20", "#a5d6a7"),
    "done": ("#1b5e20", "#a5d6a7"),
    "missed": ("#b71c1c", "#ef9a9a"),
    "pending": ("#8a4b00", "#ffcc80"),
    "open": ("#0d47a1", "#90caf9"),
}
_GREY = ("#616161", "#e0e0e0")


def _attr(value: str) -> str:
    return escape(neutralise(value), {'"': "&quot;"})


def _text(value: str) -> str:
    # XML 1.0 allows no C0 control characters, and an override would reverse the label.
    return escape(neutralise(value))


def _hours(origin: datetime, t: datetime) -> float:
    return max(0.0, (t - origin).total_seconds() / 3600.0)


class _Axis:
    def __init__(self, origin: datetime, span_hours: float) -> None:
        self.origin = origin
        self.scale = math.log1p(_K * max(span_hours, 1.0))

    def x_hours(self, hours: float) -> float:
        return _PLOT_X0 + (_PLOT_X1 - _PLOT_X0) * math.log1p(_K * max(hours, 0.0)) / self.scale

    def x(self, t: datetime) -> float:
        return self.x_hours(_hours(self.origin, t))


def _span(chart: Chart) -> float:
    times = [chart.now, *(m.at for m in chart.markers)]
    for p in chart.phases:
        times.extend(t for t in (p.start, p.end, p.due) if t is not None)
    return max(_hours(chart.origin, t) for t in times)


def _phase_row(out: list[str], axis: _Axis, chart: Chart, phase: Phase, y: float) -> None:
    stroke, fill = _COLOURS.get(phase.verdict, _GREY)
    mid = y + _ROW_H / 2
    out.append(
        f'<text x="{_LABEL_X}" y="{mid + 4:.1f}" font-size="12" font-weight="bold" fill="#212121">'
        f"{_text(phase.label)}</text>"
    )
    top = mid - _BAR_H / 2
    if phase.start is not None:
        x0 = axis.x(phase.start)
        end = phase.end if phase.end is not None else chart.now
        x1 = max(axis.x(end), x0 + 3.0)
        dash = "" if phase.end is not None else ' stroke-dasharray="4 2"'
        out.append(
            f'<rect x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" height="{_BAR_H}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>'
        )
        if phase.verdict == "missed":
            out.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" height="{_BAR_H}" fill="url(#hatch)"/>')
        if phase.end is not None:
            out.append(f'<circle cx="{x1:.1f}" cy="{mid:.1f}" r="3.2" fill="{stroke}"/>')
    elif phase.note or phase.verdict in {"na", "skipped"}:
        out.append(
            f'<text x="{_PLOT_X0 + 4}" y="{mid + 4:.1f}" font-size="10" fill="#616161" font-style="italic">'
            f"{_text(phase.note or phase.verdict_label)}</text>"
        )
    if phase.due is not None:
        xd = axis.x(phase.due)
        out.append(
            f'<line x1="{xd:.1f}" y1="{top - 4:.1f}" x2="{xd:.1f}" y2="{top + _BAR_H + 4:.1f}" '
            'stroke="#212121" stroke-width="2"/>'
        )
        out.append(
            f'<path d="M {xd - 4:.1f} {top - 9:.1f} L {xd + 4:.1f} {top - 9:.1f} L {xd:.1f} {top - 4:.1f} Z" '
            'fill="#212121"/>'
        )
        out.append(
            f'<text x="{xd + 6:.1f}" y="{top - 3:.1f}" font-size="8" fill="#212121">{_text(chart.due_label)}</text>'
        )
    out.append(
        f'<text x="{_STATUS_X}" y="{mid + 4:.1f}" font-size="11" font-weight="bold" fill="{stroke}">'
        f"{_text(phase.verdict_label)}</text>"
    )


def phase_chart(chart: Chart) -> str:
    """The SVG (a complete ``<svg>`` element, UTF-8 text) of ``chart``'s phases against their deadlines."""
    axis = _Axis(chart.origin, _span(chart))
    rows_bottom = _TOP + _ROW_H * len(chart.phases)
    # Marker numbers sit under the rows; close ones step down so they never overlap.
    placed: list[tuple[float, int]] = []
    for m in chart.markers:
        x = axis.x(m.at)
        level = 0
        while any(abs(x - px) < _MARKER_GAP and pl == level for px, pl in placed):
            level += 1
        placed.append((x, level))
    levels = max((lvl for _, lvl in placed), default=0) + 1
    legend_top = rows_bottom + 18 + 16 * levels + 22
    height = legend_top + 16 * len(chart.markers) + 8
    title = chart.title
    out: list[str] = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_attr(title)}" '
            f'style="font-family: {_attr(_FONT)}" lang="{chart.lang}">'
        ),
        f"<title>{_text(title)}</title>",
        "<desc>" + _text(" / ".join(f"{p.label}: {p.verdict_label}" for p in chart.phases)) + "</desc>",
        (
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#b71c1c" stroke-width="1.5"/>'
            "</pattern></defs>"
        ),
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_LABEL_X}" y="20" font-size="14" font-weight="bold" fill="#212121">{_text(title)}</text>',
    ]
    # Time axis with ticks.
    span = _span(chart)
    out.append(
        f'<line x1="{_PLOT_X0}" y1="{_TOP - 6}" x2="{_PLOT_X1}" y2="{_TOP - 6}" stroke="#424242" stroke-width="1"/>'
    )
    for hours, label in chart.tick_labels:
        if hours > span * 1.05 and hours > 1.0:
            continue
        x = axis.x_hours(hours)
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 10}" x2="{x:.1f}" y2="{rows_bottom}" stroke="#bdbdbd" stroke-width="0.6"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{_TOP - 14}" font-size="9" text-anchor="middle" fill="#424242">{_text(label)}</text>'
        )
    for i in range(len(chart.phases)):
        if i % 2:
            y = _TOP + i * _ROW_H
            out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{_ROW_H}" fill="#f5f5f5"/>')
    # Marker lines behind the bars.
    for (x, level), n in zip(placed, range(1, len(placed) + 1), strict=True):
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{rows_bottom + 8 + 16 * level}" '
            'stroke="#5e35b1" stroke-width="1" stroke-dasharray="3 3"/>'
        )
        cy = rows_bottom + 16 + 16 * level
        out.append(f'<circle cx="{x:.1f}" cy="{cy}" r="7" fill="#ffffff" stroke="#5e35b1" stroke-width="1.2"/>')
        out.append(f'<text x="{x:.1f}" y="{cy + 3.5:.1f}" font-size="9" text-anchor="middle" fill="#5e35b1">{n}</text>')
    for i, phase in enumerate(chart.phases):
        _phase_row(out, axis, chart, phase, _TOP + i * _ROW_H)
    out.append(
        f'<text x="{(_PLOT_X0 + _PLOT_X1) / 2:.1f}" y="{legend_top - 8}" font-size="10" text-anchor="middle" '
        f'fill="#424242">{_text(chart.axis_label)}</text>'
    )
    for n, m in enumerate(chart.markers, 1):
        when = doc_datetime(m.at, chart.lang)
        out.append(
            f'<text x="{_LABEL_X}" y="{legend_top + 12 + 16 * (n - 1)}" font-size="10" fill="#212121">'
            f"{n}. {_text(m.label)}: {when}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
