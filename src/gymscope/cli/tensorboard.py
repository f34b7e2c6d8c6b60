"""``gymscope tensorboard``: a stored run as TensorBoard event files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, CommandError, add_command, add_db_and_experiment
from gymscope.errors import GymscopeError

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "tensorboard",
        summary="convert a stored run to TensorBoard event files",
        description=(
            "Write one experiment's episodes as TensorBoard event files into\n"
            "DIR/<run name>, with the tags TensorBoardWrapper logs live (return,\n"
            "length, their EMA and moving mean/std, info values, metrics), stepped\n"
            "by total env steps. Needs tensorboardX: in a clone of gymscope,\n"
            'uv sync --extra tensorboard (or pip install ".[tensorboard]").'
        ),
        examples=(
            "gymscope tensorboard 1 --logdir runs",
            "gymscope tensorboard gymscope-demo/metrics.db 1 --logdir runs && "
            "tensorboard --logdir runs",
        ),
        handler=run,
    )
    add_db_and_experiment(parser)
    parser.add_argument(
        "--logdir", required=True, metavar="DIR", help="parent folder of the run's event files"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the event files of an earlier conversion of this run",
    )


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import db_and_experiment, reading

    db, experiment = db_and_experiment(args)
    with reading(db) as reader:
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
        except GymscopeError:
            raise  # event files already there, a logdir that is a file: main prints it
        except (gym.error.DependencyNotInstalled, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None  # no tensorboardX, a failed write
    print_line(
        console(),
        f"Wrote TensorBoard event files of experiment {info.id} to {folder}; view them "
        f"with: tensorboard --logdir {args.logdir}",
    )
    return EXIT_OK
