"""``gymscope plot``: training curves as SVG + PNG, several runs on one chart."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.cli._parser import (
    EXIT_OK,
    CommandError,
    add_command,
    add_db_argument,
    add_window_argument,
    png_scale,
)

if TYPE_CHECKING:
    from gymscope.charts.layout import LineChart
    from gymscope.cli._parser import Subparsers
    from gymscope.metrics.queries import MetricsReader, RunEpisodes

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
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
        handler=run,
    )
    add_db_argument(parser)
    parser.add_argument(
        "experiments", nargs="+", metavar="EXPERIMENT", help="experiment ids or names"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder for the charts (created)"
    )
    add_window_argument(parser)
    parser.add_argument(
        "--scale",
        type=png_scale,
        default=1.0,
        metavar="X",
        help="PNG resolution relative to 960x540 (default: %(default)s; 2 for high-DPI)",
    )


def run(args: argparse.Namespace) -> int:
    from gymscope._files import check_writable_dir
    from gymscope.charts.write import write_chart
    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import db_and_experiments, reading

    db, experiments = db_and_experiments(args, list(args.experiments))
    with reading(db) as reader:
        runs = _distinct_runs(reader, experiments)
    try:
        directory = check_writable_dir(Path(args.output).expanduser(), "-o/--output")
    except OSError as exc:
        raise CommandError(str(exc.strerror or exc)) from None
    charts = _charts(runs, args.window)
    out = console()
    written: list[Path] = []
    try:
        with console(stderr=True).status(f"Drawing {len(charts)} charts"):
            for stem, chart in charts:
                written += write_chart(chart, directory / stem, scale=args.scale)
    except OSError as exc:
        raise CommandError(f"cannot write charts into {str(directory)!r}: {exc}") from None
    print_line(out, f"Wrote {len(written)} files ({len(charts)} charts) to {directory}:")
    for path in written:
        print_line(out, f"  {path.name}")
    return EXIT_OK


def _distinct_runs(reader: MetricsReader, experiments: list[str]) -> list[RunEpisodes]:
    """The episodes of each experiment; naming one twice is a mistake."""
    infos = [reader.experiment(e) for e in experiments]
    seen: set[int] = set()
    for given, info in zip(experiments, infos, strict=True):
        if info.id in seen:
            raise CommandError(f"experiment {info.id} is given twice ({given!r})")
        seen.add(info.id)
    return [reader.episodes(info) for info in infos]


def _charts(runs: list[RunEpisodes], window: int) -> list[tuple[str, LineChart]]:
    """``(file stem, chart)`` of every run's curves, then the comparisons; stems
    are kept apart (two runs named alike, a run named "compare")."""
    from gymscope.charts.experiment import comparison_charts, default_prefix, experiment_charts

    charts: list[tuple[str, LineChart]] = []
    taken = {"compare"} if len(runs) > 1 else set()
    for episodes in runs:
        base = default_prefix(episodes.experiment)
        prefix, k = base, 2
        while prefix in taken:
            prefix, k = f"{base}_{k}", k + 1
        taken.add(prefix)
        charts += experiment_charts(episodes, window, prefix=prefix)
    if len(runs) > 1:
        charts += comparison_charts(runs, window)
    return charts
