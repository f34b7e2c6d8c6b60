"""gymscope's VecMonitor: Stable-Baselines3's ``VecMonitor`` feeding gymscope's sinks.

:class:`VecMonitor` wraps an SB3 ``VecEnv`` (``DummyVecEnv``,
``SubprocVecEnv``...) in the main process. It writes
``infos[i]["episode"] = {"r", "l", "t", ...}`` where SB3's own
``VecMonitor`` does, so ``model.ep_info_buffer`` and
``rollout/ep_rew_mean`` work unchanged, and hands every finished episode to
gymscope's sinks, one group per sub-env (sub-env ``i`` is worker
``worker_offset + i`` of the run). With ``db=``, all the sub-envs write
through one SQLAlchemy engine in the main process (one pool: each sub-env's
sink holds one of its connections): the ``SubprocVecEnv`` worker processes
never connect to the database, nor import SQLAlchemy.

Available as ``gymscope.sb3.VecMonitor``; importing this module does not
import Stable-Baselines3 (the class becomes a subclass of SB3's
``VecMonitor`` when it is first instantiated).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, MutableMapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeGuard

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode

from gymscope._checks import check_int
from gymscope._driver import SinkOwner
from gymscope.episode import (
    RunInfo,
    StatsConfig,
    check_alpha,
    check_info_keys,
    check_window_size,
)
from gymscope.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    StatsKeyClashError,
)
from gymscope.sinks.base import EpisodeSink
from gymscope.sinks.stats import STATS_KEYS
from gymscope.vector.base import SinkFactory, sinks_per_sub_env
from gymscope.vector.tracker import EpisodeEnds, VectorEpisodeTracker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gymscope.metrics.db import DbTarget
    from gymscope.sinks.database import DatabaseSink

__all__ = ["VecMonitor", "import_sb3_vec_env"]

_INSTALL = (
    "pip install stable-baselines3 (it brings PyTorch, which is why gymscope does not depend on it)"
)


def import_sb3_vec_env() -> ModuleType:
    """``stable_baselines3.common.vec_env``, or how to install it.

    Raises:
        gymnasium.error.DependencyNotInstalled: Stable-Baselines3 is missing.
    """
    try:
        from stable_baselines3.common import vec_env
    except ImportError as exc:
        raise gym.error.DependencyNotInstalled(
            f"gymscope.sb3.VecMonitor needs Stable-Baselines3, which is not installed ({exc}): "
            f"{_INSTALL}"
        ) from exc
    module: ModuleType = vec_env
    return module


class VecMonitor(SinkOwner):
    """SB3's ``VecMonitor``, with gymscope's statistics and sinks.

    Wraps a Stable-Baselines3 ``VecEnv`` in the process that trains (the
    ``SubprocVecEnv`` workers only run the envs). Instances are instances of
    ``stable_baselines3.common.vec_env.VecMonitor`` (the class derives from
    it when first instantiated), so SB3 treats the env as monitored
    (``evaluate_policy``, ``is_vecenv_wrapped(env, VecMonitor)``).

    Accounting: SB3's vector envs reset a sub-env within the step that ends
    its episode (``dones[i]``; the last observation in
    ``infos[i]["terminal_observation"]``; ``infos[i]["TimeLimit.truncated"]``
    telling a truncation from a termination), and every step counts. Running
    returns are float64 sums over the batch with NumPy (one addition per
    step); Python runs only for the sub-envs whose episode ended.

    At an episode end of sub-env ``i``, ``infos[i]`` is replaced by a copy
    holding ``"episode"``:

    - ``"r"``: the return (a Python float: the float64 sum of the rewards,
      where SB3's ``VecMonitor`` sums in float32; equal for integer rewards
      such as CartPole's), ``"l"``: the length (int), ``"t"``: seconds since
      this wrapper was made, rounded to 6 places (SB3's meaning);
    - ``"r_mean"``, ``"r_std"``, ``"r_ema"``, ``"l_ema"``: sub-env ``i``'s
      moving statistics, exactly those :class:`gymscope.EpisodeStatsWrapper`
      on that sub-env alone computes;
    - each of ``info_keywords`` the final step's info holds (as SB3's).

    When ``infos[i]["episode"]`` is already there (SB3's ``Monitor`` inside
    the sub-envs, as ``make_vec_env`` adds, or an inner ``VecMonitor``) and
    describes the same episode (same ``l``; same ``r`` up to the inner
    wrapper's rounding or float32 sums), its values are kept and the keys it
    lacks are added; anything else raises :class:`StatsKeyClashError`.

    Outputs: with ``db``, one :class:`~gymscope.sinks.database.DatabaseSink`
    per sub-env, sub-env ``i`` as worker ``worker_offset + i`` of run
    ``experiment``, all on one engine (a given Engine, or one this wrapper
    makes and disposes of at ``close()``); the rows are those the vector
    :class:`gymscope.vector.SQLiteLoggerWrapper` writes. ``sinks`` adds
    more outputs per sub-env (curves, TensorBoard...), opened with
    :attr:`run_infos` ``[i]`` (named by the database first, with ``db``: its
    run and worker number). Nothing is opened before the first
    ``reset()``; a failing output never stops training (an ``OSError`` is
    warned about once and ``close()`` raises it).

    Args:
        venv: The SB3 vector env to wrap.
        db: SQLite file path, SQLAlchemy URL or Engine of the metrics
            database; None writes no rows.
        experiment: Name of the run to join or resume (with ``db``); None
            generates one.
        agent: Agent name stored with a new run (``"PPO"``).
        config: JSON-serialisable configuration stored with the run.
        info_keywords: Keys of the final step's info copied into
            ``info["episode"]`` and captured into the records (``extra`` of
            the rows).
        window_size: Episodes spanned by ``r_mean``/``r_std`` (per sub-env).
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        sinks: More outputs: a callable ``make_sinks(i)`` returning sub-env
            ``i``'s sinks, or one sequence of sinks per sub-env.
        worker_offset: Worker number of sub-env 0 in the database.
        flush_every: Episodes per commit and sub-env; None for 1 on SQLite.

    Raises:
        gymnasium.error.DependencyNotInstalled: Stable-Baselines3 is missing.
        ArgumentTypeError: ``venv`` is not an SB3 ``VecEnv``, a sink is not a sink.
        InvalidArgumentError: a bad argument, before anything is written.

    Example::

        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import SubprocVecEnv

        import gymscope.sb3

        venv = gymscope.sb3.VecMonitor(
            make_vec_env("CartPole-v1", n_envs=4, vec_env_cls=SubprocVecEnv),
            db="metrics.db",
            experiment="ppo-cartpole",
            agent="PPO",
        )
        PPO("MlpPolicy", venv).learn(50_000)
        venv.close()
    """

    # set by SB3's VecEnvWrapper.__init__
    venv: Any
    num_envs: int

    def __new__(cls, *args: Any, **kwargs: Any) -> VecMonitor:
        from gymscope.sb3 import with_sb3_base

        return super().__new__(with_sb3_base(cls, import_sb3_vec_env().VecMonitor))

    def __init__(
        self,
        venv: Any,
        *,
        db: DbTarget | None = None,
        experiment: str | None = None,
        agent: str | None = None,
        config: object = None,
        info_keywords: Sequence[str] = (),
        window_size: int = 100,
        alpha: float = 0.1,
        sinks: SinkFactory | Sequence[Sequence[EpisodeSink]] | None = None,
        worker_offset: int = 0,
        flush_every: int | None = None,
    ) -> None:
        vec_env = import_sb3_vec_env()
        if not isinstance(venv, vec_env.VecEnv):
            hint = (
                " (a gymnasium vector env: use gymscope.vector.EpisodeStatsWrapper)"
                if isinstance(venv, gym.vector.VectorEnv)
                else ""
            )
            raise ArgumentTypeError(
                f"venv must be a stable_baselines3 VecEnv, got {venv!r} "
                f"({type(venv).__name__}){hint}; wrap e.g. make_vec_env(...) or "
                "DummyVecEnv([...])"
            )
        keys = check_info_keys(info_keywords, "info_keywords")
        reserved = sorted(set(keys) & set(STATS_KEYS))
        if reserved:
            raise InvalidArgumentError(
                f"info_keywords {reserved!r} would overwrite the statistics of the same name "
                "in info['episode']; rename them in the env's info or leave them out"
            )
        stats = StatsConfig(check_window_size(window_size), check_alpha(alpha))
        n = check_int("venv.num_envs", venv.num_envs, 1)
        offset = check_int("worker_offset", worker_offset, 0)
        groups = sinks_per_sub_env(sinks, n)
        env_id = _env_id(venv)
        self._owned_engine: Engine | None = None
        db_sinks: tuple[DatabaseSink, ...] = ()
        if db is not None:
            db_sinks = self._database_sinks(
                db, experiment, n, offset, env_id, agent, config, stats, flush_every
            )
        elif experiment is not None:
            raise InvalidArgumentError(
                "experiment names a run of the metrics database: pass db= too (a path, URL "
                "or Engine), or leave experiment out"
            )
        vec_env.VecEnvWrapper.__init__(self, venv)
        # SB3 VecMonitor's attributes, with its meanings
        self.t_start = time.time()
        self.episode_count = 0
        self.info_keywords: tuple[str, ...] = keys
        self.results_writer = None
        tracker = VectorEpisodeTracker(n, AutoresetMode.SAME_STEP)
        tracker.env_label = f"{type(venv).__name__} of {n} env(s)"
        for run in tracker.runs:
            run.env_id = env_id
        self._tracker = tracker
        self._db_sinks = db_sinks
        # each sub-env's DatabaseSink first: the database names the run before the others
        self._sink_groups: tuple[tuple[EpisodeSink, ...], ...] = tuple(
            (db_sinks[i], *group) if db_sinks else group for i, group in enumerate(groups)
        )
        self._sinks: tuple[EpisodeSink, ...] = tuple(s for g in self._sink_groups for s in g)
        self._step_infos: list[dict[str, Any]] = []
        self._no_ends: npt.NDArray[np.bool_] = np.zeros(n, dtype=np.bool_)
        for run, group in zip(tracker.runs, self._sink_groups, strict=True):
            for sink in group:
                sink.open(run)
        tracker.add_listener(self._deliver, stats, keys)
        if self._sink_groups[0]:
            tracker.add_metrics_listener(self._deliver_metrics)
        for i, group in enumerate(self._sink_groups):
            for sink in group:
                source = getattr(sink, "resume_state", None)
                if callable(source):
                    tracker.add_resume_source(i, source)
                on_resume = getattr(sink, "on_resume", None)
                if callable(on_resume):
                    tracker.add_resume_listener(i, on_resume)
        self._own(self._sinks)

    def _database_sinks(
        self,
        db: DbTarget,
        experiment: str | None,
        n: int,
        offset: int,
        env_id: str,
        agent: str | None,
        config: object,
        stats: StatsConfig,
        flush_every: int | None,
    ) -> tuple[DatabaseSink, ...]:
        """One DatabaseSink per sub-env, all on one engine (``db``'s, or one made here)."""
        from gymscope.vector.sqlite_logger import database_sinks

        # checked by each sink at its first open: the first reset (SB3's learn())
        sinks, self._owned_engine = database_sinks(
            db,
            experiment,
            n,
            offset,
            env_id=env_id,
            agent=agent,
            config=config,
            flush_every=flush_every,
            stats=stats,
            check_now=False,
        )
        return sinks

    # -- properties ------------------------------------------------------------------
    @property
    def tracker(self) -> VectorEpisodeTracker:
        """The accounting of the sub-envs' episodes."""
        return self._tracker

    @property
    def run_infos(self) -> tuple[RunInfo, ...]:
        """One RunInfo per sub-env (``run_infos[i].worker == i``), shared by its sinks."""
        return self._tracker.runs

    @property
    def sinks(self) -> tuple[tuple[EpisodeSink, ...], ...]:
        """The outputs fed, per sub-env (its DatabaseSink first, with ``db``)."""
        return self._sink_groups

    @property
    def experiment_name(self) -> str | None:
        """Name of the run in the database (None without ``db``)."""
        return self._db_sinks[0].experiment_name if self._db_sinks else None

    @property
    def workers(self) -> tuple[int | None, ...]:
        """Worker number of each sub-env in the database (empty without ``db``)."""
        return tuple(sink.worker for sink in self._db_sinks)

    @property
    def engine(self) -> Engine | None:
        """The one engine every sub-env's rows go through (None without ``db``)."""
        if not self._db_sinks:
            return None
        return self._db_sinks[0]._engine or self._owned_engine

    @property
    def episode_returns(self) -> npt.NDArray[np.float64]:
        """Running return of each sub-env's episode (a copy)."""
        out: npt.NDArray[np.float64] = np.array(self._tracker.episode_returns)
        return out

    @property
    def episode_lengths(self) -> npt.NDArray[np.int64]:
        """Running length of each sub-env's episode (a copy)."""
        return self._tracker.episode_lengths

    # -- VecEnv ----------------------------------------------------------------------
    def reset(self) -> Any:
        """Reset every sub-env; new episodes start in all of them.

        The seeds given to ``seed()`` before it (SB3 uses them at this reset)
        are the seeds of the new episodes' records (``record.seed``).
        """
        base = getattr(self.venv, "unwrapped", self.venv)
        seeds = list(getattr(base, "_seeds", None) or ())
        obs = self.venv.reset()
        self._tracker.on_reset(seeds if len(seeds) == self.num_envs else None)
        return obs

    def step_wait(self) -> tuple[Any, Any, Any, list[dict[str, Any]]]:
        """Step the sub-envs; account the batch; write ``info["episode"]`` where one ended."""
        obs, rewards, dones, infos = self.venv.step_wait()
        tracker = self._tracker
        if not tracker._started:
            tracker.raise_not_started()
        ended: npt.NDArray[np.bool_] = np.asarray(dones, dtype=np.bool_)
        if not ended.any():
            no = self._no_ends
            tracker.on_step(rewards, no, no, {})
            return obs, rewards, dones, infos
        index = np.flatnonzero(ended).tolist()
        truncated = np.zeros(ended.shape, dtype=np.bool_)
        for i in index:
            truncated[i] = bool(infos[i].get("TimeLimit.truncated", False))
        self._step_infos = new_infos = list(infos)
        try:
            tracker.on_step(
                rewards, ended & ~truncated, truncated, {"final_info": _batched(infos, index)}
            )
        finally:
            self._step_infos = []
        return obs, rewards, dones, new_infos

    def close(self) -> None:
        """Flush what was recorded, dispose of the engine made here, close the venv.

        Safe to call twice.

        Raises:
            OutputWriteError: an output lost episodes to an ``OSError``, or
                could still not write them.
        """
        if getattr(self, "_closed", True):
            return
        try:
            try:
                self._close_owned()
            finally:
                if self._owned_engine is not None:
                    self._owned_engine.dispose()
        finally:
            self.venv.close()

    def flush(self) -> None:
        """Commit every finished episode not yet in the database.

        Raises:
            EpisodeWriteError: the database refuses them (they stay queued).
        """
        for sink in self._db_sinks:
            sink.flush()

    def log_metrics(self, step: int, **values: Any) -> None:
        """Report training metrics at env step ``step`` to sub-env 0's outputs
        (worker 0: they belong to the learner).

        Raises:
            ArgumentTypeError: a value is not a real number.
        """
        self._tracker.log_metrics(values, check_int("step", step, 0))

    # -- delivery --------------------------------------------------------------------
    def _deliver(self, ends: EpisodeEnds, _batched_infos: MutableMapping[str, Any]) -> None:
        infos = self._step_infos
        t = round(time.time() - self.t_start, 6)
        keywords = self.info_keywords
        for j, i in enumerate(ends.sub_envs):
            info = dict(infos[i])  # SB3's VecMonitor copies it too
            mean, std, ema_return, ema_length = ends.moving_stats[j]
            stats: dict[str, Any] = {
                "r": ends.episode_returns[j],
                "l": ends.episode_lengths[j],
                "t": t,
                "r_mean": mean,
                "r_std": std,
                "r_ema": ema_return,
                "l_ema": ema_length,
            }
            for key in keywords:
                if key in info:
                    stats[key] = info[key]
            existing = info.get("episode")
            if existing is None and "episode" not in info:
                info["episode"] = stats
            elif _same_episode(existing, stats["r"], stats["l"]):
                for name, value in stats.items():
                    existing.setdefault(name, value)
            else:
                raise StatsKeyClashError(
                    f"infos[{i}]['episode'] is already set by a wrapper inside this VecMonitor "
                    f"to {existing!r}, which is not this episode (return {stats['r']!r}, "
                    f"length {stats['l']}): SB3 would log one of them. Remove the other "
                    "statistics wrapper, or put gymscope.sb3.VecMonitor directly on the "
                    "VecEnv whose episodes it writes"
                )
            infos[i] = info
        self.episode_count += len(ends.sub_envs)
        if not self._sinks:
            return
        if self._owner_pid != os.getpid():
            self._adopt()
        groups = self._sink_groups
        for record, i in zip(ends.records, ends.sub_envs, strict=True):
            for sink in groups[i]:
                try:
                    sink.on_episode(record, infos[i])
                except OSError as exc:  # usage errors are not OSErrors
                    self._sink_failed(sink, record, exc)

    def _deliver_metrics(self, step: int, values: Mapping[str, float]) -> None:
        if self._owner_pid != os.getpid():
            self._adopt()
        for sink in self._sink_groups[0]:
            try:
                sink.on_metrics(step, values)
            except OSError as exc:
                self._sink_failed(sink, None, exc)

    def _adopt(self) -> None:
        """First use in a process that inherited this wrapper by fork(): also
        leave the parent's engine and its connections alone."""
        if self._owned_engine is not None:
            self._owned_engine.dispose(close=False)
        super()._adopt()


def _env_id(venv: Any) -> str:
    """The id of the sub-envs' spec (``""`` when they have none)."""
    try:
        spec = venv.get_attr("spec", [0])[0]
    except Exception:  # a VecEnv that cannot say: the id is only a label
        spec = None
    return str(getattr(spec, "id", "") or "")


def _batched(infos: Sequence[Mapping[str, Any]], index: list[int]) -> dict[str, Any]:
    """The infos of the sub-envs in ``index`` in gymnasium's batched layout (one
    object array per key and its mask), for the tracker's ``final_info``."""
    n = len(infos)
    out: dict[str, Any] = {}
    for i in index:
        for key, value in infos[i].items():
            values = out.get(key)
            if values is None:
                values = out[key] = np.full(n, None, dtype=object)
                out[f"_{key}"] = np.zeros(n, dtype=np.bool_)
            values[i] = value
            out[f"_{key}"][i] = True
    return out


def _same_episode(
    existing: object, episode_return: float, length: int
) -> TypeGuard[dict[str, Any]]:
    """``existing`` is an ``info["episode"]`` of the same episode: the same ``l`` and
    the same ``r`` up to SB3's rounding (``Monitor``: 6 places) or float32 sums
    (``VecMonitor``: a relative error of float32's epsilon per step)."""
    if not isinstance(existing, dict):
        return False
    r, l_value = existing.get("r"), existing.get("l")
    if isinstance(r, bool) or not isinstance(r, (int, float, np.number)):
        return False
    if isinstance(l_value, bool) or not isinstance(l_value, (int, np.integer)):
        return False
    if int(l_value) != length:
        return False
    theirs = float(r)
    if math.isnan(episode_return) or math.isnan(theirs):
        return math.isnan(episode_return) and math.isnan(theirs)
    if math.isinf(episode_return) or math.isinf(theirs):
        return episode_return == theirs
    rel = 1e-9 if not isinstance(r, np.float32) else float(np.finfo(np.float32).eps) * length
    return math.isclose(theirs, episode_return, rel_tol=rel, abs_tol=1e-6)
