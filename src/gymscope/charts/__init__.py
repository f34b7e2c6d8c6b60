"""Line charts as SVG and PNG, without a plotting library.

Describe a chart with :class:`LineChart` and :class:`Series`, lay it out once
with :func:`layout_chart`, and paint the layout with :func:`render_svg` and
:func:`render_png` — or do all of it with :func:`write_chart`, which writes
``stem.svg`` and ``stem.png`` atomically. Long series are downsampled per
pixel column (:func:`minmax_downsample`), so the files and the drawing time
are bounded by the chart's width whatever the number of points.

>>> import numpy as np
>>> from gymscope.charts import LineChart, Series, layout_chart, render_svg
>>> rewards = np.array([1.0, 3.0, np.nan, 4.0, 6.0])
>>> chart = LineChart("Return <per> episode", [Series(rewards, "return")])
>>> svg = render_svg(layout_chart(chart))
>>> "Return &lt;per&gt; episode" in svg, svg.count("<polyline")
(True, 2)

:func:`plot_experiment` draws the same charts from the metrics database and
:func:`plot_comparison` puts several runs on one chart (both import SQLModel
when called, not when this package is imported). :func:`sparkline` and
:func:`sparkline_svg` draw a series as one line of text or a tiny inline SVG.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# light (no NumPy), and named like its module: imported now, so that the
# package's ``sparkline`` is the function whichever is imported first
from gymscope.charts.sparkline import sparkline, sparkline_svg

# The names are imported on first use: gymscope show draws a sparkline
# (gymscope.charts.sparkline) without NumPy and Pillow, which the charts need.
if TYPE_CHECKING:
    from gymscope.charts.downsample import minmax_downsample
    from gymscope.charts.experiment import (
        comparison_charts,
        experiment_charts,
        plot_comparison,
        plot_experiment,
    )
    from gymscope.charts.layout import PALETTE, ChartLayout, LineChart, Series, layout_chart
    from gymscope.charts.png import render_png, render_png_image
    from gymscope.charts.svg import render_svg
    from gymscope.charts.ticks import Ticks, format_ticks, nice_ticks
    from gymscope.charts.write import write_chart

__all__ = [
    "PALETTE",
    "ChartLayout",
    "LineChart",
    "Series",
    "Ticks",
    "comparison_charts",
    "experiment_charts",
    "format_ticks",
    "layout_chart",
    "minmax_downsample",
    "nice_ticks",
    "plot_comparison",
    "plot_experiment",
    "render_png",
    "render_png_image",
    "render_svg",
    "sparkline",
    "sparkline_svg",
    "write_chart",
]

_HOMES = {
    "minmax_downsample": "downsample",
    "comparison_charts": "experiment",
    "experiment_charts": "experiment",
    "plot_comparison": "experiment",
    "plot_experiment": "experiment",
    "PALETTE": "layout",
    "ChartLayout": "layout",
    "LineChart": "layout",
    "Series": "layout",
    "layout_chart": "layout",
    "render_png": "png",
    "render_png_image": "png",
    "render_svg": "svg",
    "Ticks": "ticks",
    "format_ticks": "ticks",
    "nice_ticks": "ticks",
    "write_chart": "write",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
