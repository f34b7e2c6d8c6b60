"""VectorGymscopeWrapper: the driver of gymscope's vector-native wrappers.

The vector counterpart of :class:`~gymscope.wrappers.base.GymscopeWrapper`:
a :class:`gymnasium.vector.VectorWrapper` that shares one
:class:`~gymscope.vector.tracker.VectorEpisodeTracker` with the other
gymscope vector wrappers of its contiguous stack (created and fed by the
innermost), and hands each finished episode to the sinks it owns.

**Design: every sub-env is a worker of the run.**

A vector env runs ``num_envs`` independent episode streams side by side. The
tracker keeps them apart: sub-env ``i`` is **worker ``i``** of the run, with
its own episode numbers, step count and moving statistics (exactly those a
single-env wrapper on that sub-env would compute). Outputs follow the same
split: a wrapper is given its sinks **per sub-env** — a callable
``make_sinks(i)`` returning the sinks of sub-env ``i``, or one sequence of
sinks per sub-env — and the sinks of sub-env ``i`` are opened with
``tracker.runs[i]``, a :class:`~gymscope.episode.RunInfo` whose ``worker`` is
``i``. Each sink thus sees one stream, as it would behind a single-env
wrapper: a database sink writes worker ``i``'s rows (the database merges the
workers into run-level statistics), a curve or TensorBoard sink draws
worker ``i``'s curve against its own steps, a video sink films sub-env ``i``.
A single sink given to every sub-env would receive interleaved streams whose
indices and step counts repeat. An output that is one stream of the whole
run (a tracker run) is passed as ``shared`` sinks instead: they get every
sub-env's episodes as run-level records (see :meth:`VectorGymscopeWrapper.
run_record`), opened with :attr:`VectorGymscopeWrapper.shared_run`. So the
later vector wrappers are a few lines each, e.g. one ``DatabaseSink`` per
sub-env sharing one engine:

```python
class SQLiteLoggerWrapper(VectorGymscopeWrapper):
    def __init__(self, env, path, experiment):
        engine = get_db_engine(path)
        super().__init__(
            env,
            lambda i: [DatabaseSink(engine, experiment, worker=i)],
            stats=StatsConfig(),
            priority=-1,
        )
```

Sinks get ``on_episode(record, info)`` in sub-env order within a step, where
``info`` is that sub-env's own final-step info
(:func:`~gymscope.vector.tracker.sub_env_info`, the ``final_info`` entry in
``SAME_STEP`` mode); what a sink adds to it does not reach the batched
``info``. A wrapper that writes into the batched ``info`` (the vector
:class:`~gymscope.vector.stats.EpisodeStatsWrapper`) overrides
:meth:`VectorGymscopeWrapper.on_episodes`, called once per step with all the
episodes that ended.

As in the single-env driver, a failing sink never raises out of ``step()``
(an ``OSError`` is warned about once and reported by ``close()``); a
``fork()``-ed child never writes through its parent's sinks; a pickled copy
re-registers itself in its new process; unclosed sinks are closed at
interpreter exit. Training metrics reported with
:meth:`VectorGymscopeWrapper.log_metrics` go once to the ``on_metrics`` of
sub-env 0's sinks (worker 0: they belong to the learner, not to a sub-env);
records of vector wrappers carry no per-episode metric means.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, SupportsFloat

from gymnasium.core import ActType, ObsType
from gymnasium.vector import VectorEnv, VectorWrapper

from gymscope._checks import check_int
from gymscope._driver import SinkOwner, current_pid
from gymscope.episode import EpisodeRecord, ResumeState, RunInfo, StatsBank, StatsConfig
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.sinks.base import EpisodeSink
from gymscope.vector.tracker import (
    EpisodeEnds,
    VectorEpisodeTracker,
    autoreset_mode_of,
)

_pid = current_pid

__all__ = [
    "SinkFactory",
    "VectorGymscopeWrapper",
    "check_vector_env",
    "find_vector_tracker",
    "sinks_per_sub_env",
]

logger = logging.getLogger(__name__)

#: The sinks of sub-env ``i``, given ``i``.
SinkFactory = Callable[[int], Sequence[EpisodeSink]]


def find_vector_tracker(env: object) -> VectorEpisodeTracker | None:
    """The tracker of ``env`` if ``env`` itself is a gymscope vector wrapper, else None.

    Only the direct wrapper is looked at: a foreign wrapper in between may
    change rewards or episode ends, so sharing stops there.
    """
    return env._gymscope_tracker if isinstance(env, VectorGymscopeWrapper) else None


def check_vector_env(env: object) -> None:
    """Refuse what is not a gymnasium vector env."""
    if not isinstance(env, VectorEnv):
        single = " (a single env: use gymscope.EpisodeStatsWrapper)"
        import gymnasium as gym

        raise ArgumentTypeError(
            f"env must be a gymnasium.vector.VectorEnv, got {env!r} ({type(env).__name__})"
            f"{single if isinstance(env, gym.Env) else ''}; wrap the result of "
            "gymnasium.make_vec(...) or gymnasium.vector.SyncVectorEnv([...])"
        )


def sinks_per_sub_env(
    sinks: SinkFactory | Sequence[Sequence[EpisodeSink]] | None, num_envs: int
) -> tuple[tuple[EpisodeSink, ...], ...]:
    """One tuple of sinks per sub-env, from a factory ``sinks(sub_env)`` or a
    sequence with one sequence of sinks per sub-env (None: no sinks).

    Raises:
        InvalidArgumentError: the sequence does not have ``num_envs`` entries.
        ArgumentTypeError: an entry is not a sink.
    """
    if sinks is None:
        return tuple(() for _ in range(num_envs))
    if callable(sinks):
        groups = [sinks(i) for i in range(num_envs)]
    else:
        groups = list(sinks)
        if len(groups) != num_envs:
            raise InvalidArgumentError(
                f"sinks must give one sequence of sinks per sub-env ({num_envs}), got "
                f"{len(groups)}; pass a callable make_sinks(sub_env) -> [sinks] instead"
            )
    out = []
    for i, group in enumerate(groups):
        group = tuple(group)
        for sink in group:
            if not isinstance(sink, EpisodeSink):
                raise ArgumentTypeError(
                    f"the sinks of sub-env {i} must have open(), on_episode(), on_metrics() "
                    f"and close() (see gymscope.sinks.Sink), got {sink!r} "
                    f"({type(sink).__name__})"
                )
        out.append(group)
    return tuple(out)


class VectorGymscopeWrapper(SinkOwner, VectorWrapper):
    """Base of gymscope's vector wrappers: the stack's shared vector tracker
    feeding the per-sub-env sinks this wrapper owns.

    Args:
        env: The vector environment to wrap.
        sinks: The outputs of each sub-env: a callable ``make_sinks(i)``
            returning the sinks of sub-env ``i``, one sequence per sub-env,
            or None (a wrapper that only writes ``info``). Sub-env ``i``'s
            sinks are opened with ``tracker.runs[i]`` (``worker == i``).
        stats: Window and EMA weight of the moving statistics of its records.
        info_keys: Keys of the final step's info to capture into records.
        priority: Where its sinks come among the stack's (lower first).
        moving_arrays: Its :meth:`on_episodes` reads ``ends.moving_arrays``
            at every step (see :meth:`VectorEpisodeTracker.add_listener`).
        shared: Sinks of the whole run: each gets every sub-env's episodes,
            as run-level records (:meth:`run_record`), and the training
            metrics. A shared sink with an ``on_run_episode(record, worker,
            worker_index, info)`` method gets that call instead of
            ``on_episode``, naming the sub-env and its own episode index.

    Raises:
        ArgumentTypeError: ``env`` is not a vector env, a sink is not a sink.
        InvalidArgumentError: not one group of sinks per sub-env.
    """

    _failure_stacklevel = 6

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        sinks: SinkFactory | Sequence[Sequence[EpisodeSink]] | None = None,
        *,
        stats: StatsConfig,
        info_keys: tuple[str, ...] = (),
        priority: int = 0,
        moving_arrays: bool = False,
        shared: Sequence[EpisodeSink] = (),
    ) -> None:
        check_vector_env(env)
        groups = sinks_per_sub_env(sinks, env.num_envs)
        shared = tuple(shared)
        for sink in shared:
            if not isinstance(sink, EpisodeSink):
                raise ArgumentTypeError(
                    f"shared sinks must have open(), on_episode(), on_metrics() and close() "
                    f"(see gymscope.sinks.Sink), got {sink!r} ({type(sink).__name__})"
                )
        VectorWrapper.__init__(self, env)
        tracker = find_vector_tracker(env)
        self._gymscope_owner = tracker is None
        if tracker is None:
            tracker = VectorEpisodeTracker(env.num_envs, autoreset_mode_of(env))
            tracker.env_label = f"{env}"
            spec = getattr(env, "spec", None)
            env_id = getattr(spec, "id", "") or ""
            for run in tracker.runs:
                run.env_id = env_id
        self._gymscope_tracker: VectorEpisodeTracker = tracker
        self._sink_groups = groups
        self._shared = shared
        self._sinks = tuple(s for group in groups for s in group) + shared
        for run, group in zip(tracker.runs, groups, strict=True):
            for sink in group:
                sink.open(run)
        self._shared_run = RunInfo(env_id=tracker.runs[0].env_id)
        self._run_bank = StatsBank(stats)
        self._run_episodes = 0
        self._run_steps = 0  # env steps of the streams resumed, before this process's
        for sink in shared:
            sink.open(self._shared_run)
        if shared:
            for i in range(env.num_envs):
                tracker.add_resume_listener(i, self._resumed)
        tracker.add_listener(
            self._deliver, stats, info_keys, priority=priority, moving_arrays=moving_arrays
        )
        if groups[0] or shared:
            tracker.add_metrics_listener(self._deliver_metrics)
        for i, group in enumerate(groups):
            for sink in group:
                source = getattr(sink, "resume_state", None)
                if callable(source):
                    tracker.add_resume_source(i, source, priority=priority)
                on_resume = getattr(sink, "on_resume", None)
                if callable(on_resume):
                    tracker.add_resume_listener(i, on_resume)
        self._own(self._sinks)

    @property
    def tracker(self) -> VectorEpisodeTracker:
        """The VectorEpisodeTracker this wrapper's stack shares."""
        return self._gymscope_tracker

    @property
    def run_infos(self) -> tuple[RunInfo, ...]:
        """One RunInfo per sub-env (``run_infos[i].worker == i``), shared by its sinks."""
        return self._gymscope_tracker.runs

    @property
    def sinks(self) -> tuple[tuple[EpisodeSink, ...], ...]:
        """The outputs this wrapper feeds, per sub-env."""
        return self._sink_groups

    @property
    def shared_sinks(self) -> tuple[EpisodeSink, ...]:
        """The outputs of the whole run (see ``shared``)."""
        return self._shared

    @property
    def shared_run(self) -> RunInfo:
        """The RunInfo of the shared sinks: the run, no worker (its name and
        database are those of sub-env 0's, once a database sink names them)."""
        return self._shared_run

    @property
    def run_steps(self) -> int:
        """Env steps of the whole vector env: ``num_envs`` per vector step, plus
        the steps of the streams it resumed."""
        tracker = self._gymscope_tracker
        return self._run_steps + tracker.num_envs * tracker._step

    def run_record(self, record: EpisodeRecord) -> EpisodeRecord:
        """``record`` (of one sub-env) as an episode of the whole run: ``index``
        counts the run's episodes, ``total_steps`` is :attr:`run_steps` (the
        vector env's env steps, the x axis of CleanRL's ``global_step``), and
        the moving statistics are over every sub-env's episodes in the order
        they ended (sub-env order within a step)."""
        mean, std, ema_return, ema_length = self._run_bank.push(
            record.episode_return, record.length
        )
        index, self._run_episodes = self._run_episodes, self._run_episodes + 1
        return dataclasses.replace(
            record,
            index=index,
            total_steps=self.run_steps,
            moving_mean=mean,
            moving_std=std,
            ema_return=ema_return,
            ema_length=ema_length,
        )

    def _resumed(self, state: ResumeState) -> None:
        # a resumed sub-env's steps and episodes count in the run's
        self._run_steps += state.total_steps
        self._run_episodes += state.episodes

    # -- hot path ------------------------------------------------------------------
    def step(self, actions: ActType) -> tuple[ObsType, Any, Any, Any, dict[str, Any]]:
        """Step the vector env; the stack's innermost gymscope wrapper accounts it."""
        if self._gymscope_owner:
            tracker = self._gymscope_tracker
            if not tracker._started:
                tracker.raise_not_started()
            result = self.env.step(actions)
            tracker.on_step(result[1], result[2], result[3], result[4])
            return result
        return self.env.step(actions)

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the vector env: all sub-envs, or those of ``options["reset_mask"]``.

        The mask is read before the vector env sees ``options`` (gymnasium's
        vector envs pop it), and the vector env gets a copy, so the caller's
        dict is left as it was.
        """
        mask = None
        if options is not None and "reset_mask" in options:
            mask = options["reset_mask"]
            options = dict(options)
        # VectorEnv types seed as int | None; Sync/AsyncVectorEnv take one per sub-env too
        obs, info = self.env.reset(seed=seed, options=options)  # type: ignore[arg-type]
        if self._gymscope_owner:
            self._gymscope_tracker.on_reset(seed, mask)
        return obs, info

    def log_metrics(self, step: int, **values: SupportsFloat) -> None:
        """Report training metrics (losses, learning rate...) at env step ``step``
        to the stack's sinks of sub-env 0 (``on_metrics``).

        Training metrics belong to the learner, not to one sub-env: they are
        stored once, under worker 0, rather than once per sub-env.

        Raises:
            ArgumentTypeError: a value is not a real number, or ``step`` is not an int.
            InvalidArgumentError: ``step`` is negative.
        """
        self._gymscope_tracker.log_metrics(values, check_int("step", step, 0))

    # -- delivery ------------------------------------------------------------------
    def on_episodes(self, ends: EpisodeEnds, infos: MutableMapping[str, Any]) -> None:
        """Called once per step at which episodes ended, before the sinks get
        them; override to write into the batched ``infos`` (nothing here)."""

    def _deliver(self, ends: EpisodeEnds, infos: MutableMapping[str, Any]) -> None:
        self.on_episodes(ends, infos)
        if not self._sinks:
            return
        if self._owner_pid != _pid[0]:
            self._adopt()
        groups = self._sink_groups
        shared = self._shared
        if shared and self._shared_run.experiment is None:
            self._name_shared_run()
        for record, i, final in zip(ends.records, ends.sub_envs, ends.final_infos, strict=True):
            for sink in groups[i]:
                try:
                    sink.on_episode(record, final)
                except OSError as exc:  # usage errors are not OSErrors
                    self._sink_failed(sink, record, exc)
            if shared:
                self._deliver_shared(self.run_record(record), i, record.index, final)

    def _deliver_shared(
        self, record: EpisodeRecord, worker: int, index: int, final: MutableMapping[str, Any]
    ) -> None:
        for sink in self._shared:
            try:
                on_run_episode = getattr(sink, "on_run_episode", None)
                if callable(on_run_episode):
                    on_run_episode(record, worker, index, final)
                else:
                    sink.on_episode(record, final)
            except OSError as exc:
                self._sink_failed(sink, record, exc)

    def _name_shared_run(self) -> None:
        named = self._gymscope_tracker.runs[0]
        if named.experiment is not None:
            run = self._shared_run
            run.experiment = named.experiment
            run.database = named.database
            run.agent = run.agent or named.agent

    def _deliver_metrics(self, step: int, values: Mapping[str, float]) -> None:
        if self._owner_pid != _pid[0]:
            self._adopt()
        for sink in self._sink_groups[0] + self._shared:
            try:
                sink.on_metrics(step, values)
            except OSError as exc:
                self._sink_failed(sink, None, exc)

    # -- lifecycle -----------------------------------------------------------------
    def close(self, **kwargs: Any) -> None:
        """Flush what this wrapper recorded and close the vector env. Safe to call twice.

        Raises:
            OutputWriteError: a sink lost episodes to an ``OSError``, or could
                still not write its files.
        """
        if getattr(self, "_closed", True):
            return
        try:
            self._close_owned()
        finally:
            self.env.close(**kwargs)

    def __enter__(self) -> VectorGymscopeWrapper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
