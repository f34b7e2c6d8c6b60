"""``gymscope show``: one run's configuration, statistics, sparkline and last episodes.

The view is a column of sections, each drawn by its own function:
:func:`_heading`, :func:`_statistics`, :func:`_trend`, :func:`_config` and
:func:`_last_episodes`; :func:`render` stacks them.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING, Any

from gymscope.cli._parser import EXIT_OK, add_command, add_db_and_experiment, positive_int

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

    from gymscope.cli._console import Glyphs
    from gymscope.cli._parser import Subparsers
    from gymscope.metrics.queries import ExperimentInfo, RunEpisodes, RunSummary

__all__ = ["register", "render", "run"]

_SECTION = "bold underline"


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "show",
        summary="show one run: config, statistics, last episodes, a sparkline",
        description=(
            "Show one experiment: its configuration, summary statistics, a sparkline\n"
            "of its moving-average return and its last episodes. DB may be left out\n"
            "(./metrics.db); EXPERIMENT is an id or a name."
        ),
        examples=(
            "gymscope show 1",
            "gymscope show gymscope-demo/metrics.db 1 --last 20",
            "gymscope show runs.db CartPole-v1_PPO_20250101-120000_a1b2c3",
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


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gymscope.charts.curves import rolling_mean
    from gymscope.cli._console import Glyphs, console
    from gymscope.cli._database import db_and_experiment, reading

    db, experiment = db_and_experiment(args)
    with reading(db) as reader:
        info = reader.experiment(experiment)
        summary = reader.summary(info)
        episodes = reader.episodes(info)
    out = console()
    trend = episodes.moving_avg
    label = "as logged"
    if len(episodes) and not np.isfinite(trend).any():
        trend, label = rolling_mean(episodes.rewards, 100), "over 100 episodes"
    view = render(summary, episodes, trend, label, args.last, Glyphs.of(out), out.width)
    out.print(view, crop=False)
    return EXIT_OK


def render(
    summary: RunSummary,
    episodes: RunEpisodes,
    trend: Any,
    trend_label: str,
    last: int,
    glyphs: Glyphs,
    width: int = 80,
) -> RenderableType:
    """The whole view of one run; ``trend`` is the moving average drawn as a sparkline."""
    from rich.console import Group
    from rich.text import Text

    def section(title: str) -> list[RenderableType]:
        return [Text(""), Text(title, style=_SECTION)]

    parts = _heading(summary.experiment, glyphs)
    parts += [*section("Summary"), _statistics(summary, episodes, glyphs)]
    if len(episodes):
        parts += [
            *section(f"Moving-average return ({trend_label})"),
            _trend(trend, glyphs, width),
        ]
    parts += [*section("Config"), _config(summary.experiment), Text("")]
    if len(episodes):
        parts.append(_last_episodes(summary, episodes, last, glyphs))
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
    """Episodes, steps, return, moving average, length, endings, start and duration."""
    import numpy as np
    from rich.text import Text

    from gymscope._format import format_count, format_duration, format_number, format_time

    num = partial(format_number, missing=glyphs.missing)
    stats = _grid()
    rewards = episodes.rewards
    finite = rewards[np.isfinite(rewards)]
    lengths = episodes.lengths
    workers = f" ({summary.workers} workers)" if summary.workers > 1 else ""
    stats.add_row("Episodes", Text(format_count(len(episodes)) + workers))
    stats.add_row("Steps", Text(format_count(summary.steps)))
    if finite.size:
        best = int(np.flatnonzero(rewards == finite.max())[0])
        spread = f"{num(float(finite.mean()))} {glyphs.plus_minus} {num(float(finite.std()))}"
        stats.add_row(
            "Return",
            Text(
                f"mean {spread}, min {num(float(finite.min()))}, "
                f"max {num(float(finite.max()))} (episode {episodes.values['episode_num'][best]})"
            ),
        )
    stats.add_row(
        "Moving avg return",
        Text.assemble(
            "best ",
            (num(summary.best_moving_avg), "bold green"),
            ", last ",
            (num(summary.last_moving_avg), "bold green"),
        ),
    )
    if len(episodes):
        stats.add_row(
            "Length",
            Text(
                f"mean {num(float(np.nanmean(lengths)))}, min {num(float(np.nanmin(lengths)))}, "
                f"max {num(float(np.nanmax(lengths)))}"
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


def _trend(trend: Any, glyphs: Glyphs, width: int) -> Text:
    """A sparkline of ``trend``, then its first and last finite values."""
    import numpy as np
    from rich.text import Text

    from gymscope._format import format_number
    from gymscope.charts.sparkline import sparkline

    num = partial(format_number, missing=glyphs.missing)
    values = np.asarray(trend, dtype=np.float64)
    shown = values[np.isfinite(values)]
    span = f"  {num(float(shown[0]))}{glyphs.arrow}{num(float(shown[-1]))}" if shown.size else ""
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


def _last_episodes(summary: RunSummary, episodes: RunEpisodes, last: int, glyphs: Glyphs) -> Table:
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
    headers = ["Episode", *(["Worker"] if many_workers else []), "Return", "Length", "Moving avg"]
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Ended", no_wrap=True)
    table.add_column("Took", justify="right", no_wrap=True)
    table.add_column("How", no_wrap=True)
    num = partial(format_number, missing=glyphs.missing)
    rewards, lengths, avg = episodes.rewards, episodes.lengths, episodes.moving_avg
    ended = episodes.ended_at()
    durations = episodes.floats("duration_s")
    for i in range(start, n):
        how = [end for end in ("terminated", "truncated") if end in values and values[end][i]]
        row = [str(values["episode_num"][i]), *([str(values["worker"][i])] if many_workers else [])]
        row += [
            num(float(rewards[i])),
            num(float(lengths[i])),
            num(float(avg[i])),
            _clock(ended[i], glyphs.missing),
            format_duration(float(durations[i]), missing=glyphs.missing),
            ", ".join(how) or glyphs.missing,
        ]
        table.add_row(*(Text(cell) for cell in row))
    return table


def _clock(when: Any, missing: str) -> str:
    """Local time of day (the date is the run's, shown above it)."""
    return missing if when is None else str(when.astimezone().strftime("%H:%M:%S"))
