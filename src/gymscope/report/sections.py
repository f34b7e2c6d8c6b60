"""What the report page shows, as plain data for its template.

Every field is text the template escapes, except the charts: inline SVG
drawn by :mod:`gymscope.charts` (which escapes the labels it draws), marked
safe here, where it is made, and nowhere else.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from markupsafe import Markup

from gymscope._format import format_count, format_duration, format_number, format_time
from gymscope.charts.experiment import (
    comparison_charts,
    experiment_charts,
    metric_charts,
    worker_chart,
)
from gymscope.charts.layout import LineChart, layout_chart
from gymscope.charts.sparkline import sparkline_svg
from gymscope.charts.svg import render_svg
from gymscope.metrics.records import RunEpisodes, RunMetrics, RunStatus, RunSummary
from gymscope.report.join import RunMedia

__all__ = [
    "MAX_COMPARED",
    "Comparison",
    "ConfigHistoryEntry",
    "ConfigView",
    "MediaCard",
    "RunRow",
    "RunSection",
    "Stat",
    "StatusView",
    "comparison",
    "media_cards",
    "run_rows",
    "run_section",
    "status_view",
]

#: Runs drawn on the comparison chart (the palette has 10 colours).
MAX_COMPARED = 10
_CHART_WIDE = (1040, 390)
_CHART_SMALL = (560, 330)


def _svg(chart: LineChart) -> Markup:
    """``chart`` as an inline ``<svg>`` element (no XML declaration)."""
    text = render_svg(layout_chart(chart))
    return Markup(text[text.index("<svg") :])  # drawn by gymscope.charts


def _anchor(run_id: int) -> str:
    return f"run-{run_id}"


def _link(target: Path, base: Path) -> str:
    """A URL for ``target`` relative to folder ``base`` (a file URI if there is none)."""
    try:
        relative = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return target.resolve().as_uri()
    return urllib.parse.quote(Path(relative).as_posix(), safe="/")


def _trend(run: RunEpisodes | None, window: int | None) -> npt.NDArray[np.float64]:
    """The run-level moving average (all workers merged in end order)."""
    if run is None or not len(run):
        return np.empty(0)
    return run.run_stats(window).moving_mean


@dataclass(frozen=True)
class StatusView:
    """A run's state as the page shows it: a badge and the last activity."""

    state: str
    label: str
    last_activity: str
    detail: str


def status_view(summary: RunSummary) -> StatusView:
    """The status badge of a run (see :class:`~gymscope.metrics.records.RunStatus`)."""
    status: RunStatus = summary.status
    detail = []
    if summary.workers > 1 or len(status.running) + len(status.crashed) > 1:
        if status.running:
            detail.append("running: worker " + ", ".join(map(str, status.running)))
        if status.crashed:
            detail.append("crashed: worker " + ", ".join(map(str, status.crashed)))
    when = format_time(status.last_activity, utc=True, seconds=True).removesuffix(" UTC")
    return StatusView(status.state, status.label, when, "; ".join(detail))


# -- the runs table ------------------------------------------------------------------
@dataclass(frozen=True)
class RunRow:
    """One line of the runs table."""

    id: int
    anchor: str
    label: str
    what: str
    episodes: str
    steps: str
    best: str
    last: str
    window: int
    trend: Markup
    started: str
    duration: str
    status: StatusView


def run_rows(
    summaries: Sequence[RunSummary], episodes: Mapping[int, RunEpisodes], window: int | None
) -> list[RunRow]:
    """The runs table: run-level best and last moving average (over each run's
    own window), a sparkline of it, and the run's status. A run without its
    ``episodes`` has no section to link to and no sparkline."""
    rows = []
    for run in summaries:
        spark = Markup("")
        if run.id in episodes:
            trend = _trend(episodes[run.id], run.window_size)
            label = f"run-level moving-average return (avg{run.window_size}) of run {run.id}"
            spark = Markup(sparkline_svg(trend, width=104, label=label))  # it escapes the label
        rows.append(
            RunRow(
                id=run.id,
                anchor=_anchor(run.id) if run.id in episodes else "",
                label=run.experiment.label,
                what=" · ".join(x for x in (run.env, run.agent) if x),
                episodes=format_count(run.episodes),
                steps=format_count(run.steps),
                best=format_number(run.best_moving_avg),
                last=format_number(run.last_moving_avg),
                window=run.window_size,
                trend=spark,
                started=format_time(run.started, utc=True).removesuffix(" UTC"),
                duration=format_duration(run.duration_s),
                status=status_view(run),
            )
        )
    return rows


@dataclass(frozen=True)
class Comparison:
    """The chart of every run's moving average; ``latest`` when not all runs fit."""

    svg: Markup
    latest: int | None


def comparison(
    summaries: Sequence[RunSummary], episodes: Mapping[int, RunEpisodes], window: int | None
) -> Comparison | None:
    """The comparison chart, or None with fewer than two runs that have episodes."""
    with_episodes = [episodes[run.id] for run in summaries if run.episodes]
    compared = with_episodes[-MAX_COMPARED:]
    if len(compared) < 2:
        return None
    (_, chart), *_ = comparison_charts(
        compared, window, width=_CHART_WIDE[0], height=_CHART_WIDE[1]
    )
    return Comparison(_svg(chart), MAX_COMPARED if len(compared) < len(with_episodes) else None)


# -- videos --------------------------------------------------------------------------
@dataclass(frozen=True)
class MediaCard:
    """A player (``<video>`` or ``<img>``) with its caption."""

    kind: Literal["video", "image"]
    url: str
    file: str
    badge: str
    heading: str
    alt: str
    width: int | None
    height: int | None
    return_text: str | None
    length_text: str | None
    worker: int | None
    detail: str


def media_cards(items: Sequence[RunMedia], base: Path) -> list[MediaCard]:
    """Cards of ``items``, linked relative to folder ``base``."""
    return [_card(shown, base) for shown in items]


def _card(shown: RunMedia, base: Path) -> MediaCard:
    item = shown.item
    episode = item.number("episode")
    value = item.number("return")
    length = item.number("length")
    frames, fps = item.number("frames"), item.number("fps")
    width, height = item.number("width"), item.number("height")
    step = item.number("step")
    if item.sidecar.get("trigger") == "step" and step is not None:
        heading = f"Step {format_count(int(step))}"
    elif episode is not None:
        heading = f"Episode {format_count(int(episode))}"
    else:
        heading = item.path.stem
    detail = []
    if frames is not None and fps:
        detail.append(f"{format_count(int(frames))} frames at {format_number(fps)} fps")
    detail.append(item.path.name)
    alt = f"{heading} of the recorded run" + (
        f", return {format_number(value)}" if value is not None else ""
    )
    suffix = item.path.suffix
    sized = bool(width and height)
    return MediaCard(
        kind=item.kind,
        url=_link(item.path, base),
        file=item.path.name,
        badge="GIF" if suffix.lower() == ".gif" else suffix[1:].upper(),
        heading=heading,
        alt=alt,
        width=int(width) if sized and width else None,
        height=int(height) if sized and height else None,
        return_text=None if value is None else format_number(value),
        length_text=None if length is None else format_count(int(length)),
        worker=shown.worker,
        detail=" · ".join(detail),
    )


# -- one run -------------------------------------------------------------------------
@dataclass(frozen=True)
class Stat:
    """A labelled figure; ``hint`` becomes its tooltip."""

    label: str
    value: str
    hint: str = ""


@dataclass(frozen=True)
class ConfigEntry:
    """A key of the stored configuration: its value as code, as a block, or ``""``."""

    key: str
    kind: Literal["code", "block", "empty"]
    text: str


@dataclass(frozen=True)
class ConfigView:
    """The stored configuration: none, a table of keys, or one block of text."""

    entries: tuple[ConfigEntry, ...] | None
    text: str | None


def config_view(value: Any) -> ConfigView:
    if value in ({}, [], "", None):
        return ConfigView(None, None)
    if isinstance(value, dict):
        entries = []
        for key, item in value.items():
            if isinstance(item, str):
                entry = ConfigEntry(str(key), "code" if item else "empty", item)
            elif isinstance(item, (dict, list)) and item:
                text = json.dumps(item, indent=2, ensure_ascii=False)
                entry = ConfigEntry(str(key), "block", text)
            else:
                entry = ConfigEntry(str(key), "code", json.dumps(item, ensure_ascii=False))
            entries.append(entry)
        return ConfigView(tuple(entries), None)
    if isinstance(value, str):
        return ConfigView(None, value)
    return ConfigView(None, json.dumps(value, indent=2, ensure_ascii=False))


@dataclass(frozen=True)
class RunSection:
    """A run's card: header, figures, charts, videos and configuration."""

    id: int
    anchor: str
    label: str
    env: str
    agent: str
    when: str
    stats: tuple[Stat, ...]
    charts: tuple[Markup, ...]
    has_episodes: bool
    media: tuple[MediaCard, ...]
    config: ConfigView
    status: StatusView
    metric_charts: tuple[Markup, ...] = ()
    configs: tuple[ConfigHistoryEntry, ...] = ()


@dataclass(frozen=True)
class ConfigHistoryEntry:
    """One of the configs a run was started or resumed with."""

    when: str
    worker: str
    text: str


def run_section(
    summary: RunSummary,
    run: RunEpisodes,
    media: Sequence[RunMedia],
    base: Path,
    window: int | None = None,
    *,
    metrics: RunMetrics | None = None,
    configs: Sequence[Any] = (),
) -> RunSection:
    """A run's card. Its "Best avgN"/"Last avgN" and the return chart's moving
    average are run-level (all workers merged in the order episodes ended,
    ``window`` episodes, default the run's own window); a run of several
    workers gets a chart of each worker's own moving average; every
    step-keyed metric a chart against env steps."""
    info = summary.experiment
    when = [f"started {format_time(summary.started, utc=True)}"] if summary.started else []
    if summary.workers > 1:
        when.append(f"{summary.workers} workers")
    if info.gymscope_version:
        when.append(f"gymscope {info.gymscope_version}")
    rewards = run.rewards
    finite = rewards[np.isfinite(rewards)]
    best_return = float(finite.max()) if finite.size else None
    mean_length = float(np.nanmean(run.lengths)) if len(run) else None
    merged = "all workers' episodes in the order they ended" if summary.workers > 1 else ""
    scope = f" over the last {summary.window_size} episodes" + (f" ({merged})" if merged else "")
    avg = f"avg{summary.window_size}"
    stats = (
        Stat("Episodes", format_count(summary.episodes)),
        Stat("Steps", format_count(summary.steps)),
        Stat(
            f"Best {avg}",
            format_number(summary.best_moving_avg),
            f"highest run-level moving-average return{scope}",
        ),
        Stat(
            f"Last {avg}",
            format_number(summary.last_moving_avg),
            f"run-level moving-average return at the end{scope}",
        ),
        Stat("Best return", format_number(best_return)),
        Stat("Mean length", format_number(mean_length)),
        Stat("Duration", format_duration(summary.duration_s)),
    )
    width, height = _CHART_SMALL
    charts: tuple[Markup, ...] = ()
    if len(run):
        drawn = experiment_charts(run, window, width=width, height=height)
        if summary.workers > 1:
            drawn.insert(1, worker_chart(run, window, width=width, height=height))
        charts = tuple(_svg(chart) for _, chart in drawn)
    drawn_metrics: tuple[Markup, ...] = ()
    if metrics is not None and len(metrics):
        started = run.started_at()
        drawn_metrics = tuple(
            _svg(chart)
            for _, chart in metric_charts(
                metrics,
                start=None if started is None else started.timestamp(),
                width=width,
                height=height,
            )
        )
    history = tuple(
        ConfigHistoryEntry(
            format_time(entry.created_at, utc=True, seconds=True),
            "" if entry.worker is None else f"worker {entry.worker}",
            entry.config,
        )
        for entry in configs
    )
    return RunSection(
        id=info.id,
        anchor=_anchor(info.id),
        label=info.label,
        env=info.env,
        agent=info.agent,
        when=" · ".join(when),
        stats=stats,
        charts=charts,
        has_episodes=bool(len(run)),
        media=tuple(media_cards(media, base)),
        config=config_view(info.config_value()),
        status=status_view(summary),
        metric_charts=drawn_metrics,
        configs=history if len(history) > 1 else (),
    )
