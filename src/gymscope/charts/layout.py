"""A line chart's description (:class:`LineChart`) and its layout (:class:`ChartLayout`).

:func:`layout_chart` does every decision once — margins, nice ticks, the
mapping from values to pixels, downsampling, gaps, legend placement — and the
SVG and PNG renderers only paint the result, so both files show the same
chart. Coordinates are in CSS pixels with the origin at the top left.

>>> import numpy as np
>>> chart = LineChart("Return", [Series(np.array([0.0, 50.0, 120.0]), "return")],
...                   x_label="episode", y_label="return", x_integer=True)
>>> layout = layout_chart(chart)
>>> layout.y_ticks.labels
('0', '20', '40', '60', '80', '100', '120')
>>> [len(segment) for segment in layout.lines[0].segments]
[3]
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import ImageFont

from gymscope.charts.downsample import minmax_downsample
from gymscope.charts.ticks import Ticks, nice_ticks
from gymscope.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "PALETTE",
    "ChartLayout",
    "LegendItem",
    "LineChart",
    "LineItem",
    "Series",
    "TextItem",
    "layout_chart",
]

FloatArray = npt.NDArray[np.float64]

#: Series colours, in order (Tableau 10: distinct, print- and colour-blind-friendly).
PALETTE = (
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#E15759",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#9C755F",
    "#FF9DA7",
    "#BAB0AC",
)

TEXT_COLOR = "#222222"
MUTED_COLOR = "#5F5F5F"
GRID_COLOR = "#E4E4E4"
AXIS_COLOR = "#8C8C8C"
BACKGROUND = "#FFFFFF"
FONT_FAMILY = "'Helvetica Neue', Helvetica, Arial, 'Liberation Sans', sans-serif"

_HEX = re.compile(r"#[0-9A-Fa-f]{6}")
_PAD = 18.0
_TITLE_SIZE = 19.0
_LABEL_SIZE = 13.0
_TICK_SIZE = 12.0
_LEGEND_SIZE = 12.5
_MESSAGE_SIZE = 15.0
_SWATCH = 24.0


@dataclass(frozen=True)
class Series:
    """One line of a chart.

    Attributes:
        y: The values; NaN and infinities are drawn as gaps.
        label: Name shown in the legend.
        x: The x values (sorted), or None for ``0, 1, 2, ...``.
        color: ``"#RRGGBB"``, or None for the next palette colour.
        opacity: 0 (invisible) to 1 (opaque).
        width: Line width in pixels.
        legend: Show the series in the legend.
    """

    y: npt.ArrayLike
    label: str
    x: npt.ArrayLike | None = None
    color: str | None = None
    opacity: float = 1.0
    width: float = 2.0
    legend: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.label, str):
            raise ArgumentTypeError(f"label must be a str, got {self.label!r}")
        if self.color is not None and (
            not isinstance(self.color, str) or not _HEX.fullmatch(self.color)
        ):
            raise InvalidArgumentError(f"color must be '#RRGGBB' or None, got {self.color!r}")
        if not 0.0 <= self.opacity <= 1.0:
            raise InvalidArgumentError(f"opacity must be in [0, 1], got {self.opacity!r}")
        if not 0.0 < self.width <= 50.0:
            raise InvalidArgumentError(f"width must be in (0, 50] pixels, got {self.width!r}")


@dataclass(frozen=True)
class LineChart:
    """What to draw: a title, axis labels and series, at a size in CSS pixels.

    Attributes:
        title: Shown at the top left.
        series: The lines, drawn in order (later ones on top).
        x_label: Text under the x axis.
        y_label: Text along the y axis.
        width: Chart width in pixels (the PNG is this wide at ``scale=1``).
        height: Chart height in pixels.
        x_integer: The x values are counts (episodes): ticks at whole numbers.
        empty_message: Shown in the plot area when no series has any point.
    """

    title: str
    series: Sequence[Series]
    x_label: str = ""
    y_label: str = ""
    width: int = 960
    height: int = 540
    x_integer: bool = False
    empty_message: str = "no data yet"

    def __post_init__(self) -> None:
        for name, low in (("width", 240), ("height", 160)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgumentError(f"{name} must be an int >= {low} pixels, got {value!r}")
        for name in ("title", "x_label", "y_label", "empty_message"):
            if not isinstance(getattr(self, name), str):
                raise ArgumentTypeError(f"{name} must be a str, got {getattr(self, name)!r}")
        for item in self.series:
            if not isinstance(item, Series):
                raise ArgumentTypeError(f"series must hold Series objects, got {item!r}")


@dataclass(frozen=True)
class TextItem:
    """A piece of text; ``(x, y)`` is the anchor point, ``y`` the vertical middle."""

    text: str
    x: float
    y: float
    size: float
    anchor: Literal["start", "middle", "end"] = "start"
    color: str = TEXT_COLOR
    bold: bool = False
    vertical: bool = False  # rotated 90 degrees counter-clockwise
    role: str = "text"


@dataclass(frozen=True)
class LineItem:
    """A series after layout: polylines in pixels, split at gaps.

    ``points`` is the number of points drawn (after downsampling), ``source``
    the number of values the series had.
    """

    label: str
    color: str
    opacity: float
    width: float
    segments: tuple[FloatArray, ...]
    points: int
    source: int


@dataclass(frozen=True)
class LegendItem:
    """A legend entry: a short line (the swatch) and the series label."""

    label: str
    color: str
    opacity: float
    width: float
    x: float
    y: float
    text: TextItem


@dataclass(frozen=True)
class ChartLayout:
    """Everything a renderer paints, in CSS pixels.

    ``plot`` is ``(left, top, right, bottom)`` of the plotting area;
    ``x_ticks``/``y_ticks`` hold the tick values, their labels and the axis
    span; ``x_tick_px``/``y_tick_px`` their pixel positions.
    """

    width: int
    height: int
    plot: tuple[float, float, float, float]
    x_ticks: Ticks
    y_ticks: Ticks
    x_tick_px: tuple[float, ...]
    y_tick_px: tuple[float, ...]
    texts: tuple[TextItem, ...]
    lines: tuple[LineItem, ...]
    legend: tuple[LegendItem, ...]
    message: TextItem | None = None
    title: str = ""

    def x_to_px(self, value: float) -> float:
        """Pixel column of an x value."""
        left, _, right, _ = self.plot
        return left + (value - self.x_ticks.lo) * (right - left) / (
            self.x_ticks.hi - self.x_ticks.lo
        )

    def y_to_px(self, value: float) -> float:
        """Pixel row of a y value."""
        _, top, _, bottom = self.plot
        return bottom - (value - self.y_ticks.lo) * (bottom - top) / (
            self.y_ticks.hi - self.y_ticks.lo
        )


@functools.lru_cache(maxsize=32)
def _bundled_font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


# Fonts tried, in order, for text the bundled font has no glyph for
# (it covers basic Latin only: no accents, no dashes).
_FALLBACK_FONTS = (
    "DejaVuSans.ttf",
    "NotoSans-Regular.ttf",
    "LiberationSans-Regular.ttf",
    "Arial Unicode.ttf",
    "Arial.ttf",
    "arial.ttf",
)


@functools.lru_cache(maxsize=32)
def _fallback_font(size: float) -> ImageFont.FreeTypeFont | None:
    for name in _FALLBACK_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=4096)
def _bundled_has(char: str) -> bool:
    face = _bundled_font(20.0)
    if not isinstance(face, ImageFont.FreeTypeFont):
        return char.isascii()
    if char.isspace():
        return True
    return bytes(face.getmask(char)) != bytes(face.getmask("\uffff"))


def font(size: float, text: str = "") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font to draw ``text`` at ``size`` pixels with, in the PNG and when
    measuring: Pillow's bundled sans-serif (Aileron; no font file needed,
    Pillow >= 10.1), or a system font with more glyphs (DejaVu Sans, ...)
    when ``text`` has characters the bundled font lacks."""
    if not all(_bundled_has(char) for char in text):
        fallback = _fallback_font(size)
        if fallback is not None:
            return fallback
    return _bundled_font(size)


def text_width(text: str, size: float) -> float:
    """Width of ``text`` in pixels at ``size`` (Pillow's metrics, a close
    stand-in for the sans-serif fonts an SVG viewer picks)."""
    return float(font(size, text).getlength(text))


def fit_text(text: str, size: float, max_width: float) -> str:
    """``text``, cut short with an ellipsis if wider than ``max_width`` pixels."""
    if text_width(text, size) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid].rstrip() + "\u2026", size) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "\u2026"


def _axis_ticks(lo: float, hi: float, length_px: float, spacing: float, integer: bool) -> Ticks:
    max_ticks = max(3, int(length_px // spacing) + 1)
    if integer:
        # A range of whole numbers never gets a step below 1.
        span = hi - lo
        max_ticks = max(2, min(max_ticks, math.floor(span) + 1)) if span >= 1 else 2
        if span < 1:
            lo, hi = math.floor(lo), math.floor(lo) + 1
    return nice_ticks(lo, hi, max_ticks)


def _as_arrays(item: Series) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(item.y, dtype=np.float64).ravel()
    if item.x is None:
        x = np.arange(y.size, dtype=np.float64)
    else:
        x = np.asarray(item.x, dtype=np.float64).ravel()
        if x.size != y.size:
            raise InvalidArgumentError(
                f"series {item.label!r}: x has {x.size} values but y has {y.size}; give one x per y"
            )
        if x.size and not np.all(np.isfinite(x)):
            raise InvalidArgumentError(f"series {item.label!r}: x values must be finite")
        if x.size > 1 and np.any(np.diff(x) < 0):
            order = np.argsort(x, kind="stable")
            x, y = x[order], y[order]
    return x, y


def _segments(px: FloatArray, py: FloatArray) -> tuple[FloatArray, ...]:
    """Split a polyline at its NaN points (the gaps)."""
    finite = np.flatnonzero(np.isfinite(py))
    if finite.size == 0:
        return ()
    points = np.stack([px[finite], py[finite]], axis=1)
    breaks = np.flatnonzero(np.diff(finite) > 1) + 1
    return tuple(np.split(points, breaks))


def layout_chart(chart: LineChart) -> ChartLayout:
    """Lay ``chart`` out: see the module docstring."""
    width, height = chart.width, chart.height
    data = [_as_arrays(item) for item in chart.series]
    colors = []
    auto = 0
    for item in chart.series:
        if item.color is None:
            colors.append(PALETTE[auto % len(PALETTE)])
            auto += 1
        else:
            colors.append(item.color)

    finite = [np.isfinite(y) for _, y in data]
    xs = [x for x, _ in data if x.size]
    ys = [y[mask] for (_, y), mask in zip(data, finite, strict=True) if mask.any()]
    message = None
    if not xs:
        message = chart.empty_message
    elif not ys:
        message = "no finite values to plot"
    else:  # the x axis spans the points that are drawn
        xs = [x[mask] for (x, _), mask in zip(data, finite, strict=True) if mask.any()]
    x_lo = min(float(x[0]) for x in xs) if xs else 0.0
    x_hi = max(float(x[-1]) for x in xs) if xs else 1.0
    y_lo = min(float(y.min()) for y in ys) if ys else 0.0
    y_hi = max(float(y.max()) for y in ys) if ys else 1.0

    # Vertical budget: title, legend rows, plot, x tick labels, x label.
    texts: list[TextItem] = []
    top = _PAD + _TITLE_SIZE * 1.25
    title_y = _PAD + _TITLE_SIZE * 0.6
    bottom = height - _PAD - _TICK_SIZE * 1.4 - 6
    if chart.x_label:
        bottom -= _LABEL_SIZE * 1.5
    entries = [(i, item) for i, item in enumerate(chart.series) if item.legend and item.label]
    legend_labels = {
        i: fit_text(item.label, _LEGEND_SIZE, width / 2 - _PAD - _SWATCH) for i, item in entries
    }
    legend_top = top + 8

    def plan_legend(left: float) -> list[tuple[int, float, float]]:
        placed = []
        x, row = left, 0
        for i, _ in entries:
            w = _SWATCH + 7 + text_width(legend_labels[i], _LEGEND_SIZE) + 20
            if x + w > width - _PAD and x > left:
                x, row = left, row + 1
            placed.append((i, x, legend_top + row * _LEGEND_SIZE * 1.7 + _LEGEND_SIZE * 0.7))
            x += w
        return placed

    left = _PAD
    y_ticks = nice_ticks(y_lo, y_hi)
    placed: list[tuple[int, float, float]] = []
    plot_top = top
    for _ in range(2):  # the y labels set the left margin, which can re-wrap the legend
        placed = plan_legend(left)
        rows = 1 + round((placed[-1][2] - placed[0][2]) / (_LEGEND_SIZE * 1.7)) if placed else 0
        plot_top = legend_top + rows * _LEGEND_SIZE * 1.7 + (6 if rows else 4)
        y_ticks = _axis_ticks(y_lo, y_hi, bottom - plot_top, 48.0, integer=False)
        label_w = max(text_width(label, _TICK_SIZE) for label in y_ticks.labels)
        left = _PAD + (_LABEL_SIZE * 1.6 if chart.y_label else 0.0) + label_w + 10
    right = width - _PAD - 8
    plot_w = right - left
    x_ticks = _axis_ticks(x_lo, x_hi, plot_w, 90.0, chart.x_integer)
    # Labels must not touch: widen the spacing until they fit.
    spacing = 90.0
    while len(x_ticks.values) > 2:
        widest = max(text_width(label, _TICK_SIZE) for label in x_ticks.labels)
        if widest + 14 <= plot_w / (len(x_ticks.values) - 1):
            break
        spacing *= 1.3
        x_ticks = _axis_ticks(x_lo, x_hi, plot_w, spacing, chart.x_integer)

    layout_plot = (left, plot_top, right, bottom)
    base = ChartLayout(width, height, layout_plot, x_ticks, y_ticks, (), (), (), (), ())
    x_tick_px = tuple(base.x_to_px(v) for v in x_ticks.values)
    y_tick_px = tuple(base.y_to_px(v) for v in y_ticks.values)

    title = fit_text(chart.title, _TITLE_SIZE, width - _PAD - left)
    texts.append(TextItem(title, left, title_y, _TITLE_SIZE, bold=True, role="title"))
    # An axis without data gets no numbers: they would mean nothing.
    for px, label in zip(x_tick_px, x_ticks.labels if xs else (), strict=False):
        texts.append(
            TextItem(
                label,
                px,
                bottom + 6 + _TICK_SIZE * 0.7,
                _TICK_SIZE,
                "middle",
                MUTED_COLOR,
                role="x-tick",
            )
        )
    for py, label in zip(y_tick_px, y_ticks.labels if ys else (), strict=False):
        texts.append(TextItem(label, left - 10, py, _TICK_SIZE, "end", MUTED_COLOR, role="y-tick"))
    if chart.x_label:
        texts.append(
            TextItem(
                fit_text(chart.x_label, _LABEL_SIZE, plot_w),
                (left + right) / 2,
                height - _PAD - _LABEL_SIZE * 0.5,
                _LABEL_SIZE,
                "middle",
                role="x-label",
            )
        )
    if chart.y_label:
        texts.append(
            TextItem(
                fit_text(chart.y_label, _LABEL_SIZE, bottom - plot_top),
                _PAD + _LABEL_SIZE * 0.5,
                (plot_top + bottom) / 2,
                _LABEL_SIZE,
                "middle",
                vertical=True,
                role="y-label",
            )
        )

    columns = max(1, int(plot_w))
    sx = plot_w / (x_ticks.hi - x_ticks.lo)
    sy = (bottom - plot_top) / (y_ticks.hi - y_ticks.lo)
    lines = []
    for item, color, (x, y) in zip(chart.series, colors, data, strict=True):
        dx, dy = minmax_downsample(x, y, columns)
        line_x = left + (dx - x_ticks.lo) * sx
        with np.errstate(invalid="ignore", over="ignore"):
            line_y = bottom - (dy - y_ticks.lo) * sy
        segments = _segments(line_x, line_y)
        lines.append(
            LineItem(
                item.label,
                color,
                item.opacity,
                item.width,
                segments,
                sum(len(s) for s in segments),
                int(y.size),
            )
        )

    legend = []
    for i, entry_x, entry_y in placed:
        item = chart.series[i]
        text = TextItem(
            legend_labels[i], entry_x + _SWATCH + 7, entry_y, _LEGEND_SIZE, "start", role="legend"
        )
        legend.append(
            LegendItem(item.label, colors[i], item.opacity, item.width, entry_x, entry_y, text)
        )

    message_item = None
    if message is not None:
        message_item = TextItem(
            message,
            (left + right) / 2,
            (plot_top + bottom) / 2,
            _MESSAGE_SIZE,
            "middle",
            MUTED_COLOR,
            role="message",
        )
    return ChartLayout(
        width=width,
        height=height,
        plot=layout_plot,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_tick_px=x_tick_px,
        y_tick_px=y_tick_px,
        texts=tuple(texts),
        lines=tuple(lines),
        legend=tuple(legend),
        message=message_item,
        title=chart.title,
    )
