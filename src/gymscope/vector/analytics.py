"""The vector AnalyticsWrapper: one tracker run for the whole vector env."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gymnasium.vector import VectorEnv

from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.state import AnalyticsState
from gymscope.trackers._client import TrackerClient
from gymscope.trackers.sink import TrackerSink
from gymscope.vector.base import VectorGymscopeWrapper, check_vector_env
from gymscope.wrappers.analytics import analytics_sink

__all__ = ["AnalyticsWrapper"]


def _video_folders(env: object) -> list[str]:
    """The folders of the gymscope vector video wrappers inside ``env``'s stack."""
    from gymscope.sinks.video import VideoSink

    folders: list[str] = []
    while isinstance(env, VectorGymscopeWrapper) or hasattr(env, "env"):
        if isinstance(env, VectorGymscopeWrapper):
            for group in env.sinks:
                for sink in group:
                    if isinstance(sink, VideoSink) and sink.video_folder not in folders:
                        folders.append(sink.video_folder)
        inner = getattr(env, "env", None)
        if inner is None or inner is env:
            break
        env = inner
    return folders


class AnalyticsWrapper(VectorGymscopeWrapper):
    """Hands every sub-env's finished episodes to one experiment-tracker run.

    The vector counterpart of :class:`gymscope.AnalyticsWrapper`: not one
    tracker run per sub-env, but one for the run (the vector env), holding
    the episodes of all sub-envs in the order they ended (sub-env order
    within a step). An episode's step is the vector env's env steps when it
    ended (``num_envs`` per vector step, CleanRL's ``global_step``); its
    moving mean/std and EMAs are run-level, over all sub-envs' episodes (see
    :meth:`~gymscope.vector.base.VectorGymscopeWrapper.run_record`). The keys,
    batching, naming, failure handling and database bookkeeping are the
    single-env wrapper's; with a vector database wrapper in the stack
    (:class:`gymscope.vector.SQLiteLoggerWrapper`), the tracker run is that of
    the whole run (``worker`` NULL in ``gymscope_tracker_run``), which
    ``gymscope push`` continues. Training metrics
    (``envs.log_metrics(step=..., name=value)``) are logged once, as
    ``train/<name>``.

    A resumed vector run continues its tracker run and its steps; its
    run-level statistics start again from the resumed episodes (the stored
    ones are not replayed into them).

    Args:
        env: The vector environment to wrap.
        state: Project, name, tags, ... of the tracker run.
        backend: ``"wandb"``, ``"mlflow"``, ``"comet"``, or a TrackerClient.
        config: The run's configuration.
        agent: The agent's name, for the run's name and tags.
        episodes: The planned number of episodes, for the run's name.
        uri: MLflow tracking URI.
        settings: Backend-specific keyword arguments, passed through.
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        window_size: Episodes spanned by the moving mean and std.
        info_keys: Keys of the sub-envs' final-step ``info`` to log as ``info/<key>``.
        flush_every: Episodes kept before they are sent.
        flush_secs: Seconds after which kept episodes are sent at the next one.
        video_folders: More folders whose new videos (with sidecars naming
            this run) are attached.

    Raises:
        gymnasium.error.DependencyNotInstalled: the tracker's SDK is missing.
        TypeError, ValueError: a bad argument.
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        state: AnalyticsState,
        backend: str | TrackerClient = "wandb",
        *,
        config: Mapping[str, Any] | None = None,
        agent: str | None = None,
        episodes: int | None = None,
        uri: str | None = None,
        settings: Mapping[str, Any] | None = None,
        alpha: float = 0.1,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        flush_every: int = 50,
        flush_secs: float = 10.0,
        video_folders: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        check_vector_env(env)
        alpha = check_alpha(alpha)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        sink = analytics_sink(
            env,
            state,
            backend,
            stack_folders=_video_folders(env),
            video_folders=video_folders,
            run_level=True,
            config=config,
            agent=agent,
            episodes=episodes,
            uri=uri,
            settings=settings,
            flush_every=flush_every,
            flush_secs=flush_secs,
        )
        self._tracker_sink = sink
        super().__init__(
            env, None, stats=StatsConfig(window_size, alpha), info_keys=keys, shared=[sink]
        )

    @property
    def tracker_sink(self) -> TrackerSink:
        """The sink that feeds the tracker."""
        return self._tracker_sink

    @property
    def tracker_run_id(self) -> str | None:
        """The tracker's id of the run (None until its first send)."""
        return self._tracker_sink.run_id

    def close(self, **kwargs: Any) -> None:
        """Close the vector env first (inner wrappers finish their videos and
        rows), then send what is kept and end the tracker run. Safe to call twice."""
        if getattr(self, "_closed", True):
            return
        try:
            self.env.close(**kwargs)
        finally:
            self._close_owned()
