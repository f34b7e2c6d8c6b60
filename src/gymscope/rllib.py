"""RLlib: gymscope-wrapped envs in RLlib's env runners, the trainer's metrics beside them.

RLlib (new API stack) builds each env runner's envs from a creator registered
with ``ray.tune.registry.register_env``; :class:`EnvCreator` is such a
creator. It builds the env, wraps it in a
:class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper` writing to one
run (by name) with a stable worker number, and hands it to ``wrap`` for any
further gymscope wrappers::

    from ray.tune.registry import register_env
    import gymscope.rllib

    register_env("cartpole", gymscope.rllib.EnvCreator(
        "CartPole-v1", "postgresql+psycopg://.../runs", "ppo-1",
        num_envs_per_env_runner=2,
    ))
    config = (
        PPOConfig()
        .environment("cartpole")
        .env_runners(num_env_runners=4, num_envs_per_env_runner=2)
        .callbacks(on_train_result=gymscope.rllib.TrainMetrics(
            "postgresql+psycopg://.../runs", "ppo-1"))
    )

**Worker numbers.** Sub-env ``j`` of the env runner with ``worker_index``
``i`` is worker ``i * num_envs_per_env_runner + j`` (:func:`worker_number`):
with 4 remote env runners of 2 sub-envs each, workers 2-9 (the local env
runner, index 0, would be 0 and 1; RLlib samples on it only with
``num_env_runners=0``). A restarted env runner keeps its index, so it continues
its workers' streams. RLlib's new stack hands every sub-env of a runner the
same ``EnvContext`` (``vector_index`` 0), so ``j`` is counted by the creator:
the position of the env among those it built in this process for this
``worker_index``, modulo ``num_envs_per_env_runner``. That holds with RLlib's
default ``gym_env_vectorize_mode="sync"`` (sub-envs built in order, in the env
runner's process); with ``"async"`` each sub-env is built in a process of its
own, so pass ``num_envs_per_env_runner=None`` there: each stack then leases the
lowest free worker number of the run when it starts (every episode is still
stored once, but the numbers are not tied to env runners).

:class:`TrainMetrics` is an ``on_train_result`` callback: it writes the numbers
of each training result (``learners/default_policy/total_loss``,
``env_runners/episode_return_mean``...) into the same run's step-keyed metrics
through a :class:`~gymscope.run_logger.RunLogger` (worker NULL, the trainer),
at step ``num_env_steps_sampled_lifetime``.

Nothing here imports Ray: the module works with whatever RLlib calls it with.
See the "Many machines" docs page for the whole recipe.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from gymscope._checks import check_int, check_str
from gymscope.errors import ArgumentTypeError

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget
    from gymscope.run_logger import RunLogger

__all__ = ["EnvCreator", "TrainMetrics", "worker_number"]

#: Top-level parts of a training result that are RLlib's bookkeeping (the
#: config, dates, ids, host names), not measurements: never logged.
SKIPPED_RESULT_KEYS: tuple[str, ...] = (
    "config",
    "date",
    "done",
    "hostname",
    "node_ip",
    "pid",
    "timestamp",
    "trial_id",
)


def worker_number(worker_index: int, position: int, num_envs_per_env_runner: int) -> int:
    """The gymscope worker number of sub-env ``position`` of env runner ``worker_index``.

    >>> [worker_number(i, j, 2) for i in (1, 2) for j in (0, 1)]
    [2, 3, 4, 5]
    """
    return worker_index * num_envs_per_env_runner + position


class EnvCreator:
    """An RLlib env creator that builds the env inside a gymscope stack.

    Args:
        make: A gymnasium env id (built with ``gym.make(make, **env_config)``)
            or a callable taking RLlib's ``EnvContext`` (a dict of the
            ``env_config``, with ``worker_index`` and ``num_workers``) and
            returning the env.
        db: Where every env runner writes: a SQLite path on one machine, a
            PostgreSQL URL across machines (see
            :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper`).
        experiment: The run's name; every env runner's episodes go to it.
        num_envs_per_env_runner: The same number as RLlib's
            ``env_runners(num_envs_per_env_runner=...)``, for the worker
            numbers (see the module docs); None leases free numbers instead.
        wrap: Called as ``wrap(env, worker)`` with the env in its
            SQLiteLoggerWrapper and the worker number (None when leased),
            returns the env to give RLlib: add video, curves... here.
        agent: Agent name stored with the run.
        config: JSON-serialisable configuration stored with the run.
        window_size: Episodes in the database's moving statistics.
        info_keys: ``info`` keys stored with each episode.
        flush_every: Episodes per database commit (None: the wrapper's
            default for the URL; see SQLiteLoggerWrapper).

    Raises:
        ArgumentTypeError, InvalidArgumentError: a bad argument, at construction.
    """

    def __init__(
        self,
        make: str | Callable[[Any], gym.Env[Any, Any]],
        db: DbTarget,
        experiment: str,
        *,
        num_envs_per_env_runner: int | None = 1,
        wrap: Callable[[gym.Env[Any, Any], int | None], gym.Env[Any, Any]] | None = None,
        agent: str | None = "RLlib",
        config: object = None,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        flush_every: int | None = None,
    ) -> None:
        from gymscope.episode import check_info_keys, check_window_size
        from gymscope.metrics.db import check_db_target
        from gymscope.metrics.runs import dump_config

        if isinstance(make, str):
            check_str("make", make, what="a gymnasium env id or a callable(env_context)")
        elif not callable(make):
            raise ArgumentTypeError(
                f"make must be a gymnasium env id or a callable taking RLlib's EnvContext, "
                f"got {make!r} ({type(make).__name__}); pass e.g. make='CartPole-v1'"
            )
        check_str(
            "experiment",
            experiment,
            what="the run's name (every env runner joins it; a generated name would differ "
            "in each process)",
        )
        if num_envs_per_env_runner is not None:
            check_int("num_envs_per_env_runner", num_envs_per_env_runner, 1)
        if wrap is not None and not callable(wrap):
            raise ArgumentTypeError(
                f"wrap must be a callable(env, worker) returning an env, or None, got {wrap!r}"
            )
        check_db_target(db)  # fails here, in the driver, not in every env runner
        if config is not None:
            dump_config(config)
        self.make = make
        self.db = db
        self.experiment = experiment
        self.num_envs_per_env_runner = num_envs_per_env_runner
        self.wrap = wrap
        self.agent = agent
        self.config = config
        self.window_size = check_window_size(window_size)
        self.info_keys = check_info_keys(info_keys)
        self.flush_every = flush_every
        self._built: defaultdict[int, int] = defaultdict(int)
        self._lock = threading.Lock()

    def __call__(self, env_context: Any) -> gym.Env[Any, Any]:
        """Builds one env for RLlib: ``env_context`` is RLlib's ``EnvContext``."""
        from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper

        env_config = dict(env_context) if isinstance(env_context, Mapping) else {}
        if isinstance(self.make, str):
            env = gym.make(self.make, **env_config)
        else:
            env = self.make(env_context)
        worker = self._next_worker(int(getattr(env_context, "worker_index", 0) or 0))
        env = SQLiteLoggerWrapper(
            env,
            self.db,
            self.experiment,
            agent=self.agent,
            config=self.config,
            window_size=self.window_size,
            info_keys=self.info_keys,
            worker=worker,
            flush_every=self.flush_every,
        )
        return env if self.wrap is None else self.wrap(env, worker)

    def _next_worker(self, worker_index: int) -> int | None:
        if self.num_envs_per_env_runner is None:
            return None
        with self._lock:
            position = self._built[worker_index] % self.num_envs_per_env_runner
            self._built[worker_index] += 1
        return worker_number(worker_index, position, self.num_envs_per_env_runner)

    def __getstate__(self) -> dict[str, Any]:
        # Each process counts its own envs from 0 (a lock cannot be pickled).
        state = self.__dict__.copy()
        del state["_lock"], state["_built"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._built = defaultdict(int)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"EnvCreator({self.make!r}, experiment={self.experiment!r}, "
            f"num_envs_per_env_runner={self.num_envs_per_env_runner!r})"
        )


def result_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The real numbers of an RLlib training result, flattened to ``a/b/c`` keys.

    >>> result_metrics({"learners": {"p": {"total_loss": 1.5}}, "done": False, "x": "s"})
    {'learners/p/total_loss': 1.5}
    """
    return dict(_numbers(result, ""))


def _numbers(values: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, float]]:
    from gymscope.run_logger import real_number

    for key, value in values.items():
        name = f"{prefix}{key}"
        if not prefix and key in SKIPPED_RESULT_KEYS:
            continue
        if isinstance(value, Mapping):
            yield from _numbers(value, f"{name}/")
            continue
        try:
            yield name, real_number(name, value)
        except ArgumentTypeError:  # a string, a list, an array of several values...
            continue


class TrainMetrics:
    """An RLlib ``on_train_result`` callback writing each result into the run.

    Every real number of the result (flattened: ``learners/default_policy/
    total_loss``, ``env_runners/episode_return_mean``...; RLlib's bookkeeping
    such as ``config`` and ``date`` left out) is logged at step
    ``num_env_steps_sampled_lifetime`` through a
    :class:`~gymscope.run_logger.RunLogger` on the driver: worker NULL,
    the trainer. Pass it as ``config.callbacks(on_train_result=TrainMetrics(...))``.

    Args:
        db: The database the env runners write to.
        experiment: The run's name.
        prefixes: Only keys starting with one of these are logged (None: all).
        flush_secs: Seconds between two commits (see RunLogger). The default,
            0, commits each result as it comes: RLlib may call a copy of this
            object (its config is copied), whose logger only the interpreter's
            exit would close.
    """

    def __init__(
        self,
        db: DbTarget,
        experiment: str,
        *,
        prefixes: Sequence[str] | None = None,
        flush_secs: float = 0.0,
    ) -> None:
        from gymscope.run_logger import RunLogger

        self.prefixes = None if prefixes is None else tuple(prefixes)
        if self.prefixes is not None and not all(isinstance(p, str) for p in self.prefixes):
            raise ArgumentTypeError(
                f"prefixes must be strings such as 'learners/', got {prefixes!r}"
            )
        self.run: RunLogger = RunLogger(db, experiment, agent="RLlib", flush_secs=flush_secs)

    def __call__(self, *, result: Mapping[str, Any], **_: Any) -> None:
        """Logs ``result`` (RLlib passes ``algorithm`` and ``metrics_logger`` too)."""
        step = result.get("num_env_steps_sampled_lifetime")
        if step is None:
            step = result.get("env_runners", {}).get("num_env_steps_sampled_lifetime", 0)
        values = result_metrics(result)
        if self.prefixes is not None:
            values = {k: v for k, v in values.items() if k.startswith(self.prefixes)}
        self.run.log_metrics(int(step), values)

    def close(self) -> None:
        """Flushes and closes the run's logger (also done at interpreter exit)."""
        self.run.close()
