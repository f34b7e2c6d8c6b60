"""``gymscope runs``: the runs (experiments) of a metrics database, as a table."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, add_command, add_db_argument

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from gymscope.cli._parser import Subparsers
    from gymscope.metrics.records import RunSummary

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "runs",
        summary="list the runs (experiments) in a metrics database",
        description=(
            "List every experiment in a metrics database: id, name, env, agent, its\n"
            "status (running, finished, crashed), episodes, env steps, the best and\n"
            "last moving-average return (avgN: over the run's last N episodes, all\n"
            "workers merged in the order they ended), when it started, how long it\n"
            "ran and its last activity. Nothing is written to the database; per-worker\n"
            "figures: gymscope show RUN --by-worker."
        ),
        examples=(
            "gymscope runs",
            "gymscope runs gymscope-demo/metrics.db",
            "gymscope runs postgresql+psycopg://me@db-host/metrics",
        ),
        handler=run,
    )
    add_db_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gymscope.cli._console import Glyphs, console, print_line
    from gymscope.cli._database import reading

    with reading(args.db) as reader:
        runs = reader.runs()
        where = str(reader.path) if reader.path is not None else reader.description
    out = console()
    if not runs:
        print_line(out, f"No runs in {where} yet.")
        return EXIT_OK
    print_line(out, f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}", style="bold")
    out.print(_table(runs, Glyphs.of(out).missing, out.width))
    return EXIT_OK


def _table(runs: list[RunSummary], missing: str, width: int) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from gymscope._format import format_time

    cells = [_cells(run, missing) for run in runs]
    # Every column side by side when the terminal is wide enough for the
    # longest name; otherwise env/agent go under the name and the duration
    # under the start time.
    wide = width >= 112 + max(len(c[0]) + len(c[1]) + len(c[2]) for c in cells)
    windows = {run.window_size for run in runs}
    avg = f"avg{next(iter(windows))}" if len(windows) == 1 else "avg"
    table = Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("ID", justify="right", no_wrap=True)
    if wide:
        table.add_column("Name", no_wrap=True)
        table.add_column("Env", no_wrap=True)
        table.add_column("Agent", no_wrap=True)
        table.add_column("Status", no_wrap=True)
    else:
        table.add_column("Name / env, agent / status", overflow="fold", min_width=16)
    for header in ("Episodes", "Steps", f"Best {avg}", f"Last {avg}"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    if wide:
        table.add_column("Duration", justify="right", no_wrap=True)
        table.add_column("Last activity", no_wrap=True)
    for run, (name, env, agent, started, took) in zip(runs, cells, strict=True):
        numbers = _numbers(run, missing, with_window=len(windows) > 1)
        status = _status(run)
        active = format_time(run.status.last_activity, seconds=True, missing=missing)
        if wide:
            table.add_row(
                Text(str(run.id)), name, env, agent, status, *numbers, started, took, Text(active)
            )
        else:
            what = Text(", ".join(x for x in (run.env, run.agent) if x), style="dim")
            day, _, clock = started.plain.partition(" ")
            table.add_row(
                Text(str(run.id)),
                Text.assemble(
                    name, "\n", what, "\n", status, (f", last {_clock(run, missing)}", "dim")
                ),
                *numbers,
                Text.assemble(
                    day, "\n", (f"{clock}, {took.plain}" if clock else took.plain, "dim")
                ),
            )
    return table


#: How a run's state is coloured in the terminal.
STATE_STYLES = {"running": "bold cyan", "finished": "green", "crashed": "bold red", "empty": "dim"}


def _clock(run: RunSummary, missing: str) -> str:
    """The local time of day of the run's last activity."""
    when = run.status.last_activity
    return missing if when is None else str(when.astimezone().strftime("%H:%M:%S"))


def _status(run: RunSummary) -> Text:
    from rich.text import Text

    return Text(run.status.label, style=STATE_STYLES.get(run.status.state, ""))


def _cells(run: RunSummary, missing: str) -> tuple[Text, Text, Text, Text, Text]:
    """Name, env, agent, start and duration: the cells that may be stacked."""
    from rich.text import Text

    from gymscope._format import format_duration, format_time

    return (
        Text(run.name or missing),
        Text(run.env or missing),
        Text(run.agent or missing),
        Text(format_time(run.started, missing=missing)),
        Text(format_duration(run.duration_s, missing=missing)),
    )


def _numbers(run: RunSummary, missing: str, *, with_window: bool = False) -> list[Text]:
    """Episodes, steps and the run-level best and last moving average; with
    ``with_window`` (runs of different windows in one table) each average
    says its window: ``12.5 (avg50)``."""
    from rich.text import Text

    from gymscope._format import format_count, format_number

    suffix = f" (avg{run.window_size})" if with_window else ""
    best = format_number(run.best_moving_avg, missing=missing)
    last = format_number(run.last_moving_avg, missing=missing)
    return [
        Text(format_count(run.episodes)),
        Text(format_count(run.steps)),
        Text(best + (suffix if run.best_moving_avg is not None else ""), style="bold"),
        Text(last + (suffix if run.last_moving_avg is not None else "")),
    ]
