"""Training-curve charts: a raw series drawn faint with its moving average bold.

Shared by :class:`~gymscope.wrappers.curves.CurveRecorderWrapper` (from the
arrays it keeps) and :func:`~gymscope.charts.plot_experiment` (from the
metrics database), so a run looks the same whichever way it was recorded.

>>> import numpy as np
>>> rolling_mean(np.array([1.0, 3.0, np.nan, 5.0]), window=2).tolist()
[1.0, 2.0, 3.0, 5.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gymscope._files import safe_name
from gymscope.charts.layout import PALETTE, LineChart, Series
from gymscope.charts.write import write_chart

__all__ = [
    "AVG_WIDTH",
    "RAW_OPACITY",
    "RAW_WIDTH",
    "TIME_LABEL",
    "chart_stems",
    "curve_chart",
    "curve_charts",
    "rolling_mean",
    "write_curve_charts",
]

FloatArray = npt.NDArray[np.float64]

#: The raw series is faint, the moving average bold (the reference design's look).
RAW_OPACITY = 0.25
RAW_WIDTH = 1.5
AVG_WIDTH = 2.75
EMPTY_MESSAGE = "no episodes yet"
#: The x-axis label of charts against wall time (fractional ticks).
TIME_LABEL = "seconds since the start"
REWARD_COLOR = PALETTE[0]
LENGTH_COLOR = PALETTE[1]
METRIC_COLORS = PALETTE[2:]


def rolling_mean(values: npt.ArrayLike, window: int) -> FloatArray:
    """Mean of the finite values among the last ``window`` (fewer at the start).

    O(n) with cumulative sums; NaN where the window holds no finite value.
    Used for series the episode tracker does not average itself (lengths,
    captured info values, logged metrics): a metric reported only in some
    episodes is averaged over the episodes that reported it.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    finite = np.isfinite(v)
    sums = np.concatenate(([0.0], np.cumsum(np.where(finite, v, 0.0))))
    counts = np.concatenate(([0], np.cumsum(finite)))
    end = np.arange(1, n + 1)
    start = np.maximum(0, end - window)
    total = sums[end] - sums[start]
    count = counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def curve_chart(
    title: str,
    y_label: str,
    values: npt.ArrayLike,
    window: int,
    *,
    moving_avg: npt.ArrayLike | None = None,
    first_episode: int = 0,
    color: str = REWARD_COLOR,
    label: str | None = None,
    width: int = 960,
    height: int = 540,
    x: npt.ArrayLike | None = None,
    x_label: str = "episode",
) -> LineChart:
    """The chart of one per-episode series: raw values faint, ``avg{window}`` bold.

    Args:
        title: Chart title.
        y_label: Name of the values (y axis label and legend entry).
        values: One value per episode.
        window: Episodes in the moving average (named in the legend).
        moving_avg: The moving average, if already known (the tracker's);
            otherwise computed with :func:`rolling_mean`.
        first_episode: Episode number of ``values[0]``.
        color: Colour of both lines.
        label: Legend entry of the raw series (default ``y_label``).
        width: Chart width in pixels.
        height: Chart height in pixels.
        x: Where each episode is on the x axis (sorted: env steps, seconds...);
            default: its episode number.
        x_label: Text under the x axis (``"episode"``: whole-number ticks).
    """
    y = np.asarray(values, dtype=np.float64)
    avg = rolling_mean(y, window) if moving_avg is None else np.asarray(moving_avg, np.float64)
    if x is None:
        xs = np.arange(first_episode, first_episode + y.size, dtype=np.float64)
    else:
        xs = np.asarray(x, dtype=np.float64)
    series = [
        Series(y, label or y_label, x=xs, color=color, opacity=RAW_OPACITY, width=RAW_WIDTH),
        Series(avg, f"avg{window}", x=xs, color=color, width=AVG_WIDTH),
    ]
    return LineChart(
        title,
        series,
        x_label=x_label,
        y_label=y_label,
        width=width,
        height=height,
        x_integer=x is None or x_label != TIME_LABEL,
        empty_message=EMPTY_MESSAGE,
    )


def chart_stems(prefix: str, names: list[str]) -> dict[str, str]:
    """File stems ``{prefix}_{name}_curve`` for extra series, unique and safe.

    Names are sanitised (:func:`gymscope._files.safe_name`); a stem already
    taken (by ``reward``, ``length`` or an earlier name) gets ``_2``, ``_3``...

    >>> stems = chart_stems("training", ["loss", "../x", "loss!", "reward"])
    >>> stems["loss"], stems["../x"], stems["loss!"], stems["reward"]
    ('training_loss_curve', 'training_x_curve', 'training_loss_2_curve', 'training_reward_2_curve')
    """
    taken = {"reward", "length"}
    stems = {}
    for name in names:
        base = safe_name(name, fallback="metric")
        stem, k = base, 2
        while stem in taken:
            stem, k = f"{base}_{k}", k + 1
        taken.add(stem)
        stems[name] = f"{prefix}_{stem}_curve"
    return stems


def curve_charts(
    prefix: str,
    *,
    returns: npt.ArrayLike,
    lengths: npt.ArrayLike,
    window: int,
    moving_avg: npt.ArrayLike | None = None,
    extras: Mapping[str, npt.ArrayLike] | None = None,
    first_episode: int = 0,
    subject: str = "",
    width: int = 960,
    height: int = 540,
    x: npt.ArrayLike | None = None,
    x_label: str = "episode",
) -> list[tuple[str, LineChart]]:
    """The reward, length and extra-series charts of a run, with their file stems.

    Stems: ``{prefix}_reward_curve``, ``{prefix}_length_curve`` and one
    ``{prefix}_{name}_curve`` per extra series (see :func:`chart_stems`).
    Arguments as :func:`write_curve_charts`; ``width``/``height`` size every
    chart, ``x``/``x_label`` place the episodes as :func:`curve_chart` does.
    """
    lead = f"{subject} · " if subject else ""

    def chart(title: str, label: str, values: npt.ArrayLike, **style: Any) -> LineChart:
        return curve_chart(
            f"{lead}{title}",
            label,
            values,
            window,
            first_episode=first_episode,
            width=width,
            height=height,
            x=x,
            x_label=x_label,
            **style,
        )

    reward = chart("Episode return", "return", returns, moving_avg=moving_avg)
    length = chart("Episode length", "length", lengths, color=LENGTH_COLOR)
    charts = [(f"{prefix}_reward_curve", reward), (f"{prefix}_length_curve", length)]
    extras = extras or {}
    stems = chart_stems(prefix, list(extras))
    for i, (name, values) in enumerate(extras.items()):
        color = METRIC_COLORS[i % len(METRIC_COLORS)]
        charts.append((stems[name], chart(name, name, values, color=color)))
    return charts


def write_curve_charts(
    output_dir: Path,
    prefix: str,
    *,
    returns: npt.ArrayLike,
    lengths: npt.ArrayLike,
    window: int,
    moving_avg: npt.ArrayLike | None = None,
    extras: Mapping[str, npt.ArrayLike] | None = None,
    first_episode: int = 0,
    subject: str = "",
    scale: float = 1.0,
) -> list[Path]:
    """Write the reward, length and extra-series charts (SVG + PNG each).

    Files: ``{prefix}_reward_curve``, ``{prefix}_length_curve`` and one
    ``{prefix}_{name}_curve`` per extra series (see :func:`chart_stems`),
    each ``.svg`` and ``.png``, written atomically into ``output_dir``.

    Args:
        output_dir: Existing folder for the files.
        prefix: Start of every file name (already a safe name).
        returns: Return of each episode.
        lengths: Length of each episode.
        window: Moving-average window, in episodes.
        moving_avg: The returns' moving average (computed when None).
        extras: More per-episode series by name (NaN where missing).
        first_episode: Episode number of the first values.
        subject: What ran (env id, experiment), put in front of the titles.
        scale: PNG resolution relative to the 960x540 layout.

    Returns:
        The written paths, in order.
    """
    charts = curve_charts(
        prefix,
        returns=returns,
        lengths=lengths,
        window=window,
        moving_avg=moving_avg,
        extras=extras,
        first_episode=first_episode,
        subject=subject,
    )
    written: list[Path] = []
    for stem, chart in charts:
        written += write_chart(chart, output_dir / stem, scale=scale)
    return written
