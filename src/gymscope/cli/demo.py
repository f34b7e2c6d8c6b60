"""``gymscope demo``: train a small NumPy agent and record the run."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from gymscope.cli._parser import EXIT_OK, add_command, positive_int, seed

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["quiet_sdl", "register", "run"]


def register(subparsers: Subparsers) -> None:
    parser = add_command(
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
        handler=run,
    )
    parser.add_argument(
        "--env",
        default="CartPole-v1",
        metavar="ID",
        help="gymnasium env id with Box observations and Discrete actions (default: %(default)s)",
    )
    parser.add_argument(
        "--episodes",
        type=positive_int,
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
        type=seed,
        default=0,
        metavar="S",
        help="seed of the env and the agent; same seed, same run (default: %(default)s)",
    )


def quiet_sdl() -> None:
    """Keep pygame's SDL from printing "XDG_RUNTIME_DIR is invalid" (which reads
    as gymscope's error) on a machine without a desktop session: the demo
    renders off screen and plays no sound. The command's process only, before
    an env is made; settings the user made are kept. The library never does this."""
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gymscope.cli._console import Glyphs
    from gymscope.demo import render_summary, run_demo

    quiet_sdl()
    console = Console()
    result = run_demo(args.env, args.episodes, args.out, args.seed, console=console)
    console.print()
    console.print(render_summary(result, unicode=Glyphs.of(console).unicode), crop=False)
    return EXIT_OK
