"""How the reading commands scale with the episodes in a metrics database.

Issue 15's read targets: on a database of 10,000,000 episodes in 1,000 runs,
``gymscope runs`` and ``gymscope show RUN`` at most 1 s each and flat in the
number of episodes, ``export`` of one run of 10,000 episodes at most 1 s,
``plot`` of two runs at most 2 s, ``report`` of the whole database at most
15 s and 300 MB peak RSS; and on a small database (the demo's, 500
episodes) every reading command within 3 times ``gymscope --help``.

The databases are built here with plain inserts into gymscope's schema
(tables created by :func:`gymscope.metrics.get_db_engine`, then rows by
``executemany`` in one transaction with the journal off, indexes created
after the rows): runs of 10,000 episodes by 4 workers whose episodes
interleave in time, so 100k episodes are 10 runs, 1M are 100 and 10M are
1,000. Each is built once into ``--cache`` (default
``/tmp/gymscope-read-scale``) and reused; the small database is made by
``gymscope demo`` there. No writer of gymscope touched these files: what is
measured is what a reader makes of rows it did not see written.

Each command is a fresh process (the cost a user pays), timed from spawn to
exit, with its peak RSS and CPU time from ``os.wait4`` in a small launcher
process (on a machine shared with other work the CPU time is the steadier
figure; the launcher keeps this process's RSS out of the figure); rounds are interleaved
(``benchmarks/_harness.py``). Beside them, the plain SQL a user could run
(one aggregate grouped by run over every episode, and the last row of each
run) in this process, for scale.

Run with ``uv run python benchmarks/read_scale.py`` (``--sizes 100000`` to
limit the sizes, ``--rounds``; ``--quick``: one round).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import functools
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from _harness import Result, Sample, measure, print_table, require_positive

__all__ = ["build", "commands", "main", "run", "run_size"]

#: Episodes per run and workers per run of the built databases.
EPISODES_PER_RUN = 10_000
WORKERS = 4
SIZES = (100_000, 1_000_000, 10_000_000)
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "gymscope-read-scale"
#: Bumped when the layout of the built databases changes (rebuilds the cache).
BUILD_VERSION = 1
HELP = "gymscope --help"
AGGREGATE = "sqlite3: aggregate by run (all episodes)"
LAST_ROWS = "sqlite3: last row of each run"

TARGETS_S = {"runs": 1.0, "show": 1.0, "export": 1.0, "plot": 2.0, "report": 15.0}
REPORT_RSS_MB = 300.0
STARTUP_RATIO = 3.0

_BASE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


# -- building ------------------------------------------------------------------------
def _episode_rows(experiment_id: int, rng: random.Random, episodes: int) -> Iterator[tuple]:
    """The run's episodes: ``WORKERS`` streams, ~0.5 s apart each, offset so
    that they interleave, each with its own moving average (window 100)."""
    start = _BASE + dt.timedelta(days=experiment_id)
    per_worker = [episodes // WORKERS + (w < episodes % WORKERS) for w in range(WORKERS)]
    for worker, count in enumerate(per_worker):
        window: collections.deque[float] = collections.deque()
        total = 0
        s1 = s2 = 0.0
        level = rng.uniform(10, 100)
        offset = rng.uniform(0, 0.5)
        for num in range(count):
            level += rng.uniform(-1, 1.2)
            reward = round(level + rng.uniform(-5, 5), 3)
            length = max(1, int(reward))
            total += length
            window.append(reward)
            s1 += reward
            s2 += reward * reward
            if len(window) > 100:
                old = window.popleft()
                s1 -= old
                s2 -= old * old
            mean = s1 / len(window)
            std = max(0.0, s2 / len(window) - mean * mean) ** 0.5
            ended = start + dt.timedelta(seconds=offset + num * 0.5 + rng.uniform(0, 0.01))
            yield (
                experiment_id,
                num,
                reward,
                length,
                mean,
                std,
                ended.isoformat(" ", "microseconds")[:26],
                worker,
                0.45,
                1,
                0,
                total,
            )


def build(path: Path, episodes: int, per_run: int = EPISODES_PER_RUN) -> float:
    """Build a database of ``episodes`` episodes in runs of ``per_run`` at
    ``path``; returns the seconds taken."""
    from gymscope.metrics import get_db_engine

    begin = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, partial.with_name(partial.name + "-wal")):
        leftover.unlink(missing_ok=True)
    engine = get_db_engine(partial)  # gymscope's schema, as a writer makes it
    engine.dispose()
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'episode' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    rng = random.Random(15)
    runs = max(1, episodes // per_run)
    conn.execute("BEGIN")
    for run in range(1, runs + 1):
        conn.execute(
            "INSERT INTO experiment (id, agent, env, config, created_at, name, "
            "gymscope_version, stats_window, stats_alpha) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run,
                "PPO",
                "CartPole-v1",
                f'{{"seed": {run}, "lr": 0.0003}}',
                (_BASE + dt.timedelta(days=run)).isoformat(" ", "microseconds")[:26],
                f"run-{run}",
                "0.1.0",
                100,
                0.1,
            ),
        )
        count = per_run if runs > 1 or episodes >= per_run else episodes
        conn.executemany(
            "INSERT INTO episode (experiment_id, episode_num, reward, length, "
            "reward_moving_avg, reward_moving_std, created_at, worker, duration_s, "
            "terminated, truncated, total_steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _episode_rows(run, rng, count),
        )
        conn.executemany(
            "INSERT INTO gymscope_metric (experiment_id, worker, name, step, value, wall_time) "
            "VALUES (?, NULL, ?, ?, ?, ?)",
            [
                (run, name, step * 2048, rng.random(), 1.77e9 + run * 86400 + step)
                for name in ("train/value_loss", "train/entropy_loss")
                for step in range(100)
            ],
        )
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    os.replace(partial, path)
    return time.perf_counter() - begin


def database(cache: Path, episodes: int) -> tuple[Path, float | None]:
    """The cached database of ``episodes`` episodes (built if missing), and
    the build time when it was built now."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"episodes-{episodes}-v{BUILD_VERSION}.db"
    if path.is_file():
        return path, None
    return path, build(path, episodes)


def demo_database(cache: Path) -> Path:
    """The demo's database (500 episodes), made by ``gymscope demo`` once."""
    folder = cache / "gymscope-demo"
    path = folder / "metrics.db"
    if not path.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(
            [*gymscope(), "demo", "--out", str(folder)],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return path


# -- measuring -----------------------------------------------------------------------
def gymscope() -> list[str]:
    """How a user starts gymscope here: the console script next to this Python."""
    script = Path(sys.executable).with_name("gymscope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gymscope"]


def child_env(cache: Path) -> dict[str, str]:
    """The commands' environment: compiled bytecode cached (in ``cache``, not
    in the source tree) as an installed package has it, even where
    ``PYTHONDONTWRITEBYTECODE`` is set: otherwise every start compiles
    rich, Jinja2... again, a cost no user pays."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    return env


#: Runs one command and reports its wall time, peak RSS and CPU time as JSON.
#: Measured from this small process, not from the benchmark's: Linux counts
#: the RSS of the process a command was forked (or vforked) from in the
#: command's ``ru_maxrss`` (exec keeps the old address space's high-water
#: mark), so a benchmark holding a 10M-episode build would lend every
#: command its own peak. This launcher's is about 10 MB.
_LAUNCHER = """
import json, os, subprocess, sys, time
argv = json.loads(sys.argv[1])
start = time.perf_counter()
process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
errors = process.stderr.read()
_, status, usage = os.wait4(process.pid, 0)
elapsed = time.perf_counter() - start
print(json.dumps({
    "elapsed": elapsed, "code": os.waitstatus_to_exitcode(status),
    "rss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime,
    "errors": errors.decode(errors="replace"),
}))
"""


def run_command(argv: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """One fresh process: seconds from spawn to exit, its peak RSS (MB) and the
    CPU seconds it used (user + system), measured by a small launcher process
    (see ``_LAUNCHER``)."""
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(list(argv))]
    done = subprocess.run(launcher, capture_output=True, text=True, env=env, check=True)
    report = json.loads(done.stdout)
    if report["code"] != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {report['errors']}")
    # the CPU time is what a busy machine does not inflate
    return Sample(
        report["elapsed"], extra={"peak RSS MB": report["rss_kb"] / 1024, "CPU s": report["cpu"]}
    )


def commands(db: Path, out: Path, runs: int) -> dict[str, list[str]]:
    """The reading commands measured on ``db`` (outputs into ``out``)."""
    middle, other = f"run-{max(1, runs // 2)}", f"run-{max(1, runs // 2 + 1)}"
    if runs == 1:
        middle = other = "1"
    return {
        "runs": [*gymscope(), "runs", str(db)],
        "show": [*gymscope(), "show", str(db), middle],
        "export": [
            *gymscope(),
            "export",
            str(db),
            middle,
            "--format",
            "csv",
            "-o",
            str(out / "episodes.csv"),
            "--overwrite",
        ],
        "plot": [
            *gymscope(),
            "plot",
            str(db),
            middle,
            *([other] if other != middle else []),
            "-o",
            str(out / "plots"),
        ],
        "report": [
            *gymscope(),
            "report",
            str(db),
            "-o",
            str(out / "report.html"),
            "--overwrite",
        ],
    }


def _timed_query(db: Path, sql: str) -> float:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        start = time.perf_counter()
        conn.execute(sql).fetchall()
        return time.perf_counter() - start
    finally:
        conn.close()


AGGREGATE_SQL = (
    "SELECT experiment_id, count(*), sum(length), max(reward_moving_avg), "
    "count(DISTINCT worker) FROM episode GROUP BY experiment_id"
)
LAST_ROWS_SQL = (
    "SELECT e.* FROM episode e JOIN (SELECT experiment_id, max(id) AS id FROM episode "
    "GROUP BY experiment_id) last ON e.id = last.id"
)


def run_size(
    db: Path, episodes: int, rounds: int, *, label: str | None = None, cache: Path = DEFAULT_CACHE
) -> Result:
    """Every reading command on ``db``, fresh processes, interleaved rounds."""
    runs = max(1, episodes // EPISODES_PER_RUN)
    env = child_env(cache)
    with tempfile.TemporaryDirectory(prefix="gymscope-read-scale-") as folder:
        out = Path(folder)
        cases = {HELP: functools.partial(run_command, [*gymscope(), "--help"], env)}
        for name, argv in commands(db, out, runs).items():
            cases[name] = functools.partial(run_command, argv, env)
        cases[AGGREGATE] = functools.partial(_timed_query, db, AGGREGATE_SQL)
        cases[LAST_ROWS] = functools.partial(_timed_query, db, LAST_ROWS_SQL)
        result = measure(
            f"reading commands on {label or f'{episodes:,} episodes in {runs:,} runs'}",
            cases,
            rounds=rounds,
            warmup_rounds=1,
            reference=HELP,
            per_unit="command",
            params={"episodes": episodes, "runs": runs, "database": str(db)},
        )
        html = out / "report.html"
        size_mb = html.stat().st_size / 1e6 if html.is_file() else 0.0
    notes = [f"report HTML: {size_mb:.2f} MB"]
    if episodes >= 10_000_000 or label is not None:
        notes += _verdicts(result, small=label is not None)
    return dataclasses.replace(result, values={"report HTML MB": size_mb}, notes=tuple(notes))


def _verdicts(result: Result, *, small: bool) -> list[str]:
    notes = []
    help_s = result.figure(HELP).median_s
    for name, target in TARGETS_S.items():
        figure = result.figure(name)
        if small:
            ratio = figure.median_s / help_s
            verdict = "meets" if ratio <= STARTUP_RATIO else "MISSES"
            notes.append(
                f"{name}: {figure.median_s:.3f} s, {ratio:.2f}x gymscope --help; {verdict} "
                f"the target <= {STARTUP_RATIO:g}x"
            )
        else:
            rss = figure.extra.get("peak RSS MB", 0.0)
            met = figure.median_s <= target and (name != "report" or rss <= REPORT_RSS_MB)
            verdict = "meets" if met else "MISSES"
            cpu = figure.extra.get("CPU s", 0.0)
            notes.append(
                f"{name}: {figure.median_s:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MB; {verdict} "
                "the target "
                f"<= {target:g} s" + (f" and <= {REPORT_RSS_MB:g} MB" if name == "report" else "")
            )
    return notes


def run(sizes: Sequence[int] = SIZES, rounds: int = 3, cache: Path = DEFAULT_CACHE) -> list[Result]:
    """The demo database, then each size: one :class:`Result` each."""
    demo = demo_database(cache)
    results = [run_size(demo, 500, rounds, label="the demo's 500 episodes", cache=cache)]
    for episodes in sizes:
        path, took = database(cache, episodes)
        result = run_size(path, episodes, rounds, cache=cache)
        if took is not None:
            result = dataclasses.replace(
                result, notes=(*result.notes, f"built in {took:.1f} s: {path}")
            )
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=list(SIZES),
        help="episodes of each database, comma-separated (default: 100000,1000000,10000000)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="one round: a smoke run")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where databases live")
    args = parser.parse_args(argv)
    require_positive(parser, args, "rounds")
    for result in run(args.sizes, 1 if args.quick else args.rounds, args.cache):
        print_table(result)
        print()


if __name__ == "__main__":
    main()
