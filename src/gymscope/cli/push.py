"""``gymscope push``: a stored run handed to W&B, MLflow, Comet or TensorBoard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, CommandError, add_command, add_db_and_experiment
from gymscope.errors import GymscopeError

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["TARGETS", "register", "run"]

#: What ``--to`` takes.
TARGETS = ("wandb", "mlflow", "comet", "tensorboard")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "push",
        summary="send a stored run to W&B, MLflow, Comet or TensorBoard",
        description=(
            "Replay one experiment from the database into an experiment tracker, as\n"
            "AnalyticsWrapper logs it live: episodes of all workers in the order they\n"
            "ended with the run's moving statistics, training metrics, the config and\n"
            "the videos whose sidecars name the run, stepped by env steps. Pushing\n"
            "again adds nothing; after more episodes were stored, only those (the\n"
            "tracker run id and what it holds are kept in the database). Needs the\n"
            'tracker\'s package: pip install "gymscope[mlflow]" (or wandb, comet).\n'
            "--to tensorboard writes event files into --dir (gymscope tensorboard)."
        ),
        examples=(
            "gymscope push metrics.db cartpole-ppo --to mlflow --uri sqlite:///mlflow.db",
            "gymscope push metrics.db 1 --to wandb --project cartpole --offline --dir runs",
            "gymscope push metrics.db 1 --to tensorboard --dir runs",
        ),
        handler=run,
    )
    add_db_and_experiment(parser)
    parser.add_argument("--to", required=True, choices=TARGETS, help="where the run goes")
    parser.add_argument(
        "--project",
        default="gymscope",
        help="the tracker's project (MLflow experiment) (default: %(default)s)",
    )
    parser.add_argument(
        "--name", default=None, help="the run's name (default: {agent}_{env}_{episodes}ep)"
    )
    parser.add_argument(
        "--tag", action="append", default=None, metavar="TAG", help="a tag (repeatable)"
    )
    parser.add_argument("--uri", default=None, help="MLflow tracking URI (sqlite:///mlflow.db)")
    parser.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help="where the tracker keeps its files (W&B dir, Comet offline directory; "
        "the event files' parent folder for tensorboard)",
    )
    parser.add_argument("--entity", default=None, help="W&B entity / Comet workspace")
    parser.add_argument("--run-id", default=None, help="the tracker's id of a run to continue")
    parser.add_argument(
        "--offline", action="store_true", help="write the tracker's files locally only"
    )
    parser.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="DIR",
        help="another folder of videos/GIFs and their .json sidecars (repeatable; "
        "videos/ next to the database is always searched)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="tensorboard only: replace the event files of an earlier push of this run",
    )


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from gymscope.cli._console import console, print_line
    from gymscope.cli._database import db_and_experiment, reading
    from gymscope.report import check_media_folders

    db, experiment = db_and_experiment(args)
    media = check_media_folders(args.media, argument="--media")
    with reading(db) as reader:
        info = reader.experiment(experiment)
        target = reader.engine if reader.path is None else reader.path
        if args.to == "tensorboard":
            return _tensorboard(args, target, info.id)
        from gymscope.state import AnalyticsState
        from gymscope.trackers.push import push_experiment

        try:
            state = AnalyticsState(
                args.project,
                args.name,
                args.tag,
                entity=args.entity,
                run_id=args.run_id,
                offline=args.offline,
                directory=args.dir,
            )
            result = push_experiment(target, info.id, args.to, state, uri=args.uri, media=media)
        except GymscopeError:
            raise
        except (gym.error.DependencyNotInstalled, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    out = console()
    if result.error is not None:
        raise CommandError(
            f"{args.to} refused experiment {info.id} ({type(result.error).__name__}: "
            f"{result.error}); nothing was counted as sent, push again later"
        )
    sent = (
        f"{result.episodes} episode(s), {result.metrics} metric point(s), {result.videos} video(s)"
    )
    print_line(out, f"Pushed experiment {info.id} to {args.to} run {result.run_id}: {sent}")
    if not result.kept:
        print_line(
            out,
            "note: the database could not record the tracker run (read-only?), so a "
            f"second push would start another run; continue this one with --run-id "
            f"{result.run_id}",
        )
    return EXIT_OK


def _tensorboard(args: argparse.Namespace, target: object, experiment_id: int) -> int:
    import gymnasium as gym

    from gymscope.cli._console import console, print_line
    from gymscope.tensorboard import export_experiment

    if args.dir is None:
        raise CommandError(
            "--to tensorboard needs --dir DIR: the parent folder of the run's events"
        )
    try:
        folder = export_experiment(
            target,  # type: ignore[arg-type]
            experiment_id,
            Path(args.dir).expanduser(),
            overwrite=args.overwrite,
        )
    except GymscopeError:
        raise
    except (gym.error.DependencyNotInstalled, OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print_line(
        console(), f"Wrote TensorBoard event files of experiment {experiment_id} to {folder}"
    )
    return EXIT_OK
