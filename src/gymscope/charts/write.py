"""Write a chart to ``stem.svg`` and ``stem.png``, atomically."""

from __future__ import annotations

from pathlib import Path

from gymscope._files import atomic_write_bytes, atomic_write_text
from gymscope.charts.layout import LineChart, layout_chart
from gymscope.charts.png import render_png
from gymscope.charts.svg import render_svg

__all__ = ["write_chart"]


def write_chart(chart: LineChart, stem: str | Path, *, scale: float = 1.0) -> tuple[Path, Path]:
    """Write ``chart`` to ``{stem}.svg`` and ``{stem}.png``, each atomically.

    Args:
        chart: What to draw.
        stem: Path without the extension; its folder must exist.
        scale: PNG resolution relative to the chart's size (2 for high-DPI).

    Returns:
        The paths of the SVG and the PNG.

    Raises:
        InvalidArgumentError, OutputExistsError: a directory, link, device,
            FIFO, socket or database is where a file goes
            (:func:`gymscope._outputs.check_output_file`).
    """
    from gymscope._outputs import check_output_file

    stem = Path(stem)
    layout = layout_chart(chart)
    svg_path = stem.with_name(stem.name + ".svg")
    png_path = stem.with_name(stem.name + ".png")
    for path in (svg_path, png_path):  # an earlier chart is replaced, nothing else is
        check_output_file(path, argument="chart file", overwrite=True)
    atomic_write_text(svg_path, render_svg(layout))
    atomic_write_bytes(png_path, render_png(layout, scale))
    return svg_path, png_path
