"""``gymscope report``: one self-contained HTML page of every run and video."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.cli._parser import (
    EXIT_OK,
    add_command,
    add_db_argument,
    add_window_argument,
)

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "report",
        summary="write one self-contained HTML page of every run and video",
        description=(
            "Write one HTML file to share: a table of the runs, a chart comparing\n"
            "them, and per run its statistics, curves (inline SVG), videos and GIFs\n"
            "with their returns, and its config. Styles are inline and nothing is\n"
            "loaded from the network; videos are linked relative to the report,\n"
            "from the videos/ folder next to the database and every --media folder.\n"
            "An existing FILE is replaced only with --overwrite; a database, a\n"
            "directory, a link, a device or a FIFO never is. -o - prints the page."
        ),
        examples=(
            "gymscope report -o report.html",
            "gymscope report gymscope-demo/metrics.db -o gymscope-demo/report.html",
            'gymscope report runs.db -o site/index.html --media runs/videos --title "PPO sweep"',
        ),
        handler=run,
    )
    add_db_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        default="report.html",
        metavar="FILE",
        help="the HTML file to write, its folders created; '-': standard output "
        "(default: ./%(default)s)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace FILE if it exists (never a database)"
    )
    parser.add_argument("--title", metavar="TEXT", help="page title (default: gymscope report)")
    parser.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="DIR",
        help="another folder of videos/GIFs and their .json sidecars (repeatable)",
    )
    add_window_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import reading
    from gymscope.cli._output import STDOUT, output_file, to_stdout, write_file
    from gymscope.report import check_media_folders, find_media, media_folders, render_report

    to_file = args.output != STDOUT
    output = output_file(args.output, overwrite=args.overwrite) if to_file else None
    check_media_folders(args.media, argument="--media")
    base = output.absolute().parent if output is not None else Path.cwd()
    with reading(args.db) as reader:
        # videos/ next to the database and the --media folders, each with the
        # per-run subfolders videos/<run name>/
        runs_named = [experiment.name for experiment in reader.experiments() if experiment.name]
        media = find_media(media_folders(reader, args.media), runs=runs_named)
        with console(stderr=True).status("Writing the report"):
            page = render_report(
                reader,
                base,
                title=args.title,
                media=media,
                window_size=args.window,
            )
        runs = len(reader.experiments())
    if output is None:
        to_stdout([page.encode("utf-8")])
        return EXIT_OK
    write_file(output, page.encode("utf-8"), overwrite=args.overwrite)
    print_line(
        console(),
        f"Wrote the report of {runs} run{'s' if runs != 1 else ''} "
        f"({len(media)} video{'s' if len(media) != 1 else ''}) to {output.absolute()}",
    )
    return EXIT_OK
