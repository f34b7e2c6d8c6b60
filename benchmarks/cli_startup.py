"""How long ``gymscope --help`` takes to start, against a bare Python start.

Each measurement is a fresh process (the cost a user pays at the prompt):
``gymscope --help`` through the installed console script (``python -m
gymscope`` if there is none), each subcommand's ``--help``, and ``python -c
pass`` as the reference, interleaved round by round so that a busy machine
slows them alike. Medians are reported, with the ratio to the reference and
the difference (the time gymscope itself adds). Target: ``gymscope --help``
under 300 ms.

Run with ``uv run python benchmarks/cli_startup.py`` (``--quick``: a few
rounds, a smoke run whose numbers mean little).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

TARGET_MS = 300.0


def command() -> list[str]:
    """How a user starts gymscope here: the console script next to this Python."""
    script = Path(sys.executable).with_name("gymscope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gymscope"]


def subcommands() -> list[str]:
    from gymscope.cli import build_parser

    parser = build_parser()
    subparsers = parser._subparsers
    assert subparsers is not None
    (action,) = subparsers._group_actions
    return list(action.choices or ())


def run_once(argv: Sequence[str]) -> float:
    """Seconds from spawning ``argv`` to its exit (output discarded)."""
    start = time.perf_counter()
    result = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, timeout=60
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=30, help="rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds

    gymscope = command()
    cases: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "gymscope --help": [*gymscope, "--help"],
    }
    for name in subcommands():
        cases[f"gymscope {name} --help"] = [*gymscope, name, "--help"]
    for argv_ in cases.values():  # warm the file cache: the first start reads from disk
        run_once(argv_)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, argv_ in cases.items():
            times[name].append(run_once(argv_))

    reference = statistics.median(times["python -c pass"]) * 1000
    print(f"gymscope command startup, {rounds} rounds, fresh processes, medians")
    print(f"  command: {' '.join(gymscope)}")
    print(f"{'case':<28} {'median ms':>10} {'min ms':>8} {'vs python':>10} {'added ms':>9}")
    for name, samples in times.items():
        median = statistics.median(samples) * 1000
        print(
            f"{name:<28} {median:>10.1f} {min(samples) * 1000:>8.1f} "
            f"{median / reference:>9.2f}x {median - reference:>9.1f}"
        )
    main_ms = statistics.median(times["gymscope --help"]) * 1000
    verdict = "meets" if main_ms < TARGET_MS else "MISSES"
    print(
        f"gymscope --help: {main_ms:.1f} ms, ratio {main_ms / reference:.2f} to python -c pass "
        f"({reference:.1f} ms); {verdict} the target < {TARGET_MS:.0f} ms"
    )


if __name__ == "__main__":
    main()
