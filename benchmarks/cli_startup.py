"""How long ``gymscope --help`` takes to start, against a bare Python start.

Each measurement is a fresh process (the cost a user pays at the prompt):
``gymscope --help`` through the installed console script (``python -m
gymscope`` if there is none), each subcommand's ``--help``, and ``python -c
pass`` as the reference, interleaved round by round so that a busy machine
slows them alike (``benchmarks/_harness.py``). Medians are reported, with the
ratio to the reference and the difference (the time gymscope itself adds).
Target: ``gymscope --help`` under 300 ms.

Run with ``uv run python benchmarks/cli_startup.py`` (``--quick``: a few
rounds, a smoke run whose numbers mean little).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _harness import Result, measure, print_table, require_positive

TARGET_MS = 300.0
REFERENCE = "python -c pass"
MAIN = "gymscope --help"


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


def run(rounds: int = 30) -> Result:
    """Start-up time of every case, fresh processes, interleaved; ratio vs ``python -c pass``."""
    gymscope = command()
    cases: dict[str, list[str]] = {
        REFERENCE: [sys.executable, "-c", "pass"],
        MAIN: [*gymscope, "--help"],
    }
    for name in subcommands():
        cases[f"gymscope {name} --help"] = [*gymscope, name, "--help"]
    result = measure(
        "gymscope command startup, fresh processes",
        {name: functools.partial(run_once, argv) for name, argv in cases.items()},
        rounds=rounds,
        # the first start reads from disk: warm the file cache
        warmup_rounds=1,
        reference=REFERENCE,
        baseline=REFERENCE,
        per_unit="start",
        params={"command": " ".join(gymscope)},
    )
    main_ms = result.figure(MAIN).median_s * 1000
    reference_ms = result.figure(REFERENCE).median_s * 1000
    verdict = "meets" if main_ms < TARGET_MS else "MISSES"
    note = (
        f"gymscope --help: {main_ms:.1f} ms, ratio {main_ms / reference_ms:.2f} to python -c pass "
        f"({reference_ms:.1f} ms); {verdict} the target < {TARGET_MS:.0f} ms"
    )
    return dataclasses.replace(result, notes=(f"command: {' '.join(gymscope)}", note))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=30, help="rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    require_positive(parser, args, "rounds")
    print_table(run(3 if args.quick else args.rounds))


if __name__ == "__main__":
    main()
