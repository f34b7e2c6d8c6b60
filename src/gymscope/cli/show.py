"""``gymscope show``: one run's status, statistics, sparkline, metrics, configs, episodes.

The view is a column of sections, each drawn by its own function:
:func:`_heading`, :func:`_statistics`, :func:`_trend`, :func:`_workers`,
:func:`_metrics`, :func:`_config`, :func:`_config_history` and
:func:`_last_episodes`; :func:`render` stacks them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from gymscope.cli._parser import EXIT_OK, add_command, add_db_and_experiment, positive_int

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

    from gymscope.cli._console import Glyphs
    from gymscope.cli._parser import Subparsers
    from gymscope.metrics.records import (
        ConfigEntry,
        ExperimentInfo,
        MergedStats,
        MetricOverview,
        RunEpisodes,
        RunMetrics,
        RunSummary,
    )

__all__ = ["RunView", "register", "render", "run"]

_SECTION = "bold underline"


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "show",
        summary="show one run: status, statistics, metrics, config, last episodes",
        description=(
            "Show one experiment: its status (running, finished, crashed) and last\n"
            "activity, summary statistics, a sparkline of its moving-average return,\n"
            "its step-keyed training metrics (name, points, first/last step, last\n"
            "value), its configuration and every config it was resumed with, and its\n"
            "last episodes. Averages are run-level: avgN is the mean return of the\n"
            "run's last N episodes, all workers merged in the order they ended\n"
            "(N: the run's window). --by-worker adds a table of each worker's own\n"
            "figures. DB may be left out (./metrics.db); EXPERIMENT is an id or a name."
        ),
        examples=(
            "gymscope show 1",
            "gymscope show gymscope-demo/metrics.db 1 --last 20",
            "gymscope show runs.db CartPole-v1_PPO_20250101-120000_a1b2c3 --by-worker",
        ),
        handler=run,
    )
    add_db_and_experiment(parser)
    parser.add_argument(
        "--last",
        type=positive_int,
        default=10,
        metavar="N",
        help="how many of the last episodes to list (default: %(default)s)",
    )
    parser.add_argument(
        "--by-worker",
        action="store_true",
        help="also list each worker: its episodes, steps, its own last and best moving "
        "average (over its own episodes) and the state of its lease",
    )


def run(args: argparse.Namespace) -> int:
    from gymscope.cli._console import Glyphs, console
    from gymscope.cli._database import db_and_experiment, reading

    db, experiment = db_and_experiment(args)
    with reading(db) as reader:
        info = reader.experiment(experiment)
        episodes = reader.episodes(info)
        view = RunView(
            summary=reader.summary(info, episodes),
            episodes=episodes,
            metrics=tuple(reader.metric_overview(info)),
            configs=tuple(reader.configs(info)),
        )
    out = console()
    out.print(
        render(view, args.last, Glyphs.of(out), out.width, by_worker=args.by_worker), crop=False
    )
    return EXIT_OK


@dataclass(frozen=True)
class RunView:
    """What ``gymscope show`` reads of one run (``metrics``: the run's
    :class:`~gymscope.metrics.records.RunMetrics`, or only their overview)."""

    summary: RunSummary
    episodes: RunEpisodes
    metrics: RunMetrics | tuple[MetricOverview, ...]
    configs: tuple[ConfigEntry, ...] = ()


def render(
    view: RunView, last: int, glyphs: Glyphs, width: int = 80, *, by_worker: bool = False
) -> RenderableType:
    """The whole view of one run."""
    from rich.console import Group
    from rich.text import Text

    def section(title: str) -> list[RenderableType]:
        return [Text(""), Text(title, style=_SECTION)]

    summary, episodes = view.summary, view.episodes
    stats = episodes.merged_stats() if len(episodes) else None
    parts = _heading(summary.experiment, glyphs)
    parts += [*section("Summary"), _statistics(summary, episodes, glyphs)]
    if stats is not None:
        merged = ", all workers in the order episodes ended" if summary.workers > 1 else ""
        parts += [
            *section(f"Moving-average return (avg{stats.window_size}{merged})"),
            _trend(stats.moving_mean, glyphs, width),
        ]
    if by_worker and len(episodes):
        parts += [*section("Workers"), _workers(summary, episodes, glyphs)]
    if len(view.metrics):
        parts += [*section("Training metrics (by step)"), _metrics(view.metrics, glyphs)]
    parts += [*section("Config"), _config(summary.experiment)]
    if len(view.configs) > 1:
        parts += [*section("Config history"), *_config_history(view.configs, glyphs)]
    parts.append(Text(""))
    if len(episodes):
        assert stats is not None
        parts.append(_last_episodes(summary, episodes, stats, last, glyphs))
    else:
        parts.append(Text("No episodes recorded yet.", style="dim"))
    return Group(*parts)


def _heading(info: ExperimentInfo, glyphs: Glyphs) -> list[RenderableType]:
    """``Experiment 1 · name``, then env, agent and gymscope version, dimmed."""
    from rich.text import Text

    title = Text.assemble(("Experiment ", "bold"), (str(info.id), "bold"))
    if info.name:
        title.append(glyphs.dot)
        title.append(info.name, style="bold")
    parts: list[RenderableType] = [title]
    facts = [x for x in (info.env, info.agent) if x]
    if info.gymscope_version:
        facts.append(f"gymscope {info.gymscope_version}")
    if facts:
        parts.append(Text(glyphs.dot.strip().join(f" {x} " for x in facts).strip(), style="dim"))
    return parts


def _grid() -> Table:
    """Two columns: a bold label, then its value."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _statistics(summary: RunSummary, episodes: RunEpisodes, glyphs: Glyphs) -> Table:
    """Status, episodes, steps, return, the run-level moving averages, length,
    endings, start and duration."""
    import math

    from rich.text import Text

    from gymscope._format import format_count, format_duration, format_number, format_time

    num = partial(format_number, missing=glyphs.missing)
    stats = _grid()
    stats.add_row("Status", _status_text(summary, glyphs))
    rewards = episodes.float_list("reward")
    finite = [r for r in rewards if math.isfinite(r)]
    lengths = [x for x in episodes.float_list("length") if x == x]
    workers = f" ({summary.workers} workers)" if summary.workers > 1 else ""
    stats.add_row("Episodes", Text(format_count(len(episodes)) + workers))
    stats.add_row("Steps", Text(format_count(summary.steps)))
    if finite:
        top = max(finite)
        best = rewards.index(top)
        many = summary.workers > 1 and "worker" in episodes.values
        who = f" of worker {episodes.values['worker'][best]}" if many else ""
        mean, std = _mean_std(finite)
        spread = f"{num(mean)} {glyphs.plus_minus} {num(std)}"
        stats.add_row(
            "Return",
            Text(
                f"mean {spread}, min {num(min(finite))}, "
                f"max {num(top)} (episode {episodes.values['episode_num'][best]}"
                f"{who})"
            ),
        )
    avg = f"avg{summary.window_size}"
    scope = " (all workers)" if summary.workers > 1 else ""
    stats.add_row(f"Best {avg}", Text(num(summary.best_moving_avg) + scope, style="bold green"))
    stats.add_row(f"Last {avg}", Text(num(summary.last_moving_avg) + scope, style="bold green"))
    stats.add_row(
        f"Return EMA {summary.experiment.stats_alpha:g}", Text(num(summary.last_ema) + scope)
    )
    if lengths:
        stats.add_row(
            "Length",
            Text(
                f"mean {num(_mean_std(lengths)[0])}, min {num(min(lengths))}, "
                f"max {num(max(lengths))}"
            ),
        )
        ends = [
            f"{sum(bool(v) for v in episodes.values[end])} {end}"
            for end in ("terminated", "truncated")
            if end in episodes.values
        ]
        if ends:
            stats.add_row("Endings", Text(", ".join(ends)))
    started = format_time(summary.started, seconds=True, missing=glyphs.missing)
    stats.add_row("Started", Text(started))
    duration = summary.duration_s
    rate = f" ({format_count(round(summary.steps / duration))} steps/s)" if duration else ""
    stats.add_row("Duration", Text(format_duration(duration, missing=glyphs.missing) + rate))
    return stats


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (NumPy's ``mean``/``std``, to rounding)."""
    import math

    n = len(values)
    mean = math.fsum(values) / n
    try:
        return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
    except (OverflowError, ValueError):  # returns beyond ~1e154
        return mean, math.inf


def _status_text(summary: RunSummary, glyphs: Glyphs) -> Text:
    """``running``/``finished``/``crashed``, the workers concerned when the run
    has several, and the last activity."""
    from rich.text import Text

    from gymscope._format import format_time
    from gymscope.cli.runs import STATE_STYLES

    status = summary.status
    text = Text(status.label, style=STATE_STYLES.get(status.state, ""))
    details = []
    if summary.workers > 1 or len(status.running) + len(status.crashed) > 1:
        if status.running:
            details.append("running: worker " + ", ".join(map(str, status.running)))
        if status.crashed:
            details.append("crashed: worker " + ", ".join(map(str, status.crashed)))
    if details:
        text.append(f" ({'; '.join(details)})")
    when = format_time(status.last_activity, seconds=True, missing=glyphs.missing)
    text.append(f", last activity {when}", style="dim")
    return text


def _workers(summary: RunSummary, episodes: RunEpisodes, glyphs: Glyphs) -> Table:
    """One row per worker: its episodes, steps, its own last and best moving
    average (over its own episodes) and the state of its lease."""
    from rich.text import Text

    from gymscope._format import format_count, format_number
    from gymscope.cli.runs import STATE_STYLES

    num = partial(format_number, missing=glyphs.missing)
    avg = f"avg{summary.window_size}"
    table = _table("Worker", "Episodes", "Steps", f"Last {avg}", f"Best {avg}", ("Status", "left"))
    for worker in episodes.worker_summaries(summary.status):
        table.add_row(
            Text(str(worker.worker)),
            Text(format_count(worker.episodes)),
            Text(format_count(worker.steps)),
            Text(num(worker.last_moving_avg)),
            Text(num(worker.best_moving_avg)),
            Text(worker.state, style=STATE_STYLES.get(worker.state, "")),
        )
    return table


def _metrics(metrics: RunMetrics | tuple[MetricOverview, ...], glyphs: Glyphs) -> Table:
    """One row per step-keyed metric: its points, first and last step, last value."""
    import math

    from rich.text import Text

    from gymscope._format import format_count, format_number

    table = _table(("Metric", "left"), "Points", "First step", "Last step", "Last value")
    for series in metrics:
        value = series.last_value
        shown = "NaN" if value is not None and math.isnan(value) else None
        table.add_row(
            Text(series.name),
            Text(format_count(len(series))),
            Text(_count_or_missing(series.first_step, glyphs)),
            Text(_count_or_missing(series.last_step, glyphs)),
            Text(shown or format_number(value, missing=glyphs.missing)),
        )
    return table


def _count_or_missing(value: int | None, glyphs: Glyphs) -> str:
    from gymscope._format import format_count

    return glyphs.missing if value is None else format_count(value)


def _table(*columns: str | tuple[str, str]) -> Table:
    """A borderless table with a bold header; columns right-aligned unless
    given as ``(header, "left")``."""
    from rich import box
    from rich.table import Table

    table = Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for column in columns:
        header, justify = column if isinstance(column, tuple) else (column, "right")
        table.add_column(header, justify="left" if justify == "left" else "right", no_wrap=True)
    return table


def _config_history(configs: tuple[ConfigEntry, ...], glyphs: Glyphs) -> list[RenderableType]:
    """Every config the run was started or resumed with, flagged: more than one
    means it was resumed with a different config."""
    import json

    from rich.text import Text

    from gymscope._format import format_time

    parts: list[RenderableType] = [
        Text(
            f"{glyphs.warning}{len(configs)} configs: the run was resumed with a different "
            "config; each is listed with when it was given (the Config above is the first)",
            style="bold yellow",
        )
    ]
    table = _grid()
    previous: Any = None
    for i, entry in enumerate(configs):
        when = format_time(entry.created_at, seconds=True, missing=glyphs.missing)
        who = "" if entry.worker is None else f", worker {entry.worker}"
        value = entry.value()
        if i and isinstance(value, dict) and isinstance(previous, dict):
            changed = sorted(
                k for k in value.keys() | previous.keys() if value.get(k) != previous.get(k)
            )
            shown = {k: value.get(k) for k in changed}
            text = "changed: " + json.dumps(shown, ensure_ascii=False, default=str)
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(Text(f"{i + 1}. {when}{who}"), Text(text))
        previous = value
    parts.append(table)
    return parts


def _trend(trend: Any, glyphs: Glyphs, width: int) -> Text:
    """A sparkline of ``trend``, then its first and last finite values."""
    import math

    from rich.text import Text

    from gymscope._format import format_number
    from gymscope.charts.sparkline import sparkline

    num = partial(format_number, missing=glyphs.missing)
    values = [float(v) for v in trend]
    shown = [v for v in values if math.isfinite(v)]
    span = f"  {num(shown[0])}{glyphs.arrow}{num(shown[-1])}" if shown else ""
    line = sparkline(values, max(10, min(60, width - len(span))), ascii=not glyphs.unicode)
    return Text.assemble((line, "cyan"), span)


def _config(info: ExperimentInfo) -> RenderableType:
    """The stored config: one row per key of a dict, else its JSON."""
    import json

    from rich.text import Text

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    config = info.config_value()
    if isinstance(config, dict) and config:
        table = _grid()
        for key, value in config.items():
            table.add_row(Text(str(key)), Text(text(value)))
        return table
    if config in ({}, [], "", None):
        return Text("(none stored)", style="dim")
    return Text(text(config))


def _last_episodes(
    summary: RunSummary, episodes: RunEpisodes, stats: MergedStats, last: int, glyphs: Glyphs
) -> Table:
    """The ``last`` episodes that ended last: one row each, oldest first."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from gymscope._format import format_count, format_duration, format_number

    n = len(episodes)
    start = max(0, n - last)
    table = Table(
        title=Text(f"Last {n - start} of {format_count(n)} episodes"),
        title_justify="left",
        title_style=_SECTION,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    values = episodes.values
    many_workers = summary.workers > 1 and "worker" in values
    headers = ["Episode", *(["Worker"] if many_workers else []), "Return", "Length"]
    headers += [f"Avg{summary.window_size}", *(["Worker avg"] if many_workers else [])]
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Ended", no_wrap=True)
    table.add_column("Took", justify="right", no_wrap=True)
    table.add_column("How", no_wrap=True)
    num = partial(format_number, missing=glyphs.missing)
    rewards, lengths = episodes.float_list("reward"), episodes.float_list("length")
    avg, stored = stats.moving_mean, episodes.float_list("reward_moving_avg")
    ended = episodes.ended_at()
    durations = episodes.float_list("duration_s")
    for i in range(start, n):
        how = [end for end in ("terminated", "truncated") if end in values and values[end][i]]
        row = [str(values["episode_num"][i]), *([str(values["worker"][i])] if many_workers else [])]
        row += [
            num(rewards[i]),
            num(lengths[i]),
            num(avg[i]),
            *([num(stored[i])] if many_workers else []),
            _clock(ended[i], glyphs.missing),
            format_duration(durations[i], missing=glyphs.missing),
            ", ".join(how) or glyphs.missing,
        ]
        table.add_row(*(Text(cell) for cell in row))
    return table


def _clock(when: Any, missing: str) -> str:
    """Local time of day (the date is the run's, shown above it)."""
    return missing if when is None else str(when.astimezone().strftime("%H:%M:%S"))
