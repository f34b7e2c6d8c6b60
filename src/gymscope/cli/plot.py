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
    add_x_argument,
    png_scale,
)

if TYPE_CHECKING:
    from gymscope.charts.layout import LineChart
    from gymscope.cli._parser import Subparsers
    from gymscope.metrics.queries import MetricsReader
    from gymscope.metrics.records import RunEpisodes, RunMetrics, XAxis

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "plot",
        summary="draw training curves as SVG + PNG; several runs on one chart",
        description=(
            "Draw each experiment's curves (return, length, every per-episode info\n"
            "value and metric) and one chart per step-keyed training metric\n"
            "(<run>_train_<name>_curve, against env steps) as SVG and PNG files into\n"
            "DIR. The return's moving average is run-level: all workers' episodes\n"
            "merged in the order they ended. --by-worker adds <run>_workers_curve,\n"
            "each worker's own moving average. With several experiments, also draw\n"
            "compare_reward_curve and compare_length_curve: the moving average of\n"
            "each run on one chart. A first argument that names a database (a file,\n"
            "a folder holding metrics.db, or a URL) is the database; otherwise\n"
            "./metrics.db is read."
        ),
        examples=(
            "gymscope plot 1 -o plots",
            "gymscope plot gymscope-demo 1 2 3 -o plots --window 50",
            "gymscope plot runs.db ppo-4-workers -o plots --x steps --by-worker",
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
    add_x_argument(parser)
    parser.add_argument(
        "--by-worker",
        action="store_true",
        help="also draw each run's <run>_workers_curve: every worker's own moving average",
    )
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
    # laid out first: a chart that cannot be drawn (--x time without end times)
    # leaves no folder behind
    charts = _charts(runs, args.window, x=args.x, by_worker=args.by_worker)
    try:
        directory = check_writable_dir(Path(args.output).expanduser(), "-o/--output")
    except OSError as exc:
        raise CommandError(str(exc.strerror or exc)) from None
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


def _distinct_runs(
    reader: MetricsReader, experiments: list[str]
) -> list[tuple[RunEpisodes, RunMetrics]]:
    """The episodes and step-keyed metrics of each experiment; naming one twice
    is a mistake."""
    infos = [reader.experiment(e) for e in experiments]
    seen: set[int] = set()
    for given, info in zip(experiments, infos, strict=True):
        if info.id in seen:
            raise CommandError(f"experiment {info.id} is given twice ({given!r})")
        seen.add(info.id)
    return [(reader.episodes(info), reader.metrics(info)) for info in infos]


def _charts(
    runs: list[tuple[RunEpisodes, RunMetrics]],
    window: int | None,
    *,
    x: XAxis = "episodes",
    by_worker: bool = False,
) -> list[tuple[str, LineChart]]:
    """``(file stem, chart)`` of every run's curves, then the comparisons; stems
    are kept apart (two runs named alike, a run named "compare")."""
    from gymscope.charts.experiment import (
        comparison_charts,
        default_prefix,
        experiment_charts,
        metric_charts,
        worker_chart,
    )
    from gymscope.errors import InvalidArgumentError

    charts: list[tuple[str, LineChart]] = []
    taken = {"compare"} if len(runs) > 1 else set()
    try:
        for episodes, metrics in runs:
            base = default_prefix(episodes.experiment)
            prefix, k = base, 2
            while prefix in taken:
                prefix, k = f"{base}_{k}", k + 1
            taken.add(prefix)
            charts += experiment_charts(episodes, window, prefix=prefix, x=x)
            if by_worker and len(episodes):
                charts.append(worker_chart(episodes, window, prefix=prefix, x=x))
            started = episodes.started_at()
            charts += metric_charts(
                metrics,
                prefix=prefix,
                x="time" if x == "time" else "steps",
                start=None if started is None else started.timestamp(),
            )
        if len(runs) > 1:
            charts += comparison_charts([episodes for episodes, _ in runs], window, x=x)
    except InvalidArgumentError as exc:  # --x time for a run without end times
        raise CommandError(f"--x {x}: {exc}") from None
    return charts
