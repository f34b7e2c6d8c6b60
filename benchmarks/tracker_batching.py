"""What batching saves: MLflow sends per episode against every 50 episodes.

Each case plays ``episodes`` episodes of a no-op env (20 steps each) into
its own MLflow run of one local ``sqlite:///`` store, through an
``AnalyticsWrapper`` with ``flush_every=1`` (one ``log_batch`` per episode)
or ``flush_every=50`` (the default: one per 50 episodes), and a bare env as
the baseline; the time of a round includes creating the tracker run and
``close()`` (the last send), divided by the episodes. Rounds interleave the
cases (``benchmarks/_harness.py``); the table shows the cost added per
episode over the bare env and its ratio to the default.

Needs mlflow (the trackers tier's venv: ``.ci/integration/trackers.txt``).
Run: ``python benchmarks/tracker_batching.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from _envs import NoOpEnv
from _harness import Result, measure, print_table, require_positive

REFERENCE = "flush_every=50 (default)"
_runs = itertools.count()


def play(uri: str | None, flush_every: int, episodes: int) -> float:
    """Seconds per episode of ``episodes`` episodes, tracker run and close() included."""
    from gymscope import AnalyticsState, AnalyticsWrapper

    env: object = NoOpEnv(20)
    start = time.perf_counter()
    if uri is not None:
        state = AnalyticsState("batching", f"run-{next(_runs)}")
        env = AnalyticsWrapper(env, state, "mlflow", uri=uri, flush_every=flush_every)  # type: ignore[arg-type]
    env.reset()  # type: ignore[attr-defined]
    done = 0
    while done < episodes:
        _, _, terminated, truncated, _ = env.step(0)  # type: ignore[attr-defined]
        if terminated or truncated:
            done += 1
            env.reset()  # type: ignore[attr-defined]
    env.close()  # type: ignore[attr-defined]
    return (time.perf_counter() - start) / episodes


def run(rounds: int = 5, episodes: int = 100) -> Result:
    """Per-episode cost of per-episode and batched sends, interleaved."""
    folder = Path(tempfile.mkdtemp(prefix="gymscope-batching-"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecations
        play(uri, 50, 1)  # creates the store (its tables) outside the timing
        return measure(
            "MLflow: sending per episode vs batched",
            {
                "bare env": lambda: play(None, 1, episodes),
                "flush_every=1": lambda: play(uri, 1, episodes),
                REFERENCE: lambda: play(uri, 50, episodes),
            },
            rounds=rounds,
            reference=REFERENCE,
            baseline="bare env",
            per_unit="episode",
            params={"episodes": episodes, "store": "sqlite"},
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 20 episodes: a smoke run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default: %(default)s)")
    parser.add_argument(
        "--episodes", type=int, default=100, help="per round (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    require_positive(parser, args, "rounds", "episodes")
    result = run(1, 20) if args.quick else run(args.rounds, args.episodes)
    print_table(result)


if __name__ == "__main__":
    main()
