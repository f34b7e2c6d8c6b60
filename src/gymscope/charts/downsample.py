"""Min/max downsampling: at most two points per pixel column, extremes kept.

A line chart cannot show more than one vertical stroke per pixel column, so
for a series longer than the plot is wide, each column keeps only the points
that reach its lowest and its highest value (in their original order). The
drawn line then covers exactly the pixels the full series would have covered,
spikes included, while the SVG and the drawing time stay bounded by the plot
width instead of the run length. All NumPy, no Python loop: a million points
take a few milliseconds.

Non-finite values are gaps: a column with no finite value becomes one NaN
point, which splits the line there. A gap narrower than a column disappears.

>>> import numpy as np
>>> x = np.arange(10.0)
>>> y = np.array([0, 5, 1, 1, -3, 2, 2, 2, 9, 0], dtype=float)
>>> dx, dy = minmax_downsample(x, y, columns=2)
>>> dy.tolist()
[5.0, -3.0, 9.0, 0.0]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["minmax_downsample"]

FloatArray = npt.NDArray[np.float64]


def minmax_downsample(x: FloatArray, y: FloatArray, columns: int) -> tuple[FloatArray, FloatArray]:
    """Reduce ``(x, y)`` to at most ``2 * columns`` points, keeping extremes.

    Args:
        x: Sorted (non-decreasing) x values; finite.
        y: The y values; NaN and infinities are gaps.
        columns: Number of buckets, normally the plot width in pixels.

    Returns:
        ``(x, y)`` of the kept points in their original order. Per bucket:
        the point with the minimum and the one with the maximum (one point
        if they coincide), or a single ``(x, NaN)`` if it has no finite value.
        Series no longer than ``columns`` come back unchanged.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n <= columns or n == 0:
        return x, y
    lo, hi = float(x[0]), float(x[-1])
    # Bucket k holds the x in [lo + k * w, lo + (k + 1) * w): its start is found
    # by binary search, so no per-point bucket numbers are computed.
    if hi > lo:
        edges = lo + (hi - lo) * (np.arange(columns, dtype=np.float64) / columns)
        found = np.searchsorted(x, edges, side="left")  # non-decreasing
        # its distinct values (np.unique would sort again, and its first call
        # imports numpy.ma: 50 ms of every command's start-up)
        distinct = np.empty(found.size, dtype=bool)
        distinct[0] = True
        np.not_equal(found[1:], found[:-1], out=distinct[1:])
        starts = found[distinct]
        starts = starts[starts < n]
        starts[0] = 0
    else:
        starts = np.zeros(1, dtype=np.int64)
    sizes = np.diff(starts, append=n)
    finite = np.isfinite(y)
    if finite.all():
        low = high = y
    else:
        low = np.where(finite, y, np.inf)
        high = np.where(finite, y, -np.inf)
    widest = int(sizes.max())
    if widest * starts.size <= 2 * n + 4096:
        # Buckets of similar size (the usual case, evenly spaced x): one row
        # per bucket, cut from a sliding-window view of the padded values,
        # the cells past a bucket's end masked, one argmin/argmax per row.
        past_end = np.arange(widest) >= sizes[:, None]
        rows_low = sliding_window_view(np.concatenate([low, np.full(widest, np.inf)]), widest)
        rows_low = rows_low[starts]
        np.putmask(rows_low, past_end, np.inf)
        rows_high = sliding_window_view(np.concatenate([high, np.full(widest, -np.inf)]), widest)
        rows_high = rows_high[starts]
        np.putmask(rows_high, past_end, -np.inf)
        first_min = starts + rows_low.argmin(axis=1)
        first_max = starts + rows_high.argmax(axis=1)
    else:
        # Very uneven buckets: reduceat, then the first point reaching each extreme.
        positions = np.arange(n)
        bucket_min = np.minimum.reduceat(low, starts)
        bucket_max = np.maximum.reduceat(high, starts)
        at_min = low == np.repeat(bucket_min, sizes)
        at_max = high == np.repeat(bucket_max, sizes)
        first_min = np.minimum.reduceat(np.where(at_min, positions, n), starts)
        first_max = np.minimum.reduceat(np.where(at_max, positions, n), starts)
    # A bucket without a finite value keeps its first point (a NaN: a gap).
    pair = np.stack([np.minimum(first_min, first_max), np.maximum(first_min, first_max)], axis=1)
    keep = np.ones(pair.shape, dtype=bool)
    keep[:, 1] = pair[:, 1] != pair[:, 0]
    picked = pair[keep]
    out_x = x[picked]
    out_y = y[picked].copy()
    # An all-gap bucket keeps one point, and it must read as a gap (inf -> NaN).
    out_y[~np.isfinite(out_y)] = np.nan
    return out_x, out_y
