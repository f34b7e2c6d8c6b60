"""Render a :class:`~gymscope.charts.layout.ChartLayout` as a standalone SVG document.

Hand-written XML: every piece of text (title, labels, legend) is escaped and
stripped of characters XML cannot hold, colours are checked ``#RRGGBB``
strings, numbers are formatted by us, so user strings cannot inject markup.
Each series is a ``<g class="series" data-label="...">`` holding one
``<polyline>`` per unbroken run of points (and a ``<circle>`` per isolated
point), which is what the tests read back with ``xml.etree``.
"""

from __future__ import annotations

import html
import re

import numpy as np

from gymscope.charts.layout import (
    AXIS_COLOR,
    BACKGROUND,
    FONT_FAMILY,
    GRID_COLOR,
    ChartLayout,
    TextItem,
)

__all__ = ["render_svg"]

# Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` safe inside an XML element or a double-quoted attribute."""
    return html.escape(_NOT_XML.sub("", text), quote=True)


def _num(value: float) -> str:
    """A coordinate with at most 2 decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _crisp(value: float) -> str:
    """A 1-pixel line's coordinate on a pixel centre, so it is not blurred over two."""
    return _num(round(value - 0.5) + 0.5)


def _text(item: TextItem, css_class: str) -> str:
    # y is the vertical middle; an alphabetic baseline about 0.35 em lower is
    # understood by every SVG viewer (dominant-baseline is not).
    baseline = item.y + 0.35 * item.size
    attrs = [f'class="{css_class}"']
    if item.vertical:
        attrs.append(f'transform="rotate(-90 {_num(item.x)} {_num(item.y)})"')
        baseline = item.y + 0.35 * item.size
    attrs += [
        f'x="{_num(item.x)}"',
        f'y="{_num(baseline)}"',
        f'font-size="{_num(item.size)}"',
        f'fill="{item.color}"',
    ]
    if item.anchor != "start":
        attrs.append(f'text-anchor="{item.anchor}"')
    if item.bold:
        attrs.append('font-weight="600"')
    return f"<text {' '.join(attrs)}>{escape(item.text)}</text>"


def _points(segment: np.ndarray) -> str:
    rounded = np.round(segment, 1)
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in rounded.tolist())


def render_svg(layout: ChartLayout) -> str:
    """The chart as an SVG document (UTF-8 text, no external references)."""
    w, h = layout.width, layout.height
    left, top, right, bottom = layout.plot
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="{escape(FONT_FAMILY)}" role="img" '
        f'aria-label="{escape(layout.title)}">',
        f"<title>{escape(layout.title)}</title>",
        f'<rect class="background" width="{w}" height="{h}" fill="{BACKGROUND}"/>',
        f'<g class="grid" stroke="{GRID_COLOR}" stroke-width="1">',
    ]
    for py in layout.y_tick_px:
        y = _crisp(py)
        out.append(f'<line x1="{_num(left)}" y1="{y}" x2="{_num(right)}" y2="{y}"/>')
    for px in layout.x_tick_px:
        x = _crisp(px)
        out.append(f'<line x1="{x}" y1="{_num(top)}" x2="{x}" y2="{_num(bottom)}"/>')
    out.append("</g>")
    y = _crisp(bottom)
    out.append(
        f'<line class="axis" x1="{_num(left)}" y1="{y}" x2="{_num(right)}" y2="{y}" '
        f'stroke="{AXIS_COLOR}" stroke-width="1"/>'
    )
    for line in layout.lines:
        out.append(
            f'<g class="series" data-label="{escape(line.label)}" fill="none" '
            f'stroke="{line.color}" stroke-opacity="{_num(line.opacity)}" '
            f'stroke-width="{_num(line.width)}" stroke-linejoin="round" stroke-linecap="round">'
        )
        for segment in line.segments:
            if len(segment) == 1:
                x, y0 = segment[0].tolist()
                out.append(
                    f'<circle cx="{_num(x)}" cy="{_num(y0)}" r="{_num(line.width / 2)}" '
                    f'fill="{line.color}" fill-opacity="{_num(line.opacity)}" stroke="none"/>'
                )
            else:
                out.append(f'<polyline points="{_points(segment)}"/>')
        out.append("</g>")
    if layout.legend:
        out.append('<g class="legend">')
        for entry in layout.legend:
            out.append(
                f'<line x1="{_num(entry.x)}" y1="{_num(entry.y)}" x2="{_num(entry.x + 24)}" '
                f'y2="{_num(entry.y)}" stroke="{entry.color}" '
                f'stroke-opacity="{_num(max(entry.opacity, 0.35))}" '
                f'stroke-width="{_num(min(entry.width + 0.5, 4.0))}" stroke-linecap="round"/>'
            )
            out.append(_text(entry.text, "legend-label"))
        out.append("</g>")
    for item in layout.texts:
        out.append(_text(item, item.role))
    if layout.message is not None:
        out.append(_text(layout.message, "message"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
