"""Cost of writing every episode to a database, on the training thread.

Two measurements, each beside references measured in the same process:

1. **Per-episode cost** of the ways to store one row per finished episode
   below, each of which has the row in the database (for SB3: a line in the
   file, flushed to the OS) when the ``step()`` that ended the episode
   returns:

   - (a) ``SQLiteLoggerWrapper`` with its defaults (SQLite file, each
     episode one line in the writer's journal with one ``write()`` before
     ``step()`` returns, committed in batches by a background thread; see
     ``gymscope.metrics.journal``); (a') the same with ``journal=False``: one
     commit per episode, WAL, ``synchronous=NORMAL``;
   - (b) velora's way: one SQLModel ``Session`` for the run, an ``Episode``
     object ``add``-ed and ``commit``-ted per episode, on a SQLite file in
     SQLite's default rollback-journal mode (``journal_mode=DELETE``);
   - (c) SB3's ``Monitor`` writing its CSV (when stable-baselines3 is
     importable);
   - (d) the practical floor: the stdlib ``sqlite3`` module executing one
     prepared ``INSERT`` of the same 16 columns per episode in autocommit
     mode (one transaction each), WAL, ``synchronous=NORMAL``, into the same
     table of a file made by gymscope's ``get_db_engine`` (1 KB pages),
     checkpointed at the WAL size gymscope's writer uses: what the wrapper
     does minus the wrapper; (d') the same with SQLite's defaults (4 KB
     pages, checkpoint every 1000 pages), what a hand-written logger gets;
   - (e) (b)'s ORM commit per episode on a WAL file;
   - (f) the journal's floor: one ``os.write`` to an ``O_APPEND`` file of the
     episode packed as the journal packs the usual one (``struct.pack``,
     CRC-32, header): what survives SIGKILL, nothing else.

   **Method.** Each variant wraps its own no-op env whose episodes are 20
   steps long; the loop times the ``step()`` call that ends each episode, in
   which all of these do their write. The cost of a variant is that time
   minus the same time of the bare env in the same round: the cost on the
   training thread per episode (the no-op env makes the rest negligible, so
   nothing is lost in noise). The (b), (d) and (e) sinks are minimal wrappers
   written here (a running return and length, the row built from them); (a)
   and (c) are the shipped wrappers. Rounds run every variant once in a
   rotated order (garbage collection off inside a block;
   ``benchmarks/_harness.py``); the table shows the median added cost (each
   round's median episode minus the bare env's in the same round, median
   over rounds), the mean and the 99th percentile over every episode (the
   mean includes the rare slow commits: WAL checkpoints and their fsyncs),
   each minus the bare env's, and ratios against the floor (d). Slow
   variants play fewer episodes per round.
2. **A whole run**: random-policy ``CartPole-v1`` (``gym.make`` defaults,
   actions from ``action_space.sample()``) for 20,000 episodes six ways:
   bare, through ``SQLiteLoggerWrapper`` (and with ``journal=False``),
   through the floor's sink (d) (its commit alone: what any per-episode
   commit costs a run), and two references for what wrapping costs at all on
   an env this cheap: a pass-through ``gym.Wrapper`` (nothing but the calls)
   and gymnasium's ``RecordEpisodeStatistics``. All are seeded alike, so
   they play the same episodes. The run is cut into chunks played by each
   in turn, in an order rotated every chunk, so load
   from other processes hits all alike; totals and the ratio of totals are
   shown, with the median of the per-chunk ratios. Each env first plays a
   few untimed episodes (the logger's first write creates the database and
   registers the run: a one-time cost shown separately).

Run with ``uv run python benchmarks/db_logging.py`` (``--help`` for knobs;
``--quick`` is a smoke run whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import gc
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import sqlalchemy as sa
from _envs import NoOpEnv, sb3_monitor
from _harness import Case, Figure, Result, Sample, measure, print_table, require_positive
from sqlmodel import Session

from gymscope.metrics import Episode, Experiment, get_db_engine, metadata
from gymscope.metrics.writer import WAL_AUTOCHECKPOINT_BYTES
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper

BARE = "bare env"
OURS = "(a) SQLiteLoggerWrapper"
VELORA = "(b) velora: ORM commit, DELETE journal"
SB3 = "(c) SB3 Monitor, CSV"
FLOOR = "(d) raw sqlite3 commit, WAL [floor]"
FLOOR_DEFAULTS = "(d') (d) with SQLite's defaults"
ORM_WAL = "(e) ORM commit, WAL"
OURS_SYNC = "(a') SQLiteLoggerWrapper(journal=False)"
JOURNAL_FLOOR = "(f) one write() of a packed record"

EPISODE_LENGTH = 20
OURS_TARGET_US = 30.0
CARTPOLE = "CartPole-v1"
RUN_BARE = "bare"
RUN_LOGGED = "logged"
RUN_FLOOR = "floor"
RUN_SYNC = "logged, journal=False"
RUN_PASS = "pass-through gym.Wrapper"
RUN_GYM = "gymnasium RecordEpisodeStatistics"
#: The journal's target: the logged random-CartPole run at most this times the bare run.
JOURNAL_RUN_TARGET = 1.05

_INSERT = (
    "INSERT INTO episode (experiment_id, episode_num, reward, length, reward_moving_avg, "
    "reward_moving_std, actor_loss, critic_loss, entropy_loss, created_at, worker, duration_s, "
    "terminated, truncated, total_steps, extra) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# -- the reference sinks ------------------------------------------------------------
class EpisodeSink(gym.Wrapper[Any, Any, Any, Any]):
    """Adds up return and length; at each episode end calls ``write(values)``.

    ``values`` holds what a row needs: episode number, return, length, a
    running mean of returns, duration, end time, how it ended, total steps.
    """

    def __init__(self, env: gym.Env[Any, Any], write: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(env)
        self._write = write
        self._num = 0
        self._return = 0.0
        self._length = 0
        self._total = 0
        self._sum = 0.0
        self._start = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._return, self._length, self._start = 0.0, 0, time.perf_counter()
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        self._return += float(result[1])
        self._length += 1
        if result[2] or result[3]:
            self._total += self._length
            self._sum += self._return
            self._write(
                {
                    "episode_num": self._num,
                    "reward": self._return,
                    "length": self._length,
                    "reward_moving_avg": self._sum / (self._num + 1),
                    "duration_s": time.perf_counter() - self._start,
                    "ended_at": time.time(),
                    "terminated": bool(result[2]),
                    "truncated": bool(result[3]),
                    "total_steps": self._total,
                }
            )
            self._num += 1
        return result


def _experiment(engine: sa.Engine) -> int:
    with Session(engine) as session:
        experiment = Experiment(agent="random", env="NoOp", config="{}", name="benchmark")
        session.add(experiment)
        session.commit()
        assert experiment.id is not None
        return experiment.id


def orm_sink(engine: sa.Engine) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """velora's write: an ``Episode`` object added and committed per episode."""
    experiment_id = _experiment(engine)
    session = Session(engine)

    def write(v: dict[str, Any]) -> None:
        session.add(
            Episode(
                experiment_id=experiment_id,
                episode_num=v["episode_num"],
                reward=v["reward"],
                length=v["length"],
                reward_moving_avg=v["reward_moving_avg"],
                reward_moving_std=0.0,
                actor_loss=None,
                critic_loss=None,
                entropy_loss=0.0,
                created_at=dt.datetime.fromtimestamp(v["ended_at"], dt.timezone.utc),
                duration_s=v["duration_s"],
                terminated=v["terminated"],
                truncated=v["truncated"],
                total_steps=v["total_steps"],
            )
        )
        session.commit()

    def close() -> None:
        session.close()
        engine.dispose()

    return write, close


def raw_sink(
    path: Path, *, gymscope_checkpoints: bool = True
) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """One autocommit ``INSERT`` per episode through the stdlib driver, WAL mode.

    With ``gymscope_checkpoints`` the WAL is checkpointed when it reaches the
    size gymscope's writer uses; otherwise at SQLite's default (1000 pages).
    """
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    if gymscope_checkpoints:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_BYTES // page_size}")
    (experiment_id,) = db.execute("SELECT id FROM experiment").fetchone()
    cursor = db.cursor()
    utc = dt.timezone.utc

    def write(v: dict[str, Any]) -> None:
        created = dt.datetime.fromtimestamp(v["ended_at"], utc).isoformat(" ", "microseconds")
        cursor.execute(
            _INSERT,
            (
                experiment_id,
                v["episode_num"],
                v["reward"],
                v["length"],
                v["reward_moving_avg"],
                0.0,
                None,
                None,
                0.0,
                created[:26],
                0,
                v["duration_s"],
                v["terminated"],
                v["truncated"],
                v["total_steps"],
                None,
            ),
        )

    return write, db.close


def journal_sink(path: Path) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """One ``os.write`` per episode to an ``O_APPEND`` file of the episode packed
    as the journal packs it (one ``struct.pack``, a CRC-32, a header)."""
    import os
    import struct
    import zlib

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    body, header = struct.Struct("<Bqqdqdddqd??q").pack, struct.Struct("<II").pack

    def write(v: dict[str, Any]) -> None:
        data = body(
            1, 1, v["episode_num"], v["reward"], v["length"], v["reward_moving_avg"], 0.0,
            v["ended_at"], 0, v["duration_s"], v["terminated"], v["truncated"], v["total_steps"],
        )  # fmt: skip
        os.write(fd, header(len(data), zlib.crc32(data)) + data)

    return write, functools.partial(os.close, fd)


def plain_sqlite_file(path: Path) -> sa.Engine:
    """The gymscope tables in a file with SQLite's defaults (as velora creates it)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


def make_variants(folder: Path) -> tuple[dict[str, gym.Env[Any, Any]], list[Callable[[], None]]]:
    """Every variant's env, reset; and what to call to close the references."""
    closers: list[Callable[[], None]] = []
    envs: dict[str, gym.Env[Any, Any]] = {
        BARE: NoOpEnv(EPISODE_LENGTH),
        OURS: SQLiteLoggerWrapper(NoOpEnv(EPISODE_LENGTH), folder / "a.db", experiment="benchmark"),
    }
    write, close = orm_sink(plain_sqlite_file(folder / "b.db"))
    envs[VELORA] = EpisodeSink(NoOpEnv(EPISODE_LENGTH), write)
    closers.append(close)
    monitor = sb3_monitor()
    if monitor is not None:
        envs[SB3] = monitor(NoOpEnv(EPISODE_LENGTH), filename=str(folder / "c"))
    write, close = raw_sink(floor_file(folder / "d.db"))
    envs[FLOOR] = EpisodeSink(NoOpEnv(EPISODE_LENGTH), write)
    closers.append(close)
    engine = plain_sqlite_file(folder / "d4k.db")
    _experiment(engine)
    engine.dispose()
    write, close = raw_sink(folder / "d4k.db", gymscope_checkpoints=False)
    envs[FLOOR_DEFAULTS] = EpisodeSink(NoOpEnv(EPISODE_LENGTH), write)
    closers.append(close)
    write, close = orm_sink(get_db_engine(folder / "e.db"))
    envs[ORM_WAL] = EpisodeSink(NoOpEnv(EPISODE_LENGTH), write)
    closers.append(close)
    envs[OURS_SYNC] = SQLiteLoggerWrapper(
        NoOpEnv(EPISODE_LENGTH), folder / "a-sync.db", experiment="benchmark", journal=False
    )
    write, close = journal_sink(folder / "f.journal")
    envs[JOURNAL_FLOOR] = EpisodeSink(NoOpEnv(EPISODE_LENGTH), write)
    closers.append(close)
    for env in envs.values():
        env.reset(seed=0)
    return envs, closers


# -- per-episode cost ---------------------------------------------------------------
def time_episode_ends(env: gym.Env[Any, Any], episodes: int) -> list[Sample]:
    """The last ``step()`` of each of ``episodes`` whole episodes, one sample each."""
    step, reset = env.step, env.reset
    clock = time.perf_counter_ns
    times: list[Sample] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(episodes):
            for _ in range(EPISODE_LENGTH - 1):
                step(0)
            start = clock()
            step(0)
            times.append(Sample((clock() - start) / 1e9))
            reset()
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def episodes_per_round(name: str, fast: int) -> int:
    """Slow variants (milliseconds per episode) play fewer episodes per round."""
    if name == VELORA:
        return max(2, fast // 40)
    if name == ORM_WAL:
        return max(2, fast // 10)
    return fast


def run_episode_cost(folder: Path, rounds: int, episodes: int, warmup: int) -> Result:
    """Every episode-ending step of every variant, interleaved rounds; ratio vs the floor (d).

    ``added_s`` is the per-round median minus the bare env's, median over
    rounds; ``mean_s`` and ``p99_s`` are over every episode (minus the bare
    env's for the cost they add).
    """
    envs, closers = make_variants(folder)
    try:
        for name, env in envs.items():  # first writes open files and databases: not timed
            time_episode_ends(env, episodes_per_round(name, warmup))
        cases: dict[str, Case] = {
            name: functools.partial(time_episode_ends, env, episodes_per_round(name, episodes))
            for name, env in envs.items()
        }
        result = measure(
            "cost on the training thread per episode: time of the step() that ends the "
            "episode minus the bare env's",
            cases,
            rounds=rounds,
            reference=FLOOR,
            baseline=BARE,
            per_unit="episode",
            params={"episodes": episodes, "warmup": warmup},
        )
    finally:
        for env in envs.values():
            env.close()
        for close in closers:
            close()
    return dataclasses.replace(result, notes=tuple(cost_summary(result)))


def cost_summary(result: Result) -> list[str]:
    bare = result.figure(BARE)

    def us(name: str) -> tuple[float, float, float]:
        """Added median, mean and mean ratio to the floor's (us, us, x)."""
        figure, floor = result.figure(name), result.figure(FLOOR)
        mean, floor_mean = figure.mean_s - bare.mean_s, floor.mean_s - bare.mean_s
        return (figure.added_s or 0.0) * 1e6, mean * 1e6, mean / floor_mean

    ours_median, ours_mean, ours_mean_ratio = us(OURS)
    velora_median, velora_mean, _ = us(VELORA)
    floor_median, floor_mean, _ = us(FLOOR)
    met = ours_median <= OURS_TARGET_US
    lines = [
        f"{OURS}: {ours_median:.1f} us/episode median (target <= {OURS_TARGET_US:.0f} us: "
        f"{'met' if met else 'NOT met'}), {ours_mean:.1f} us mean; "
        f"{result.figure(OURS).ratio_to_reference or math.nan:.2f}x the floor's median, "
        f"{ours_mean_ratio:.2f}x its mean",
        f"{VELORA}: {velora_median / 1000:.2f} ms/episode median, "
        f"{velora_mean / 1000:.2f} ms mean; {velora_median / ours_median:.0f}x (a)",
        f"floor (d): {floor_median:.1f} us/episode median, {floor_mean:.1f} us mean",
    ]
    if OURS_SYNC in result:
        sync_median, sync_mean, _ = us(OURS_SYNC)
        lines.append(
            f"{OURS_SYNC}: {sync_median:.1f} us median, {sync_mean:.1f} us mean: the journal "
            f"saves {sync_mean / ours_mean:.1f}x on the training thread (means)"
        )
    if JOURNAL_FLOOR in result:
        journal_median, journal_mean, _ = us(JOURNAL_FLOOR)
        lines.append(
            f"{JOURNAL_FLOOR}: {journal_median:.1f} us median, {journal_mean:.1f} us mean "
            "(the journal's floor)"
        )
    if SB3 in result:
        sb3_median, sb3_mean, _ = us(SB3)
        met_sb3 = ours_mean <= sb3_mean
        lines.append(
            f"{SB3}: {sb3_median:.1f} us median, {sb3_mean:.1f} us mean; (a)/(c) "
            f"{ours_mean / sb3_mean:.2f}x by means, {ours_median / sb3_median:.2f}x by medians "
            f"(target (a) <= (c): {'met' if met_sb3 else 'NOT met'})"
        )
    if FLOOR_DEFAULTS in result:
        d4k_median, d4k_mean, d4k_mean_ratio = us(FLOOR_DEFAULTS)
        lines.append(
            f"with SQLite's defaults (d'): {d4k_median:.1f} us median, {d4k_mean:.1f} us mean "
            f"({result.figure(FLOOR_DEFAULTS).ratio_to_reference or math.nan:.2f}x / "
            f"{d4k_mean_ratio:.2f}x the floor's)"
        )
    return lines


# -- a whole run --------------------------------------------------------------------
def play(env: gym.Env[Any, Any], episodes: int) -> tuple[float, int]:
    """Seconds and steps to play ``episodes`` random-policy episodes."""
    step, reset, sample = env.step, env.reset, env.action_space.sample
    steps = 0
    start = time.perf_counter()
    for _ in range(episodes):
        reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = step(sample())
            done = terminated or truncated
            steps += 1
    return time.perf_counter() - start, steps


class PassThrough(gym.Wrapper[Any, Any, Any, Any]):
    """The cheapest wrapper: ``step`` and ``reset`` call the env's, nothing else."""

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(**kwargs)


def floor_file(path: Path) -> Path:
    """A database made by ``get_db_engine`` holding one experiment, for the raw sink."""
    engine = get_db_engine(path)
    _experiment(engine)
    engine.dispose()
    return path


def run_cartpole(folder: Path, episodes: int, chunks: int, warmup: int) -> Result:
    """The same random-policy run: bare, logged, and with the floor's write; ratio vs bare.

    Every round is a chunk of the run (chunks differ by one episode at most);
    ``values`` holds each way's steps and the first write's milliseconds.
    """
    write, close = raw_sink(floor_file(folder / "run-floor.db"))
    logged = SQLiteLoggerWrapper(gym.make(CARTPOLE), folder / "run.db", experiment="cartpole")
    envs: dict[str, gym.Env[Any, Any]] = {
        RUN_BARE: gym.make(CARTPOLE),
        RUN_LOGGED: logged,
        RUN_FLOOR: EpisodeSink(gym.make(CARTPOLE), write),
        RUN_SYNC: SQLiteLoggerWrapper(
            gym.make(CARTPOLE), folder / "run-sync.db", experiment="cartpole", journal=False
        ),
        # what any wrapper costs here: CartPole's step is a few microseconds
        RUN_PASS: PassThrough(gym.make(CARTPOLE)),
        RUN_GYM: gym.wrappers.RecordEpisodeStatistics(gym.make(CARTPOLE)),
    }
    for env in envs.values():
        env.reset(seed=0)
        env.action_space.seed(0)
    first_write = time.perf_counter()
    play(logged, 1)
    first_write = time.perf_counter() - first_write
    for name, env in envs.items():
        play(env, warmup + (name != RUN_LOGGED))  # the same episodes each way
    per_chunk = [episodes // chunks + (i < episodes % chunks) for i in range(chunks)]
    steps = dict.fromkeys(envs, 0)
    played = dict.fromkeys(envs, 0)

    def chunk(name: str) -> Sample:
        n = per_chunk[played[name]]
        played[name] += 1
        seconds, done = play(envs[name], n)
        steps[name] += done
        return Sample(seconds, units=n)

    try:
        result = measure(
            f"{CARTPOLE}, random policy, {episodes} episodes in {chunks} interleaved chunks",
            {name: functools.partial(chunk, name) for name in envs},
            rounds=chunks,
            reference=RUN_BARE,
            per_unit="episode",
            params={"episodes": episodes, "chunks": chunks, "warmup": warmup},
        )
    finally:
        for env in envs.values():
            env.close()
        close()
    values = {f"{name} steps": float(n) for name, n in steps.items()}
    values["first write ms"] = first_write * 1000
    result = dataclasses.replace(result, values=values)
    return dataclasses.replace(result, notes=tuple(run_lines(result)))


def run_lines(result: Result) -> list[str]:
    bare, logged, floor = (result.figure(n) for n in (RUN_BARE, RUN_LOGGED, RUN_FLOOR))
    n = bare.units
    sync = result.figure(RUN_SYNC)
    ratio = logged.total_s / bare.total_s
    met = ratio <= JOURNAL_RUN_TARGET
    steps = {result.values[f"{name} steps"] for name in result.names()}

    def ratio_of(name: str) -> float:
        return result.figure(name).total_s / bare.total_s

    def chunk_ratio(figure: Figure) -> float:
        return statistics.median(a / b for a, b in zip(figure.round_s, bare.round_s, strict=True))

    def added(figure: Figure) -> float:
        return (figure.total_s - bare.total_s) / n * 1e6

    return [
        f"{result.values[f'{RUN_BARE} steps']:.0f} steps each way"
        f"{'' if len(steps) == 1 else ', NOT equal'}: bare {bare.total_s:.2f} s, with "
        f"SQLiteLoggerWrapper {logged.total_s:.2f} s, with the floor's write (d) "
        f"{floor.total_s:.2f} s",
        f"run time ratio logged/bare: {ratio:.3f} (target <= {JOURNAL_RUN_TARGET}: "
        f"{'met' if met else 'NOT met'}); median chunk ratio {chunk_ratio(logged):.3f}",
        f"without the journal (journal=False, a commit per episode): "
        f"{sync.total_s / bare.total_s:.3f} (median chunk ratio {chunk_ratio(sync):.3f})",
        f"the least any wrapper costs, a pass-through gym.Wrapper (step and reset only "
        f"call the env's): {ratio_of(RUN_PASS):.3f}; gymnasium's RecordEpisodeStatistics: "
        f"{ratio_of(RUN_GYM):.3f}; SQLiteLoggerWrapper over the pass-through: "
        f"{logged.total_s / result.figure(RUN_PASS).total_s:.3f}",
        f"floor/bare: {floor.total_s / bare.total_s:.3f} (median chunk ratio "
        f"{chunk_ratio(floor):.3f}): one raw commit per episode alone, without any episode "
        "statistics",
        f"a bare episode takes {bare.total_s / n * 1e6:.1f} us; the logger adds "
        f"{added(logged):.1f} us/episode, the floor's write {added(floor):.1f} us/episode",
        f"first write (create the file, register the run, lease worker 0): "
        f"{result.values['first write ms']:.1f} ms, once per run (not in the totals)",
    ]


# -- command line -------------------------------------------------------------------
def run(
    *,
    rounds: int = 15,
    episodes: int = 2_000,
    run_episodes: int = 20_000,
    chunks: int = 40,
    warmup: int = 200,
) -> list[Result]:
    """The per-episode cost, then the whole run, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="gymscope-db-bench-") as tmp:
        folder = Path(tmp)
        return [
            run_episode_cost(folder, rounds, episodes, warmup),
            run_cartpole(folder, run_episodes, chunks, warmup),
        ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument(
        "--episodes", type=int, default=2_000, help="episodes per round of the fast variants"
    )
    parser.add_argument(
        "--run-episodes", type=int, default=20_000, help="episodes of the CartPole run"
    )
    parser.add_argument("--chunks", type=int, default=40, help="interleaved chunks of the run")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a few episodes (numbers meaningless)"
    )
    args = parser.parse_args(argv)
    args.warmup = 200
    if args.quick:
        args.rounds, args.episodes, args.run_episodes, args.chunks = 2, 40, 40, 2
        args.warmup = 2
    require_positive(parser, args, "rounds", "episodes", "run_episodes", "chunks")
    if args.chunks > args.run_episodes:
        parser.error("--chunks must be <= --run-episodes")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, SQLAlchemy "
        f"{sa.__version__}, gymnasium {gym.__version__}; {args.rounds} interleaved rounds of "
        f"{args.episodes} episodes ({EPISODE_LENGTH} no-op steps each; (b) and (e) play fewer)"
    )
    if sb3_monitor() is None:
        print("note: stable_baselines3 is not importable: (c) SB3 Monitor skipped")
    cost, cartpole = run(
        rounds=args.rounds,
        episodes=args.episodes,
        run_episodes=args.run_episodes,
        chunks=args.chunks,
        warmup=args.warmup,
    )
    print()
    print_table(cost, tails=True)
    print()
    print_table(cartpole)


if __name__ == "__main__":
    main()
