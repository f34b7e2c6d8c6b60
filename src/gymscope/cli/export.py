"""``gymscope export``: a run's episodes as CSV, JSON Lines or SB3's monitor.csv."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, CommandError, add_command, add_db_and_experiment

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "export",
        summary="write a run's episodes (or metrics) as CSV, JSON Lines or SB3 monitor.csv",
        description=(
            "Write the episodes of one experiment, in the order they ended:\n"
            "  csv      every stored column, one row per episode\n"
            "  jsonl    one JSON object per episode\n"
            "  monitor  Stable-Baselines3's monitor.csv layout (a #{t_start, env_id}\n"
            "           line, then r,l,t), read by SB3's load_results/plot_results\n"
            "           (they read files named *monitor.csv)\n"
            "With --table metrics, write its step-keyed training metrics instead (csv\n"
            "or jsonl): experiment_id,name,step,value,wall_time,worker, one row per\n"
            "reported value, by name then step; nothing for steps a metric was not\n"
            "reported at, nan (null in JSON) for a reported NaN, no worker for the\n"
            "trainer's values.\n"
            "Without -o (or with -o -) the data goes to standard output. An existing\n"
            "file is replaced only with --overwrite; a database, a directory, a link,\n"
            "a device or a FIFO never is."
        ),
        examples=(
            "gymscope export 1 --format csv -o run1.csv",
            "gymscope export gymscope-demo/metrics.db 1 --format monitor -o logs/monitor.csv",
            "gymscope export 1 --format jsonl | head -3",
            "gymscope export 1 --table metrics -o run1-metrics.csv",
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
        "--table",
        choices=("episodes", "metrics"),
        default="episodes",
        help="what to export: the episodes, or the step-keyed training metrics "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write, its folders created; '-' or none: standard output",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace FILE if it exists (never a database)"
    )


def run(args: argparse.Namespace) -> int:
    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import db_and_experiment, reading
    from gymscope.cli._output import STDOUT, output_file, to_stdout, write_file
    from gymscope.metrics.export import METRIC_FORMATS, episode_lines, metric_lines

    if args.table == "metrics" and args.format not in METRIC_FORMATS:
        raise CommandError(
            f"--format {args.format} writes episodes; --table metrics is written as "
            f"{' or '.join(METRIC_FORMATS)} (e.g. --table metrics --format csv)"
        )
    db, experiment = db_and_experiment(args)
    to_file = args.output is not None and args.output != STDOUT
    # checked before the database is read: a refused -o costs nothing
    path = output_file(args.output, overwrite=args.overwrite) if to_file else None
    with reading(db) as reader:
        if args.table == "metrics":
            metrics = reader.metrics(experiment)
            lines = metric_lines(metrics, args.format)
            what, info = f"{metrics.points:,} metric values", metrics.experiment
        else:
            episodes = reader.episodes(experiment)
            lines = episode_lines(episodes, args.format)
            what, info = f"{len(episodes):,} episodes", episodes.experiment
    data = (line.encode("utf-8") for line in lines)
    if path is None:
        to_stdout(data)
        return EXIT_OK
    write_file(path, data, overwrite=args.overwrite)
    print_line(console(), f"Wrote {what} of experiment {info.id} ({args.format}) to {path}")
    return EXIT_OK
