"""TrackerSink: a run handed to an experiment tracker (W&B, MLflow, Comet).

The one sink for every tracker: it decides what reaches the tracker (the
TensorBoard sink's tags, at env steps), buffers it, keeps the tracker run's id
and high-water marks in the metrics database, and keeps the tracker's
failures away from ``step()``. What differs per tracker is a small
:class:`~gymscope.trackers._client.TrackerClient` adapter, chosen by name
(:data:`BACKENDS`) and imported only when used.

>>> from gymscope.sinks.base import replay_returns
>>> from gymscope.state import AnalyticsState
>>> class Recorder:  # a TrackerClient that keeps what it is given
...     backend = "memory"
...     def __init__(self):
...         self.points = []
...     def start(self, spec):
...         return "run-1"
...     def log_config(self, config):
...         pass
...     def log(self, values, *, step):
...         self.points.append((step, values["episode/return"]))
...     def log_video(self, path, *, step, key, caption):
...         pass
...     def finish(self):
...         pass
>>> client = Recorder()
>>> sink = TrackerSink(client, AnalyticsState("demo"))
>>> sink.open(RunInfo(env_id="Stub-v0"))
>>> for record in replay_returns([1.0, 2.0]):
...     sink.on_episode(record)
>>> sink.close()
>>> client.points, sink.run_id
([(1, 1.0), (2, 2.0)], 'run-1')
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from gymscope._checks import check_int, check_number
from gymscope.episode import EpisodeRecord, ResumeState, RunInfo
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, UsageError
from gymscope.sinks._scalars import scalar
from gymscope.sinks.base import Sink
from gymscope.sinks.tensorboard import METRIC_PREFIX, episode_scalars
from gymscope.state import AnalyticsState
from gymscope.trackers._client import TrackerClient, TrackerRunSpec
from gymscope.trackers._store import StoredTrackerRun, TrackerRunStore

__all__ = [
    "BACKENDS",
    "TrackerFailedWarning",
    "TrackerSink",
    "import_backend",
    "make_client",
    "run_name",
    "tracker_target",
]

logger = logging.getLogger(__name__)

#: backend name -> (adapter module, adapter class, SDK module, extra)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "wandb": ("gymscope.trackers.wandb", "WandbClient", "wandb", "wandb"),
    "mlflow": ("gymscope.trackers.mlflow", "MlflowClient", "mlflow", "mlflow"),
    "comet": ("gymscope.trackers.comet", "CometClient", "comet_ml", "comet"),
}

# How many recent episodes' steps are remembered to step the videos that show them.
_STEPS_KEPT = 10_000


class TrackerFailedWarning(RuntimeWarning):
    """A tracker raised: the sink stops calling it (the episodes stay in the database)."""


def _check_backend(backend: object) -> str:
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InvalidArgumentError(
            f"backend must be one of {sorted(BACKENDS)} or a TrackerClient, got {backend!r}"
        )
    return backend


def import_backend(backend: str) -> type[Any]:
    """The adapter class of ``backend``, its SDK checked first.

    Raises:
        InvalidArgumentError: an unknown backend name.
        gymnasium.error.DependencyNotInstalled: the tracker's SDK is missing
            (the message gives ``pip install "gymscope[<extra>]"``).
    """
    module, name, sdk, extra = BACKENDS[_check_backend(backend)]
    install = f'pip install "gymscope[{extra}]" (in a clone of gymscope: pip install ".[{extra}]")'
    try:
        found = importlib.util.find_spec(sdk) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise gym.error.DependencyNotInstalled(
            f"backend={backend!r} needs the {sdk} package, which is not installed: {install}"
        )
    try:
        adapter = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise gym.error.DependencyNotInstalled(
                f"backend={backend!r}: this gymscope has no {module} module"
            ) from None
        raise gym.error.DependencyNotInstalled(
            f"backend={backend!r} could not import {exc.name} ({exc}): {install}"
        ) from exc
    cls: type[Any] = getattr(adapter, name)
    return cls


def make_client(backend: str | TrackerClient) -> TrackerClient:
    """A fresh client for a backend name, or ``backend`` itself if it is a client."""
    if isinstance(backend, str):
        client: TrackerClient = import_backend(backend)()
        return client
    if not isinstance(backend, TrackerClient):
        raise ArgumentTypeError(
            f"backend must be one of {sorted(BACKENDS)} or an object with backend, start(), "
            f"log_config(), log(), log_video() and finish() (gymscope.trackers._client."
            f"TrackerClient), got {backend!r} ({type(backend).__name__})"
        )
    return backend


def tracker_target(backend: str, spec: TrackerRunSpec) -> str:
    """Where a tracker run lives, as kept in the database: the backend's
    project and, when given, entity, URI and folder.

    >>> tracker_target("mlflow", TrackerRunSpec("cartpole", "x", uri="sqlite:///m.db"))
    'project=cartpole uri=sqlite:///m.db'
    """
    parts = [f"project={spec.project}"]
    if spec.entity:
        parts.append(f"entity={spec.entity}")
    if spec.uri:
        parts.append(f"uri={spec.uri}")
    if spec.directory is not None:
        parts.append(f"dir={spec.directory}")
    return " ".join(parts)


def run_name(state: AnalyticsState, agent: str, env: str, episodes: int | None) -> AnalyticsState:
    """``state`` with velora's name and tags filled in where it leaves them open:
    name ``{agent}_{env}_{episodes}ep``, tags ``[agent, env]``; a part that is
    unknown (an empty agent, ``episodes=None``) is left out of both.

    >>> run_name(AnalyticsState("p"), "PPO", "CartPole-v1", 50).experiment_name
    'PPO_CartPole-v1_50ep'
    >>> named = run_name(AnalyticsState("p"), "", "CartPole-v1", None)
    >>> named.experiment_name, named.tags
    ('CartPole-v1', ['CartPole-v1'])
    """
    if agent and env and episodes is not None:
        return state.resolved(agent, env, episodes)
    parts = [p for p in (agent, env) if p]
    name = "_".join(parts + ([f"{episodes}ep"] if episodes is not None else [])) or "gymscope"
    return AnalyticsState(
        state.project_name,
        state.experiment_name if state.experiment_name is not None else name,
        state.tags if state.tags is not None else parts,
        entity=state.entity,
        run_id=state.run_id,
        offline=state.offline,
        directory=state.directory,
    )


class TrackerSink(Sink):
    """Hands finished episodes, training metrics, config and videos to a tracker run.

    What reaches the tracker, always at env steps (``record.total_steps``):

    - per episode, the TensorBoard sink's scalars
      (:func:`~gymscope.sinks.tensorboard.episode_scalars`):
      ``episode/return``, ``episode/length``, ``episode/return_ema_{alpha}``,
      ``episode/length_ema_{alpha}``, ``episode/return_mean_{window}``,
      ``episode/return_std_{window}``, ``info/<key>``, ``episode_metrics/<name>``;
    - ``train/<name>`` for step-keyed training metrics (:meth:`on_metrics`);
    - the ``config`` as the tracker's config/params, once, when the run starts;
    - each video or GIF that appears in ``video_folders`` with a sidecar naming
      this run (see :meth:`add_video`), with the episode's return in its caption.

    Nothing is sent per episode: points are kept and sent every
    ``flush_every`` episodes, or at the first episode ``flush_secs`` after the
    last send, and at :meth:`close`. The tracker run is created at the first
    send. A tracker that raises (unreachable, refused, a bug) is warned about
    once (:class:`TrackerFailedWarning`) and not called again; the episodes
    stay in the metrics database, from which ``gymscope push`` sends them later.

    When the stack has a database sink (``RunInfo.database``), the tracker
    run's id and what it holds are kept in table ``gymscope_tracker_run``: a
    worker that resumes its run continues the same tracker run, never logging
    a step at or below what it already holds, and ``gymscope push`` continues
    it too instead of starting another.

    Args:
        backend: ``"wandb"``, ``"mlflow"``, ``"comet"``, or a
            :class:`~gymscope.trackers._client.TrackerClient`.
        state: The tracker run's project, name, tags and the rest
            (:class:`~gymscope.state.AnalyticsState`).
        config: The run's configuration (JSON-able; nested mappings allowed).
        agent: The agent's name for velora's naming (default: the stack's, from
            its database sink; none: left out).
        episodes: The run's planned number of episodes, for velora's naming
            ``{agent}_{env}_{episodes}ep`` (None: left out of the name).
        uri: MLflow tracking URI (``sqlite:///mlflow.db``, a folder).
        settings: Backend-specific keyword arguments, passed through.
        flush_every: Episodes kept before they are sent.
        flush_secs: Seconds after which kept episodes are sent at the next one.
        video_folders: Folders whose new videos (with sidecars) are attached.
        run_level: The tracker run is of the whole run (all workers), not of
            the stack's worker (the vector wrapper, ``gymscope push``).
        env_name: The env's name for velora's naming when the stack's
            RunInfo has no ``env_id`` (a wrapper passes the env's class name).
        owner: Name used in messages.

    Raises:
        gymnasium.error.DependencyNotInstalled: the backend's SDK is missing.
        TypeError, ValueError: a bad argument.
    """

    def __init__(
        self,
        backend: str | TrackerClient,
        state: AnalyticsState,
        *,
        config: Mapping[str, Any] | None = None,
        agent: str | None = None,
        episodes: int | None = None,
        uri: str | None = None,
        settings: Mapping[str, Any] | None = None,
        flush_every: int = 50,
        flush_secs: float = 10.0,
        video_folders: Iterable[str | os.PathLike[str]] = (),
        run_level: bool = False,
        env_name: str = "",
        owner: str = "TrackerSink",
    ) -> None:
        if not isinstance(state, AnalyticsState):
            raise ArgumentTypeError(
                f"state must be a gymscope.AnalyticsState, got {state!r} "
                f"({type(state).__name__}); pass AnalyticsState('my-project')"
            )
        if config is not None and not isinstance(config, Mapping):
            raise ArgumentTypeError(
                f"config must be a mapping (e.g. a dict of hyperparameters) or None, got "
                f"{config!r} ({type(config).__name__})"
            )
        if agent is not None and not isinstance(agent, str):
            raise ArgumentTypeError(
                f"agent must be a str (the agent's name, e.g. 'PPO') or None, got {agent!r}"
            )
        if episodes is not None:
            episodes = check_int("episodes", episodes, 0, "the run's planned number of episodes")
        if uri is not None and (not isinstance(uri, str) or not uri.strip()):
            raise InvalidArgumentError(
                f"uri must be a tracking URI such as 'sqlite:///mlflow.db', or None; got {uri!r}"
            )
        if settings is not None and not isinstance(settings, Mapping):
            raise ArgumentTypeError(f"settings must be a mapping or None, got {settings!r}")
        self.flush_every = check_int("flush_every", flush_every, 1, "episodes kept before a send")
        self.flush_secs = check_number(
            "flush_secs", flush_secs, low=0.0, what="a finite number of seconds > 0"
        )
        folders: list[str | os.PathLike[str]]
        if isinstance(video_folders, (str, os.PathLike)):
            folders = [video_folders]
        else:
            folders = list(video_folders)
        self.video_folders = [Path(os.fspath(f)).expanduser().absolute() for f in folders]
        self._backend_arg = backend
        self.client = make_client(backend)
        self.backend: str = str(getattr(self.client, "backend", "custom"))
        self.state = state
        self.config = dict(config) if config is not None else None
        self.agent = agent
        self.episodes = episodes
        self.uri = uri
        self.settings = dict(settings or {})
        self.run_level = run_level
        self.env_name = env_name
        self.owner = owner
        self.run_id: str | None = state.run_id
        """The tracker's id of the run (None until it starts)."""
        self.failed: BaseException | None = None
        """The error that stopped the tracker, if one did."""
        self.spec: TrackerRunSpec | None = None
        self.kept: bool | None = None
        """The run id and high-water marks are in the metrics database (None:
        no database, or nothing to keep yet; False: it refused them)."""
        self.episodes_sent = 0
        """Episodes this sink has sent to the tracker."""
        self._reset_buffers()
        self._seen_videos: set[Path] = self._existing_videos()
        self._closed = False

    def _reset_buffers(self) -> None:
        # (is a training metric, step, values), in the order they came
        self._points: list[tuple[bool, int, dict[str, float]]] = []
        self._videos_due = []
        self._pending_episodes = 0
        self._pending_marks: dict[int, int] = {}
        self._pending_step: int | None = None
        self._pending_metric_step: int | None = None
        self._next_send = time.monotonic() + self.flush_secs
        self._started = False
        self._store: TrackerRunStore | None = None
        self._stored = StoredTrackerRun("")
        self._floor_episode: int | None = None  # steps at or below: sent before
        self._floor_metric: int | None = None
        self._steps: OrderedDict[tuple[int | None, int], int] = OrderedDict()
        self._skipped: set[str] = set()

    # -- what the sink takes -------------------------------------------------------
    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Keep the scalars of ``record`` (sent with the next batch)."""
        run = self.run
        self.on_run_episode(record, None if run is None else run.worker, record.index, info)

    def on_run_episode(
        self,
        record: EpisodeRecord,
        worker: int | None,
        worker_index: int,
        info: MutableMapping[str, Any] | None = None,
    ) -> None:
        """Keep ``record``, which is episode ``worker_index`` of ``worker``
        (a run-level driver's record counts the run's episodes instead)."""
        if self._closed:
            raise UsageError(
                f"episode {record.index} ended after {self.owner}.close(); it is not sent. "
                f"Create a new {self.owner} to keep logging"
            )
        step = int(record.total_steps)
        self._steps[(worker, worker_index)] = step
        if len(self._steps) > _STEPS_KEPT:
            self._steps.popitem(last=False)
        if self.failed is None:
            self._points.append((False, step, dict(episode_scalars(record, self._skipped))))
            if self._skipped:
                for key in sorted(self._skipped):
                    logger.debug("%s: info[%r] is not a number; not sent", self.owner, key)
                self._skipped.clear()
        if worker is not None:
            self._pending_marks[worker] = worker_index
        self._pending_step = step
        self._pending_episodes += 1
        if self._pending_episodes >= self.flush_every or time.monotonic() >= self._next_send:
            self.flush()

    def on_metrics(self, step: int, values: Mapping[str, float]) -> None:
        """Keep ``train/<name>`` for each numeric value, at ``step``."""
        if self._closed:
            raise UsageError(f"metrics at step {step} reported after {self.owner}.close()")
        numbers = {}
        for name, raw in values.items():
            value = scalar(raw)
            if value is not None:
                numbers[METRIC_PREFIX + name] = value
        if numbers and self.failed is None:
            self._points.append((True, int(step), numbers))
        self._pending_metric_step = max(int(step), self._pending_metric_step or 0)

    def add_video(self, path: str | os.PathLike[str], *, step: int, caption: str) -> None:
        """Attach a finished video or GIF at ``step`` (sent with the next batch)."""
        self._seen_videos.add(Path(path).absolute())
        self._videos_due.append((Path(path), step, caption))

    _videos_due: list[tuple[Path, int, str]]

    def on_resume(self, state: ResumeState) -> None:
        """The stack continues its stored stream: the tracker run is continued
        too (its id is read from the database when the run starts)."""
        logger.debug("%s: resuming after %d episodes", self.owner, state.episodes)

    # -- sending -------------------------------------------------------------------
    def _spec(self) -> TrackerRunSpec:
        run = self.run or RunInfo()
        agent = self.agent if self.agent is not None else run.agent
        state = run_name(self.state, agent or "", run.env_id or self.env_name, self.episodes)
        return TrackerRunSpec(
            project=state.project_name,
            name=state.experiment_name or "gymscope",
            tags=tuple(state.tags or ()),
            run_id=self.run_id,
            directory=None if state.directory is None else Path(state.directory).absolute(),
            offline=state.offline,
            entity=state.entity,
            uri=self.uri,
            settings=self.settings,
        )

    def use_store(self, store: TrackerRunStore, stored: StoredTrackerRun | None) -> None:
        """Keep the tracker run in ``store``'s row, continuing ``stored`` (what
        that row holds) when given: ``gymscope push`` continues a worker's live run."""
        self._store = store
        if stored is not None:
            self._adopt(stored)

    def _open_store(self, spec: TrackerRunSpec, *, load: bool = True) -> None:
        run = self.run
        if self._store is not None:
            return
        if run is None or run.database is None or run.experiment is None:
            return
        self._store = TrackerRunStore(
            run.database,
            run.experiment,
            worker=None if self.run_level else run.worker,
            backend=self.backend,
            target=tracker_target(self.backend, spec),
        )
        if not load:
            return
        try:
            stored = self._store.load()
        except Exception as exc:
            logger.warning(
                "%s: could not read the tracker run of %r from the metrics database (%s); "
                "a new tracker run is started",
                self.owner,
                run.experiment,
                exc,
            )
            return
        if stored is not None:
            self._adopt(stored)

    def _adopt(self, stored: StoredTrackerRun) -> None:
        """Continue ``stored``: its id, and never a step it already holds."""
        if self.run_id is None:
            self.run_id = stored.run_id
        if self.run_id == stored.run_id:
            self._stored = stored
            self._floor_episode = stored.episode_step
            self._floor_metric = stored.metric_step

    def start(self) -> None:
        """Create (or continue) the tracker run now rather than at the first send."""
        if self._started or self.failed is not None:
            return
        self._started = True
        spec = self._spec()
        if self.run_id is None or self._store is None:
            self._open_store(spec)
        spec = TrackerRunSpec(**{**spec.__dict__, "run_id": self.run_id})
        self.spec = spec
        try:
            self.run_id = self.client.start(spec)
            if self.config:  # a continued run's backend keeps what it has
                self.client.log_config(self.config)
        except Exception as exc:
            self._fail(exc, "start")
            return
        if self._stored.run_id != self.run_id:
            self._stored = StoredTrackerRun(self.run_id)
        self._save()

    def flush(self) -> None:
        """Send what is kept now (creating the tracker run first if needed)."""
        self._next_send = time.monotonic() + self.flush_secs
        self._collect_videos()
        if not self._started:
            self.start()
        points, self._points = self._points, []
        videos, self._videos_due = self._videos_due, []
        sent, self._pending_episodes = self._pending_episodes, 0
        if self.failed is not None:
            return
        floor_episode, floor_metric = self._floor_episode, self._floor_metric
        try:
            for is_metric, step, values in points:
                floor = floor_metric if is_metric else floor_episode
                if floor is not None and step <= floor:
                    continue  # the tracker holds it: sent before a resume
                self.client.log(values, step=step)
            extra_flush = getattr(self.client, "flush", None)
            if callable(extra_flush):
                extra_flush()
            for path, step, caption in videos:
                if path.name in self._stored.videos:
                    continue  # attached before (a continued run)
                if floor_episode is not None:
                    step = max(step, floor_episode)  # never back in steps
                key = "video/gif" if path.suffix.lower() == ".gif" else "video/episode"
                self.client.log_video(path, step=step, key=key, caption=caption)
                self._stored.videos.append(path.name)
        except Exception as exc:
            self._fail(exc, "log")
            return
        self.episodes_sent += sent
        stored = self._stored
        stored.episodes.update(self._pending_marks)
        self._pending_marks = {}
        if self._pending_step is not None:
            stored.episode_step = max(self._pending_step, stored.episode_step or 0)
        if self._pending_metric_step is not None:
            stored.metric_step = max(self._pending_metric_step, stored.metric_step or 0)
        self._save()

    def _save(self) -> None:
        if self._store is None and self.spec is not None:
            self._open_store(self.spec, load=False)  # the database sink opened since
        store = self._store
        if store is None or not self._stored.run_id:
            return
        try:
            saved = store.save(self._stored)
        except Exception as exc:
            log = logger.warning if self.kept is not False else logger.debug
            self.kept = False
            log(
                "%s: could not keep the tracker run id in the metrics database (%s); a later "
                "gymscope push may start a new tracker run",
                self.owner,
                exc,
            )
        else:
            self.kept = saved if self.kept is not False else False

    def _fail(self, exc: BaseException, what: str) -> None:
        self.failed = exc
        self._points = []
        self._videos_due = []
        where = (
            ""
            if self.run is None or self.run.experiment is None
            else (
                f"; the episodes stay in the metrics database: send them later with "
                f"gymscope push DB {self.run.experiment} --to {self.backend}"
            )
        )
        warnings.warn(
            f"{self.owner}: the {self.backend} tracker failed ({type(exc).__name__}: {exc}) at "
            f"{what}; it is not called again for this run{where}",
            TrackerFailedWarning,
            stacklevel=2,
        )
        logger.debug("%s: tracker failure", self.owner, exc_info=exc)

    # -- videos --------------------------------------------------------------------
    def _existing_videos(self) -> set[Path]:
        seen: set[Path] = set()
        for folder in self.video_folders:
            seen.update(item.path.absolute() for item in _media(folder))
        return seen

    def _collect_videos(self) -> None:
        """Queue the videos that appeared in ``video_folders`` since the last look
        and whose sidecars name this run (and, unless run-level, this worker)."""
        run = self.run
        for folder in self.video_folders:
            for item in _media(folder):
                path = item.path.absolute()
                if path in self._seen_videos or not item.sidecar:
                    continue  # without a sidecar yet: written, sidecar to come
                experiment = item.experiment
                if run is not None and run.experiment is not None and experiment is not None:
                    if experiment != run.experiment:
                        continue
                    other = run.worker is not None and item.worker != run.worker
                    if not self.run_level and item.worker is not None and other:
                        continue
                self._seen_videos.add(path)
                step, caption = self.video_step(item.sidecar, item.worker)
                self._videos_due.append((item.path, step, caption))

    def video_step(self, sidecar: Mapping[str, Any], worker: int | None) -> tuple[int, str]:
        """The step and caption of a video from its sidecar: the step of the
        first episode it shows (as this sink logged it), its index and return."""
        episodes = [e for e in sidecar.get("episodes") or () if isinstance(e, dict)]
        first = episodes[0] if episodes else {}
        index = first.get("index")
        key = (None if self.run_level and worker is None else worker, index)
        step = self._steps.get(key) if isinstance(index, int) else None  # type: ignore[arg-type]
        if step is None and isinstance(index, int):
            step = self._steps.get((worker, index))
        if step is None:
            step = self._pending_step or self._stored.episode_step or 0
        value = first.get("return", sidecar.get("return"))
        shown = "NaN" if not isinstance(value, (int, float)) else f"{value:.6g}"
        who = f"worker {worker}, " if self.run_level and worker is not None else ""
        caption = f"{who}episode {index if index is not None else '?'}: return {shown}"
        return step, caption

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Send what is kept and end the tracker run (idempotent). Never raises
        for the tracker's sake: a failure is warned about once."""
        if self._closed:
            return
        try:
            if self._points or self._pending_episodes or self._started or self._has_new_videos():
                self.flush()
            if self._started and self.failed is None:
                try:
                    self.client.finish()
                except Exception as exc:
                    self._fail(exc, "finish")
            elif self._started:
                # a failed client is not sent anything more, but its run is still
                # ended, best effort (an SDK keeps a run it was not told to end
                # open in the process: W&B's id stays "in use", Comet runs one)
                try:
                    self.client.finish()
                except Exception as exc:
                    logger.debug("%s: finishing a failed tracker run failed: %s", self.owner, exc)
        finally:
            self._closed = True
            if self._store is not None:
                self._store.close()

    def _has_new_videos(self) -> bool:
        self._collect_videos()
        return bool(self._videos_due)

    def forked(self) -> None:
        """In a forked child: leave the parent's tracker run alone; a new client
        (and tracker run, of this process's worker) is made at the first send."""
        self.client = make_client(self._backend_arg)
        self.run_id = self.state.run_id
        self._reset_buffers()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self._backend_arg, str):
            state["client"] = None  # a started SDK client does not travel
        state.update(
            _points=[], _pending_episodes=0, _pending_marks={}, _started=False, _store=None,
            _videos_due=[], run_id=self.state.run_id, _stored=StoredTrackerRun(""),
            _steps=OrderedDict(), _floor_episode=None, _floor_metric=None,
        )  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if state["client"] is None:
            self.client = make_client(self._backend_arg)
        self._next_send = time.monotonic() + self.flush_secs


def _media(folder: Path) -> Sequence[Any]:
    from gymscope.report.media import find_media

    return find_media([folder])
