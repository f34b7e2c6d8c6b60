"""``gymscope runs``: the runs (experiments) of a metrics database, as a table."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, add_command, add_db_argument

if TYPE_CHECKING:
    from rich.console import RenderableType
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
            "status (running, finished, crashed), episodes, env steps, the last\n"
            "moving-average return (avgN: over the run's last N episodes, all workers\n"
            "merged in the order they ended), when it started, how long it ran and its\n"
            "last activity. It reads a few rows per run, however many episodes the\n"
            "database holds: the best moving average, which needs all of a run's\n"
            "episodes, is in gymscope show RUN (per worker: --by-worker). Nothing is\n"
            "written to the database."
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
    out.print(_table(runs, Glyphs.of(out).missing, out.width), soft_wrap=True)
    return EXIT_OK


def _table(runs: list[RunSummary], missing: str, width: int) -> RenderableType:
    """The runs as a table: one line per run when the terminal is wide enough
    for the longest name (laid out here: a rich Table takes seconds for a
    thousand runs), otherwise a rich Table with env/agent under the name and
    the duration under the start time."""
    from gymscope._format import format_time

    cells = [_cells(run, missing) for run in runs]
    wide = width >= 112 + max(len(c[0]) + len(c[1]) + len(c[2]) for c in cells)
    windows = {run.window_size for run in runs}
    avg = f"avg{next(iter(windows))}" if len(windows) == 1 else "avg"
    numbers = [_numbers(run, missing, with_window=len(windows) > 1) for run in runs]
    if wide:
        rows = []
        for run, (name, env, agent, started, took), values in zip(
            runs, cells, numbers, strict=True
        ):
            active = format_time(run.status.last_activity, seconds=True, missing=missing)
            rows.append([_text(str(run.id)), name, env, agent, _status(run), *values,
                         started, took, _text(active)])  # fmt: skip
        headers = ["ID", "Name", "Env", "Agent", "Status", "Episodes", "Steps", f"Last {avg}",
                   "Started", "Duration", "Last activity"]  # fmt: skip
        right = {0, 5, 6, 7, 9}
        return _lines(headers, rows, right)
    return _stacked(runs, cells, numbers, missing, avg)


def _text(value: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(value, style=style)


def _lines(headers: list[str], rows: list[list[Text]], right: set[int]) -> Text:
    """A borderless table as text: a bold header, a rule, one line per row,
    columns two spaces apart (right-aligned where ``right`` says)."""
    from rich.cells import cell_len
    from rich.text import Span, Text

    widths = [cell_len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell.cell_len)

    def line(cells: list[Text], style: str = "") -> Text:
        # one string and its spans: far cheaper than appending Texts
        chunks: list[str] = []
        spans: list[Span] = []
        at = 0
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - cell.cell_len)
            if i:
                chunks.append("  ")
                at += 2
            if i in right:
                chunks.append(pad)
                at += len(pad)
            start = at
            chunks.append(cell.plain)
            at += len(cell.plain)
            if cell.style:
                spans.append(Span(start, at, cell.style))
            spans.extend(Span(start + s.start, start + s.end, s.style) for s in cell.spans)
            if i not in right:
                chunks.append(pad)
                at += len(pad)
        return Text("".join(chunks), style=style, spans=spans)

    total = sum(widths) + 2 * (len(widths) - 1)
    parts = [line([Text(h) for h in headers], "bold"), Text("\u2500" * total)]
    parts += [line(row) for row in rows]
    return Text("\n").join(parts)


def _stacked(
    runs: list[RunSummary],
    cells: list[tuple[Text, Text, Text, Text, Text]],
    numbers: list[list[Text]],
    missing: str,
    avg: str,
) -> Table:
    """The runs as a rich Table for a narrow terminal: env, agent and status
    under the name, the duration under the start time."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("Name / env, agent / status", overflow="fold", min_width=16)
    for header in ("Episodes", "Steps", f"Last {avg}"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    for run, (name, _, _, started, took), values in zip(runs, cells, numbers, strict=True):
        what = Text(", ".join(x for x in (run.env, run.agent) if x), style="dim")
        day, _, clock = started.plain.partition(" ")
        table.add_row(
            Text(str(run.id)),
            Text.assemble(
                name, "\n", what, "\n", _status(run), (f", last {_clock(run, missing)}", "dim")
            ),
            *values,
            Text.assemble(day, "\n", (f"{clock}, {took.plain}" if clock else took.plain, "dim")),
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
    """Episodes, steps and the run-level last moving average; with
    ``with_window`` (runs of different windows in one table) the average
    says its window: ``12.5 (avg50)``."""
    from rich.text import Text

    from gymscope._format import format_count, format_number

    suffix = f" (avg{run.window_size})" if with_window else ""
    last = format_number(run.last_moving_avg, missing=missing)
    return [
        Text(format_count(run.episodes)),
        Text(format_count(run.steps)),
        Text(last + (suffix if run.last_moving_avg is not None else ""), style="bold"),
    ]
