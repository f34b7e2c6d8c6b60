"""Sparklines: a series as one line of text for the terminal, or a tiny inline SVG.

Both squeeze the series into a fixed number of columns by averaging the
finite values that fall into each (a column with none is a gap), then scale
the column means from their minimum to their maximum.

>>> sparkline([0, 1, 2, 3, 4, 5, 6, 7])
'▁▂▃▄▅▆▇█'
>>> sparkline([0, 1, 2, 3, 4, 5, 6, 7], ascii=True)
'__..--^^'
>>> sparkline([1.0, float("nan"), 3.0], width=3)
'▁ █'
>>> sparkline([2.0, 2.0, 2.0])
'▄▄▄'
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

from gymscope.errors import InvalidArgumentError

# NumPy only where arrays are made: gymscope show draws its sparkline without it.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = ["ASCII_LEVELS", "BLOCK_LEVELS", "column_means", "sparkline", "sparkline_svg"]

#: Unicode block elements, lowest to highest.
BLOCK_LEVELS = "▁▂▃▄▅▆▇█"
#: ASCII characters from the bottom of the line to its top, for terminals
#: that cannot show the blocks.
ASCII_LEVELS = "_.-^"


def column_means(values: npt.ArrayLike, columns: int) -> FloatArray:
    """The mean of the finite values in each of ``columns`` equal slices of
    ``values`` (NaN for a slice without any); ``values`` itself if shorter.

    >>> column_means([1.0, 3.0, 5.0, float("nan"), 2.0, 4.0], 3).tolist()
    [2.0, 5.0, 3.0]
    """
    import numpy as np

    return np.array(_column_means(_floats(values), columns), dtype=np.float64)


def _floats(values: Any) -> list[float]:
    """``values`` (a sequence, an array of any shape, a number) as a flat list of floats."""
    ravel = getattr(values, "ravel", None)
    if callable(ravel):  # a NumPy array: flattened, as before
        values = ravel().tolist()
    if isinstance(values, (int, float)):
        return [float(values)]
    return [float(v) for v in values]


def _column_means(values: list[float], columns: int) -> list[float]:
    """:func:`column_means` on a list: the same operations (running sums,
    slice edges rounded half to even), so the same values."""
    if columns < 1:
        raise InvalidArgumentError(f"columns must be >= 1, got {columns!r}")
    v = [x if math.isfinite(x) else math.nan for x in values]
    n = len(v)
    if n <= columns:
        return v
    step = n / columns
    edges = [round(i * step) for i in range(columns)] + [n]  # as numpy.linspace
    sums = [0.0]
    counts = [0]
    total = 0.0
    count = 0
    for x in v:
        if x == x:
            total += x
            count += 1
        sums.append(total)
        counts.append(count)
    out = []
    for a, b in itertools.pairwise(edges):
        c = counts[b] - counts[a]
        out.append((sums[b] - sums[a]) / c if c > 0 else math.nan)
    return out


def _levels(means: list[float], steps: int) -> list[int | None]:
    """Each mean as a level 0..steps-1 (None for a gap); a flat series sits in the middle."""
    finite = [m for m in means if math.isfinite(m)]
    if not finite:
        return [None] * len(means)
    lo, hi = min(finite), max(finite)
    out: list[int | None] = []
    for value in means:
        if value != value:
            out.append(None)
        elif hi == lo:
            out.append((steps - 1) // 2)
        else:
            out.append(min(steps - 1, int((value - lo) / (hi - lo) * steps)))
    return out


def sparkline(values: npt.ArrayLike, width: int = 60, *, ascii: bool = False) -> str:
    """``values`` as at most ``width`` characters, one per column (gaps are spaces).

    Args:
        values: The series (NaN and infinities are gaps).
        width: Most characters to use.
        ascii: Draw with :data:`ASCII_LEVELS` instead of :data:`BLOCK_LEVELS`.
    """
    chars = ASCII_LEVELS if ascii else BLOCK_LEVELS
    levels = _levels(_column_means(_floats(values), width), len(chars))
    return "".join(" " if level is None else chars[level] for level in levels)


def sparkline_svg(
    values: npt.ArrayLike,
    *,
    width: int = 120,
    height: int = 28,
    color: str = "#4E79A7",
    label: str = "",
) -> str:
    """A small inline ``<svg>`` element drawing ``values`` as a line, with a dot at
    the last finite value; no axes, no text. ``label`` becomes its accessible name.

    The result is an element to put in an HTML page (no XML declaration);
    ``color`` must be ``#RRGGBB`` and ``label`` is escaped.

    >>> svg = sparkline_svg([1.0, 2.0, 4.0], width=40, height=10, label="a<b")
    >>> svg.startswith('<svg class="sparkline"'), 'aria-label="a&lt;b"' in svg
    (True, True)
    """
    import html
    import re

    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", color):
        raise InvalidArgumentError(f"color must be '#RRGGBB', got {color!r}")
    pad = 2.5
    import numpy as np

    means = column_means(values, max(2, int(width // 2)))
    finite = np.isfinite(means)
    body = ""
    if finite.any():
        lo, hi = float(means[finite].min()), float(means[finite].max())
        span = hi - lo or 1.0
        n = means.size
        xs = pad + np.arange(n) * ((width - 2 * pad) / max(1, n - 1))
        mid = height / 2 if hi == lo else None
        ys = (
            np.full(n, mid)
            if mid is not None
            else height - pad - (means - lo) / span * (height - 2 * pad)
        )
        runs: list[list[str]] = [[]]
        for x, y, ok in zip(xs.tolist(), ys.tolist(), finite.tolist(), strict=True):
            if ok:
                runs[-1].append(f"{x:.1f},{y:.1f}")
            elif runs[-1]:
                runs.append([])
        lines = "".join(f'<polyline points="{" ".join(run)}"/>' for run in runs if len(run) > 1)
        last = int(np.flatnonzero(finite)[-1])
        body = (
            f'<g fill="none" stroke="{color}" stroke-width="1.6" stroke-linejoin="round" '
            f'stroke-linecap="round">{lines}</g>'
            f'<circle cx="{xs[last]:.1f}" cy="{ys[last]:.1f}" r="2.2" fill="{color}"/>'
        )
    name = html.escape(label, quote=True)
    return (
        f'<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{name}">{body}</svg>'
    )
