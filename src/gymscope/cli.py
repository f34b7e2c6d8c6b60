"""The ``gymscope`` command.

Each subcommand is an ``_add_<name>(subparsers)`` function, listed in
``COMMANDS``, that declares the subcommand's arguments and sets ``handler`` to
the function running it; a handler takes the parsed arguments and returns the
exit code. User mistakes raise :class:`CommandError` (or fail argument
parsing) and end as one line on stderr with a non-zero exit code, never a
traceback: 1 for a failed command, 2 for a usage error, 130 for Ctrl-C.

Only the standard library is imported at module level so that
``gymscope --help`` starts fast; handlers import NumPy, gymnasium and rich
when they run.

>>> build_parser().parse_args(["demo", "--episodes", "40"]).episodes
40
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gymscope._version import __version__
from gymscope.errors import GymscopeError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from gymscope.metrics.queries import MetricsReader, RunEpisodes, RunSummary

__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]

PROG = "gymscope"
Handler = Callable[[argparse.Namespace], int]

# Exit codes
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(GymscopeError):
    """A user mistake or an impossible request; reported as one line on stderr."""


def _print_error(prog: str, message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    # soft_wrap: the message stays one line whatever the terminal width.
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(f"{prog}: ", ("error: ", "bold red"), message))


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        _print_error(self.prog, f"{message} (see '{self.prog} --help')")
        self.exit(EXIT_USAGE)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and example epilogs."""


def _examples(*lines: str) -> str:
    return "example" + ("s" if len(lines) > 1 else "") + ":\n" + "\n".join(f"  {x}" for x in lines)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show gymscope's log messages on stderr"
    )
    return common


def _add_command(
    subparsers: argparse._SubParsersAction[_Parser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: Sequence[str],
    handler: Handler,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_examples(*examples),
        formatter_class=_HelpFormatter,
        parents=[_common_options()],
    )
    parser.set_defaults(handler=handler, prog=parser.prog)
    return parser


# -- gymscope demo -------------------------------------------------------------------


def _add_demo(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "demo",
        summary="train a small NumPy agent on CartPole and record the run",
        description=(
            "Train a linear policy with the cross-entropy method (NumPy only) on a\n"
            "gymnasium env wrapped in gymscope's wrappers. The training loop reads\n"
            'each episode\'s return from info["episode"], written by\n'
            "EpisodeStatsWrapper, and shows the moving mean return as it learns.\n"
            "Everything is recorded into --out: metrics.db, videos/ (MP4s and a GIF),\n"
            "curves/ and report.html, a page with every run in that folder."
        ),
        examples=(
            "gymscope demo",
            "gymscope demo --episodes 1000 --seed 3 --out runs/cartpole",
            "gymscope demo --env Acrobot-v1 --episodes 300",
        ),
        handler=_run_demo,
    )
    parser.add_argument(
        "--env",
        default="CartPole-v1",
        metavar="ID",
        help="gymnasium env id with Box observations and Discrete actions (default: %(default)s)",
    )
    parser.add_argument(
        "--episodes",
        type=_positive_int,
        default=500,
        metavar="N",
        help="episodes to train for (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default="gymscope-demo",
        metavar="DIR",
        help="folder for the run's outputs, created if missing (default: ./%(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="S",
        help="seed of the env and the agent; same seed, same run (default: %(default)s)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gymscope.demo import DemoError, render_summary, run_demo

    console = Console()
    try:
        result = run_demo(args.env, args.episodes, args.out, args.seed, console=console)
    except DemoError as exc:
        raise CommandError(str(exc)) from exc
    console.print()
    unicode = console.encoding.lower().startswith("utf")
    console.print(render_summary(result, unicode=unicode), crop=False)
    return EXIT_OK


# -- the metrics database as an argument ---------------------------------------------

#: The database the commands read when none is given (as the logger's default).
DEFAULT_DB = "metrics.db"
_DB_HELP = (
    "the metrics database: a SQLite file, a folder holding metrics.db (such as a demo's "
    "output folder), or a SQLAlchemy URL like postgresql+psycopg://user@host/db "
    "(default: ./metrics.db)"
)
_EXPERIMENT_HELP = "an experiment's id or name (see 'gymscope runs')"


def _add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("db", nargs="?", metavar="DB", help=_DB_HELP)


def _is_db_argument(text: str) -> bool:
    """A URL, a SQLite-looking path, an existing file, or a folder with metrics.db."""
    from gymscope.metrics.queries import looks_like_database

    return looks_like_database(text) or (Path(text).expanduser() / DEFAULT_DB).is_file()


def _db_path(text: str | None) -> str:
    """The database a DB argument means: a folder stands for its metrics.db."""
    if text is None:
        return DEFAULT_DB
    if "://" not in text:
        folder = Path(text).expanduser()
        if folder.is_dir() and (folder / DEFAULT_DB).is_file():
            return str(folder / DEFAULT_DB)
    return text


def _db_and_experiments(
    args: argparse.Namespace, experiments: list[str]
) -> tuple[str | None, list[str]]:
    """Split ``[DB] EXPERIMENT...``: argparse hands the first of several words to DB,
    which is right only when that word names a database."""
    db: str | None = args.db
    if db is not None and args.command == "plot" and not _is_db_argument(db):
        experiments = [db, *experiments]
        db = None
    if db is None and len(experiments) == 1 and _is_db_argument(experiments[0]):
        given = experiments[0]
        raise CommandError(
            f"missing EXPERIMENT after the database {given!r}: e.g. "
            f"'gymscope {args.command} {given} 1'; 'gymscope runs {given}' lists them"
        )
    return db, experiments


@contextmanager
def _reading(db_arg: str | None) -> Iterator[MetricsReader]:
    """Open the database read-only; database problems become one-line errors."""
    import gymnasium as gym
    import sqlalchemy as sa

    from gymscope.metrics.queries import (
        DatabaseNotFoundError,
        ExperimentNotFoundError,
        MetricsReader,
        NotAMetricsDatabaseError,
    )

    target = _db_path(db_arg)
    shown = target if db_arg is None or "://" not in db_arg else _describe(db_arg)
    try:
        reader = MetricsReader(target)
    except DatabaseNotFoundError as exc:
        hint = (
            "pass the database as the first argument (e.g. gymscope-demo/metrics.db), "
            "or run 'gymscope demo' to make one"
            if db_arg is None
            else "check the path"
        )
        raise CommandError(f"{exc}; {hint}") from None
    except (NotAMetricsDatabaseError, gym.error.DependencyNotInstalled) as exc:
        raise CommandError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # a malformed URL or unknown backend
        raise CommandError(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise CommandError(f"cannot read the database {shown!r}: {_reason(exc)}") from None
    with reader:
        try:
            yield reader
        except ExperimentNotFoundError as exc:
            listing = "gymscope runs" + ("" if db_arg is None else f" {db_arg}")
            raise CommandError(f"{exc} ('{listing}' lists them)") from None
        except sa.exc.SQLAlchemyError as exc:
            raise CommandError(f"cannot read the database {shown!r}: {_reason(exc)}") from None


def _describe(db: str) -> str:
    from gymscope.metrics.queries import describe_target

    return describe_target(db)


#: Console width for output that does not go to a terminal.
PIPE_WIDTH = 200


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return " ".join(text.split()) or type(exc).__name__


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and callable(getattr(stream, "reconfigure", None)):
        # A name the terminal's encoding lacks is shown as "?", not a crash.
        stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    # Piped or redirected output (logs, grep) is not cut to 80 columns:
    # tables keep one line per row there, unless COLUMNS says otherwise.
    isatty = getattr(stream, "isatty", None)
    piped = not (callable(isatty) and isatty()) and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=PIPE_WIDTH if piped else None)


def _unicode(console: Console) -> bool:
    return console.encoding.lower().startswith("utf")


# -- gymscope runs -------------------------------------------------------------------


def _add_runs(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "runs",
        summary="list the runs (experiments) in a metrics database",
        description=(
            "List every experiment in a metrics database: id, name, env, agent,\n"
            "episodes, env steps, best and last moving-average return, when it\n"
            "started and how long it ran. Nothing is written to the database."
        ),
        examples=(
            "gymscope runs",
            "gymscope runs gymscope-demo/metrics.db",
            "gymscope runs postgresql+psycopg://me@db-host/metrics",
        ),
        handler=_run_runs,
    )
    _add_db_argument(parser)


def _run_runs(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from gymscope._format import format_count, format_duration, format_number, format_time

    with _reading(args.db) as reader:
        runs = reader.runs()
        where = str(reader.path) if reader.path is not None else reader.description
    console = _console()
    if not runs:
        console.print(Text(f"No runs in {where} yet."), soft_wrap=True)
        return EXIT_OK
    missing = "\u2013" if _unicode(console) else "-"
    cells = [
        (
            Text(run.name or missing),
            Text(run.env or missing),
            Text(run.agent or missing),
            Text(format_time(run.started, missing=missing)),
            Text(format_duration(run.duration_s, missing=missing)),
        )
        for run in runs
    ]
    # Every column side by side when the terminal is wide enough for the
    # longest name; otherwise env/agent go under the name and the duration
    # under the start time.
    wide_needed = 80 + max(len(c[0]) + len(c[1]) + len(c[2]) for c in cells)
    wide = console.width >= wide_needed
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
    else:
        table.add_column("Name / env, agent", overflow="fold", min_width=16)
    table.add_column("Episodes", justify="right", no_wrap=True)
    table.add_column("Steps", justify="right", no_wrap=True)
    table.add_column("Best avg", justify="right", no_wrap=True)
    table.add_column("Last avg", justify="right", no_wrap=True)
    if wide:
        table.add_column("Started", no_wrap=True)
        table.add_column("Duration", justify="right", no_wrap=True)
    else:
        table.add_column("Started", no_wrap=True)
    for run, (name, env, agent, started, took) in zip(runs, cells, strict=True):
        numbers = [
            Text(format_count(run.episodes)),
            Text(format_count(run.steps)),
            Text(format_number(run.best_moving_avg, missing=missing), style="bold"),
            Text(format_number(run.last_moving_avg, missing=missing)),
        ]
        if wide:
            table.add_row(Text(str(run.id)), name, env, agent, *numbers, started, took)
        else:
            what = Text(", ".join(x for x in (run.env, run.agent) if x), style="dim")
            day, _, clock = started.plain.partition(" ")
            table.add_row(
                Text(str(run.id)),
                Text.assemble(name, "\n", what),
                *numbers,
                Text.assemble(
                    day, "\n", (f"{clock}, {took.plain}" if clock else took.plain, "dim")
                ),
            )
    title = Text(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}", style="bold")
    console.print(title, soft_wrap=True)
    console.print(table)
    return EXIT_OK


# -- gymscope show -------------------------------------------------------------------


def _add_show(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
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
        handler=_run_show,
    )
    _add_db_argument(parser)
    parser.add_argument("experiment", metavar="EXPERIMENT", help=_EXPERIMENT_HELP)
    parser.add_argument(
        "--last",
        type=_positive_int,
        default=10,
        metavar="N",
        help="how many of the last episodes to list (default: %(default)s)",
    )


def _run_show(args: argparse.Namespace) -> int:
    import numpy as np

    from gymscope.charts.curves import rolling_mean

    db, (experiment,) = _db_and_experiments(args, [args.experiment])
    with _reading(db) as reader:
        info = reader.experiment(experiment)
        summary = reader.summary(info)
        run = reader.episodes(info)
    console = _console()
    unicode = _unicode(console)
    trend = run.moving_avg
    label = "as logged"
    if len(run) and not np.isfinite(trend).any():
        trend, label = rolling_mean(run.rewards, 100), "over 100 episodes"
    view = _render_show(summary, run, trend, label, args.last, unicode, console.width)
    console.print(view, crop=False)
    return EXIT_OK


def _render_show(
    summary: RunSummary,
    run: RunEpisodes,
    trend: Any,
    trend_label: str,
    last: int,
    unicode: bool,
    width: int = 80,
) -> RenderableType:
    import json

    import numpy as np
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from gymscope._format import format_count, format_duration, format_number, format_time
    from gymscope.charts.sparkline import sparkline

    info = summary.experiment
    missing = "\u2013" if unicode else "-"
    dot = " \u00b7 " if unicode else " - "

    def num(value: float | None) -> str:
        return format_number(value, missing=missing)

    def grid() -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        return table

    parts: list[RenderableType] = []
    title = Text.assemble(("Experiment ", "bold"), (str(info.id), "bold"))
    if info.name:
        title.append(dot)
        title.append(info.name, style="bold")
    parts.append(title)
    facts = [x for x in (info.env, info.agent) if x]
    if info.gymscope_version:
        facts.append(f"gymscope {info.gymscope_version}")
    if facts:
        parts.append(Text(dot.strip().join(f" {x} " for x in facts).strip(), style="dim"))

    stats = grid()
    rewards = run.rewards
    finite = rewards[np.isfinite(rewards)]
    lengths = run.lengths
    n = len(run)
    workers = f" ({summary.workers} workers)" if summary.workers > 1 else ""
    stats.add_row("Episodes", Text(format_count(n) + workers))
    stats.add_row("Steps", Text(format_count(summary.steps)))
    if finite.size:
        best = int(np.flatnonzero(rewards == finite.max())[0])
        best_num = run.values["episode_num"][best]
        stats.add_row(
            "Return",
            Text(
                f"mean {num(float(finite.mean()))} \u00b1 {num(float(finite.std()))}, "
                f"min {num(float(finite.min()))}, max {num(float(finite.max()))} "
                f"(episode {best_num})"
                if unicode
                else f"mean {num(float(finite.mean()))} +- {num(float(finite.std()))}, "
                f"min {num(float(finite.min()))}, max {num(float(finite.max()))} "
                f"(episode {best_num})"
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
    if n:
        stats.add_row(
            "Length",
            Text(
                f"mean {num(float(np.nanmean(lengths)))}, min {num(float(np.nanmin(lengths)))}, "
                f"max {num(float(np.nanmax(lengths)))}"
            ),
        )
        ends = []
        if "terminated" in run.values:
            ends.append(f"{sum(bool(v) for v in run.values['terminated'])} terminated")
        if "truncated" in run.values:
            ends.append(f"{sum(bool(v) for v in run.values['truncated'])} truncated")
        if ends:
            stats.add_row("Endings", Text(", ".join(ends)))
    stats.add_row("Started", Text(format_time(summary.started, seconds=True, missing=missing)))
    duration = summary.duration_s
    rate = ""
    if duration:
        rate = f" ({format_count(round(summary.steps / duration))} steps/s)"
    stats.add_row("Duration", Text(format_duration(duration, missing=missing) + rate))
    parts += [Text(""), Text("Summary", style="bold underline"), stats]

    if n:
        values = np.asarray(trend, dtype=np.float64)
        shown = values[np.isfinite(values)]
        arrow = " \u2192 " if unicode else " -> "
        span = f"  {num(float(shown[0]))}{arrow}{num(float(shown[-1]))}" if shown.size else ""
        line = sparkline(values, max(10, min(60, width - len(span))), ascii=not unicode)
        parts += [
            Text(""),
            Text(f"Moving-average return ({trend_label})", style="bold underline"),
            Text.assemble((line, "cyan"), span),
        ]

    config = info.config_value()
    parts += [Text(""), Text("Config", style="bold underline")]
    if isinstance(config, dict) and config:
        table = grid()
        for key, value in config.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            table.add_row(Text(str(key)), Text(text))
        parts.append(table)
    elif config in ({}, [], "", None):
        parts.append(Text("(none stored)", style="dim"))
    else:
        text = config if isinstance(config, str) else json.dumps(config, ensure_ascii=False)
        parts.append(Text(text))

    parts += [Text("")]
    if not n:
        parts.append(Text("No episodes recorded yet.", style="dim"))
        return Group(*parts)
    start = max(0, n - last)
    episodes = Table(
        title=Text(f"Last {n - start} of {format_count(n)} episodes"),
        title_justify="left",
        title_style="bold underline",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    many_workers = summary.workers > 1 and "worker" in run.values
    episodes.add_column("Episode", justify="right", no_wrap=True)
    if many_workers:
        episodes.add_column("Worker", justify="right", no_wrap=True)
    for header in ("Return", "Length", "Moving avg"):
        episodes.add_column(header, justify="right", no_wrap=True)
    episodes.add_column("Ended", no_wrap=True)
    episodes.add_column("Took", justify="right", no_wrap=True)
    episodes.add_column("How", no_wrap=True)
    ended = run.ended_at()
    avg = run.moving_avg
    durations = run.floats("duration_s")
    for i in range(start, n):
        how = []
        if "terminated" in run.values and run.values["terminated"][i]:
            how.append("terminated")
        if "truncated" in run.values and run.values["truncated"][i]:
            how.append("truncated")
        row = [Text(str(run.values["episode_num"][i]))]
        if many_workers:
            row.append(Text(str(run.values["worker"][i])))
        row += [
            Text(num(float(rewards[i]))),
            Text(num(float(lengths[i]))),
            Text(num(float(avg[i]))),
            Text(_clock(ended[i], missing)),
            Text(format_duration(float(durations[i]), missing=missing)),
            Text(", ".join(how) or missing),
        ]
        episodes.add_row(*row)
    parts.append(episodes)
    return Group(*parts)


def _clock(when: Any, missing: str) -> str:
    """Local time of day (the date is the run's, shown above it)."""
    return missing if when is None else str(when.astimezone().strftime("%H:%M:%S"))


# -- gymscope export -----------------------------------------------------------------


def _add_export(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "export",
        summary="write a run's episodes as CSV, JSON Lines or SB3 monitor.csv",
        description=(
            "Write the episodes of one experiment, in the order they ended:\n"
            "  csv      every stored column, one row per episode\n"
            "  jsonl    one JSON object per episode\n"
            "  monitor  Stable-Baselines3's monitor.csv layout (a #{t_start, env_id}\n"
            "           line, then r,l,t), read by SB3's load_results/plot_results\n"
            "           (they read files named *monitor.csv)\n"
            "Without -o the data goes to standard output."
        ),
        examples=(
            "gymscope export 1 --format csv -o run1.csv",
            "gymscope export gymscope-demo/metrics.db 1 --format monitor -o logs/monitor.csv",
            "gymscope export 1 --format jsonl | head -3",
        ),
        handler=_run_export,
    )
    _add_db_argument(parser)
    parser.add_argument("experiment", metavar="EXPERIMENT", help=_EXPERIMENT_HELP)
    parser.add_argument(
        "--format",
        choices=("csv", "jsonl", "monitor"),
        default="csv",
        help="output format (default: %(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write (replaced atomically); default: standard output",
    )


def _run_export(args: argparse.Namespace) -> int:
    from gymscope._files import atomic_write_bytes
    from gymscope.metrics.export import episode_lines

    db, (experiment,) = _db_and_experiments(args, [args.experiment])
    with _reading(db) as reader:
        run = reader.episodes(experiment)
    lines = episode_lines(run, args.format)
    if args.output is None or args.output == "-":
        # UTF-8 whatever the terminal's encoding: this is a data file, not a message.
        binary = getattr(sys.stdout, "buffer", None)
        try:
            sys.stdout.flush()
            for line in lines:
                if binary is not None:
                    binary.write(line.encode("utf-8"))
                else:
                    sys.stdout.write(line)
            (binary or sys.stdout).flush()
        except BrokenPipeError:  # e.g. piped into head: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    path = Path(args.output).expanduser()
    if path.is_dir():
        raise CommandError(f"output {str(path)!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise CommandError(
            f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist"
        )
    try:
        atomic_write_bytes(path, (line.encode("utf-8") for line in lines))
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    from rich.text import Text

    console = _console()
    console.print(
        Text(
            f"Wrote {len(run):,} episodes of experiment {run.experiment.id} "
            f"({args.format}) to {path}",
        ),
        soft_wrap=True,
    )
    return EXIT_OK


# -- gymscope plot -------------------------------------------------------------------


def _add_plot(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "plot",
        summary="draw training curves as SVG + PNG; several runs on one chart",
        description=(
            "Draw each experiment's curves (return, length, and every logged metric)\n"
            "as SVG and PNG files into DIR. With several experiments, also draw\n"
            "compare_reward_curve and compare_length_curve: the moving average of\n"
            "each run on one chart. A first argument that names a database (a file,\n"
            "a folder holding metrics.db, or a URL) is the database; otherwise\n"
            "./metrics.db is read."
        ),
        examples=(
            "gymscope plot 1 -o plots",
            "gymscope plot gymscope-demo 1 2 3 -o plots --window 50",
        ),
        handler=_run_plot,
    )
    _add_db_argument(parser)
    parser.add_argument(
        "experiments", nargs="+", metavar="EXPERIMENT", help="experiment ids or names"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder for the charts (created)"
    )
    _add_window_argument(parser)
    parser.add_argument(
        "--scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="PNG resolution relative to 960x540 (default: %(default)s; 2 for high-DPI)",
    )


def _add_window_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window",
        type=_positive_int,
        default=100,
        metavar="N",
        help="episodes in the charts' moving averages (default: %(default)s)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.0 < value <= 16.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 16], got {text!r}")
    return value


def _run_plot(args: argparse.Namespace) -> int:
    from gymscope._files import check_writable_dir
    from gymscope.charts.experiment import comparison_charts, default_prefix, experiment_charts
    from gymscope.charts.write import write_chart

    db, experiments = _db_and_experiments(args, list(args.experiments))
    with _reading(db) as reader:
        infos = [reader.experiment(e) for e in experiments]
        seen: set[int] = set()
        for given, info in zip(experiments, infos, strict=True):
            if info.id in seen:
                raise CommandError(f"experiment {info.id} is given twice ({given!r})")
            seen.add(info.id)
        runs = [reader.episodes(info) for info in infos]
    try:
        directory = check_writable_dir(Path(args.output).expanduser(), "-o/--output")
    except OSError as exc:
        raise CommandError(str(exc.strerror or exc)) from None
    charts = []
    taken = {"compare"} if len(runs) > 1 else set()
    for run in runs:
        base = default_prefix(run.experiment)
        prefix, k = base, 2
        while prefix in taken:
            prefix, k = f"{base}_{k}", k + 1
        taken.add(prefix)
        charts += experiment_charts(run, args.window, prefix=prefix)
    if len(runs) > 1:
        charts += comparison_charts(runs, args.window)
    console = _console()
    written: list[Path] = []
    try:
        with _console(stderr=True).status(f"Drawing {len(charts)} charts"):
            for stem, chart in charts:
                written += write_chart(chart, directory / stem, scale=args.scale)
    except OSError as exc:
        raise CommandError(f"cannot write charts into {str(directory)!r}: {exc}") from None
    from rich.text import Text

    console.print(
        Text(f"Wrote {len(written)} files ({len(charts)} charts) to {directory}:"), soft_wrap=True
    )
    for path in written:
        console.print(Text(f"  {path.name}"), soft_wrap=True)
    return EXIT_OK


# -- gymscope report -----------------------------------------------------------------


def _add_report(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "report",
        summary="write one self-contained HTML page of every run and video",
        description=(
            "Write one HTML file to share: a table of the runs, a chart comparing\n"
            "them, and per run its statistics, curves (inline SVG), videos and GIFs\n"
            "with their returns, and its config. Styles are inline and nothing is\n"
            "loaded from the network; videos are linked relative to the report,\n"
            "from the videos/ folder next to the database and every --media folder."
        ),
        examples=(
            "gymscope report -o report.html",
            "gymscope report gymscope-demo/metrics.db -o gymscope-demo/report.html",
            'gymscope report runs.db -o site/index.html --media runs/videos --title "PPO sweep"',
        ),
        handler=_run_report,
    )
    _add_db_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        default="report.html",
        metavar="FILE",
        help="the HTML file to write (default: ./%(default)s)",
    )
    parser.add_argument("--title", metavar="TEXT", help="page title (default: gymscope report)")
    parser.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="DIR",
        help="another folder of videos/GIFs and their .json sidecars (repeatable)",
    )
    _add_window_argument(parser)


def _run_report(args: argparse.Namespace) -> int:
    from rich.text import Text

    from gymscope._files import atomic_write_text
    from gymscope.report import find_media, render_report

    output = Path(args.output).expanduser()
    if output.is_dir():
        raise CommandError(f"output {str(output)!r} is a directory; give a file name")
    for folder in args.media:
        if not Path(folder).expanduser().is_dir():
            raise CommandError(f"--media {folder!r} is not a folder")
    with _reading(args.db) as reader:
        folders = [*args.media]
        if reader.path is not None:
            folders.insert(0, str(reader.path.parent / "videos"))
        media = find_media(folders)
        with _console(stderr=True).status("Writing the report"):
            page = render_report(
                reader,
                output.absolute().parent,
                title=args.title,
                media=media,
                window_size=args.window,
            )
        runs = len(reader.experiments())
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, page)
    except OSError as exc:
        raise CommandError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    console = _console()
    console.print(
        Text(
            f"Wrote the report of {runs} run{'s' if runs != 1 else ''} "
            f"({len(media)} video{'s' if len(media) != 1 else ''}) to {output.absolute()}",
        ),
        soft_wrap=True,
    )
    return EXIT_OK


# -- gymscope tensorboard ------------------------------------------------------------


def _add_tensorboard(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "tensorboard",
        summary="convert a stored run to TensorBoard event files",
        description=(
            "Write one experiment's episodes as TensorBoard event files into\n"
            "DIR/<run name>, with the tags TensorBoardWrapper logs live (return,\n"
            "length, their EMA and moving mean/std, info values, metrics), stepped\n"
            'by total env steps. Needs tensorboardX: pip install "gymscope[tensorboard]".'
        ),
        examples=(
            "gymscope tensorboard 1 --logdir runs",
            "gymscope tensorboard gymscope-demo/metrics.db 1 --logdir runs && "
            "tensorboard --logdir runs",
        ),
        handler=_run_tensorboard,
    )
    _add_db_argument(parser)
    parser.add_argument("experiment", metavar="EXPERIMENT", help=_EXPERIMENT_HELP)
    parser.add_argument(
        "--logdir", required=True, metavar="DIR", help="parent folder of the run's event files"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the event files of an earlier conversion of this run",
    )


def _run_tensorboard(args: argparse.Namespace) -> int:
    import gymnasium as gym
    from rich.text import Text

    db, (experiment,) = _db_and_experiments(args, [args.experiment])
    with _reading(db) as reader:
        info = reader.experiment(experiment)
        target = reader.engine if reader.path is None else reader.path
        try:
            from gymscope.tensorboard import export_experiment
        except ModuleNotFoundError as exc:
            if exc.name != "gymscope.tensorboard":
                raise
            raise CommandError("this gymscope has no TensorBoard export") from None
        try:
            folder = export_experiment(
                target, info.id, Path(args.logdir).expanduser(), overwrite=args.overwrite
            )
        except gym.error.DependencyNotInstalled as exc:
            raise CommandError(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    console = _console()
    console.print(
        Text(
            f"Wrote TensorBoard event files of experiment {info.id} to {folder}; view them "
            f"with: tensorboard --logdir {args.logdir}",
        ),
        soft_wrap=True,
    )
    return EXIT_OK


# -- the command -----------------------------------------------------------------------

#: One function per subcommand; each adds its parser to the subparsers.
COMMANDS: tuple[Callable[[argparse._SubParsersAction[_Parser]], None], ...] = (
    _add_demo,
    _add_runs,
    _add_show,
    _add_export,
    _add_plot,
    _add_report,
    _add_tensorboard,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gymscope`` command, with every subcommand."""
    parser = _Parser(
        prog=PROG,
        description="gymscope: stackable gymnasium wrappers that record what an environment did.",
        epilog=_examples(
            "gymscope demo",
            "gymscope runs gymscope-demo",
            "gymscope show gymscope-demo 1",
            "gymscope report gymscope-demo -o report.html",
            "gymscope COMMAND --help",
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


@contextmanager
def _verbose_logging(enabled: bool) -> Iterator[None]:
    """Show gymscope's log records on stderr for the duration of one command."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.logging import RichHandler

    package_logger = logging.getLogger("gymscope")
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    old_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(old_level)


def _exit_code(code: str | int | None) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Run the ``gymscope`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit code instead of exiting, so tests can call it in-process.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc.code)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _verbose_logging(args.verbose):
            return handler(args)
    except GymscopeError as exc:  # CommandError and every library error: one line
        _print_error(args.prog, str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _print_error(args.prog, "interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
