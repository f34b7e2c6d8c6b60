"""``gymscope export``: a run's episodes as CSV, JSON Lines or SB3's monitor.csv."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, add_command, add_db_and_experiment

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
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
        handler=run,
    )
    add_db_and_experiment(parser)
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


def run(args: argparse.Namespace) -> int:
    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import db_and_experiment, reading
    from gymscope.cli._output import output_file, write_file
    from gymscope.metrics.export import episode_lines

    db, experiment = db_and_experiment(args)
    with reading(db) as reader:
        episodes = reader.episodes(experiment)
    lines = episode_lines(episodes, args.format)
    if args.output is None or args.output == "-":
        _to_stdout(lines)
        return EXIT_OK
    path = output_file(args.output)
    write_file(path, (line.encode("utf-8") for line in lines))
    print_line(
        console(),
        f"Wrote {len(episodes):,} episodes of experiment {episodes.experiment.id} "
        f"({args.format}) to {path}",
    )
    return EXIT_OK


def _to_stdout(lines: Iterable[str]) -> None:
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
