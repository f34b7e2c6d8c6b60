"""SummaryWriter: ``torch.utils.tensorboard.SummaryWriter``'s calls, into the metrics database.

CleanRL's single-file agents (and much other training code) log with
TensorBoard's ``SummaryWriter``. Swapping one import::

    from gymscope import SummaryWriter  # was: from torch.utils.tensorboard import ...

keeps every call as it is and stores the scalars, texts and the
``"hyperparameters"`` table in the run's metrics database (through a
:class:`~gymscope.run_logger.RunLogger`), and, when a ``log_dir`` is given,
still writes TensorBoard event files (with tensorboardX). PyTorch is not
needed.

>>> import tempfile
>>> from gymscope.metrics.reader import MetricsReader
>>> folder = tempfile.TemporaryDirectory()
>>> with SummaryWriter(db=f"{folder.name}/m.db", experiment="ppo") as writer:
...     writer.add_text("hyperparameters", "|param|value|\\n|-|-|\\n|learning_rate|0.00025|")
...     writer.add_scalar("losses/value_loss", 0.5, 128)
>>> with MetricsReader(f"{folder.name}/m.db") as reader:
...     reader.metrics("ppo")["losses/value_loss"].steps.tolist(), reader.configs("ppo")[0].value()
([128], {'learning_rate': 0.00025})
>>> folder.cleanup()
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gymscope.errors import ArgumentTypeError
from gymscope.run_logger import RunLogger, _check_step, real_number

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = ["HYPERPARAMETERS_TAG", "UNSTORED_METHODS", "SummaryWriter", "parse_hyperparameters"]

#: The tag under which CleanRL logs its arguments as a Markdown table.
HYPERPARAMETERS_TAG = "hyperparameters"

#: ``SummaryWriter`` methods whose data has no place in the metrics database:
#: accepted, written to the event file when there is one (``log_dir``), and
#: otherwise ignored, with one warning per method.
UNSTORED_METHODS = frozenset(
    {
        "add_audio",
        "add_custom_scalars",
        "add_custom_scalars_marginchart",
        "add_custom_scalars_multilinechart",
        "add_embedding",
        "add_figure",
        "add_graph",
        "add_histogram",
        "add_histogram_raw",
        "add_image",
        "add_image_with_boxes",
        "add_images",
        "add_mesh",
        "add_onnx_graph",
        "add_pr_curve",
        "add_pr_curve_raw",
        "add_tensor",
        "add_video",
    }
)

_SEPARATOR = re.compile(r"^\|\s*:?-+:?\s*\|\s*:?-+:?\s*\|$")


def parse_hyperparameters(text: str) -> dict[str, Any] | None:
    """CleanRL's ``"hyperparameters"`` text (a two-column Markdown table) as a dict.

    Each value is read as a Python literal when it is one (numbers,
    ``True``/``False``/``None``, lists, quoted strings), else kept as the text
    CleanRL wrote (``str(value)``). None when ``text`` is not such a table.

    >>> parse_hyperparameters("|param|value|\\n|-|-|\\n|env_id|CartPole-v1|\\n|lr|0.00025|"
    ...                       "\\n|cuda|True|\\n|track|None|\\n|layers|[64, 64]|")
    {'env_id': 'CartPole-v1', 'lr': 0.00025, 'cuda': True, 'track': None, 'layers': [64, 64]}
    >>> parse_hyperparameters("just a note") is None
    True
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or not _SEPARATOR.match(lines[1]) or _cells(lines[0]) is None:
        return None
    config: dict[str, Any] = {}
    for line in lines[2:]:
        cells = _cells(line)
        if cells is None:
            return None
        key, value = cells
        config[key] = _literal(value)
    return config


def _cells(line: str) -> tuple[str, str] | None:
    """``|key|value|`` as ``(key, value)``; a value may itself hold ``|``."""
    if len(line) < 3 or not (line.startswith("|") and line.endswith("|")):
        return None
    key, bar, value = line[1:-1].partition("|")
    if not bar or not key.strip():
        return None
    return key.strip(), value.strip()


def _literal(text: str) -> Any:
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    from gymscope.metrics.runs import jsonable

    try:  # sets, bytes, complex numbers: kept as written
        json.dumps(jsonable(value, strict=True), allow_nan=False)
    except (TypeError, ValueError):
        return text
    return value


class SummaryWriter:
    """TensorBoard's ``SummaryWriter`` API, storing into a run of the metrics database.

    The positional parameters and the methods are those of
    ``torch.utils.tensorboard.SummaryWriter``; the database is given by the
    keyword-only ones. What is stored:

    - :meth:`add_scalar`: the value at ``global_step`` under ``tag``
      (table ``gymscope_metric``, worker NULL: the trainer).
    - :meth:`add_scalars`: each value as ``main_tag/tag``.
    - :meth:`add_text`: the text (``gymscope_text``); the ``"hyperparameters"``
      table CleanRL logs is also parsed (:func:`parse_hyperparameters`) into
      the run's config history.
    - :meth:`add_hparams`: ``hparam_dict`` into the config history and
      ``metric_dict`` as scalars.
    - the other methods (:data:`UNSTORED_METHODS`: histograms, images, graphs,
      videos...) store nothing in the database: with a ``log_dir`` they still
      write the event file, and each warns once that the database leaves it out.

    A ``global_step`` of None means the last step given to any call (0 before
    the first), so values logged without a step sit next to the latest ones.

    With ``log_dir``, every call is also written to TensorBoard event files
    in that folder by tensorboardX (``pip install tensorboardX``), as
    PyTorch's writer would; without it (PyTorch's default would be
    ``runs/<date>_<host>``), only the database is written. The run is named
    ``experiment``, by default the last part of ``log_dir`` (CleanRL's
    ``run_name``).

    Args:
        log_dir: Folder of the TensorBoard event files; None for none.
        comment: Passed to tensorboardX (suffix of a default ``log_dir``).
        purge_step: Passed to tensorboardX (events from this step on are
            hidden after a crash); the database keeps every value.
        max_queue: Passed to tensorboardX (events kept before a write).
        flush_secs: Seconds between writes of the event file (tensorboardX).
        filename_suffix: Passed to tensorboardX (suffix of the event file's name).
        db: SQLite file path, SQLAlchemy URL or Engine of the metrics database.
        experiment: Name of the run; None for ``log_dir``'s last part, or a
            generated name without ``log_dir``.
        env_id: Env id stored with a new run.
        agent: Agent name stored with a new run.
        config: Configuration stored with the run (see :class:`RunLogger`).
        db_flush_secs: Seconds between two commits to the database.

    Raises:
        gymnasium.error.DependencyNotInstalled: ``log_dir`` was given and
            tensorboardX is not installed.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str = "",
        *,
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        env_id: str = "",
        agent: str = "",
        config: object = None,
        db_flush_secs: float = 1.0,
    ) -> None:
        if log_dir is not None and (
            not isinstance(log_dir, (str, os.PathLike)) or isinstance(os.fspath(log_dir), bytes)
        ):
            raise ArgumentTypeError(
                f"log_dir must be a folder path (str) or None (no event files), got {log_dir!r} "
                f"({type(log_dir).__name__})"
            )
        if experiment is None and log_dir is not None:
            experiment = Path(log_dir).name or None
        self._run = RunLogger(
            db, experiment, env_id=env_id, agent=agent, config=config, flush_secs=db_flush_secs
        )
        self._log_dir = None if log_dir is None else os.fspath(log_dir)
        self._events: Any = None
        if self._log_dir is not None:
            from gymscope.sinks.tensorboard import import_tensorboardx

            import_tensorboardx()  # a missing tensorboardX says how to install it
            from tensorboardX import SummaryWriter as EventWriter  # type: ignore[import-untyped]

            self._events = EventWriter(
                logdir=self._log_dir,
                comment=comment,
                purge_step=purge_step,
                max_queue=max_queue,
                flush_secs=flush_secs,
                filename_suffix=filename_suffix,
            )
        self._last_step = 0
        self._warned: set[str] = set()
        self._closed = False

    # -- properties --------------------------------------------------------------------
    @property
    def run(self) -> RunLogger:
        """The :class:`~gymscope.run_logger.RunLogger` this writer stores through."""
        return self._run

    @property
    def experiment_name(self) -> str:
        """Name of the run in the database."""
        return self._run.experiment_name

    @property
    def log_dir(self) -> str | None:
        """The folder of the event files, or None when none are written."""
        return self._log_dir

    def get_logdir(self) -> str | None:
        """The folder of the event files (PyTorch's method), or None."""
        return self._log_dir

    # -- scalars and texts -------------------------------------------------------------
    def add_scalar(
        self,
        tag: str,
        scalar_value: float,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Store ``scalar_value`` under ``tag`` at ``global_step``.

        Args:
            tag: The metric's name (``"losses/value_loss"``).
            scalar_value: A real number: Python, NumPy, or a one-element tensor.
            global_step: The step; None for the last one given.
            walltime: Unix time of the value; None for now.
            new_style: Accepted for PyTorch's signature (the event encoding).
            double_precision: Accepted for PyTorch's signature (the event encoding).

        Raises:
            ArgumentTypeError: ``scalar_value`` is not a real number, or
                ``global_step`` not an int.
        """
        value = real_number(f"scalar_value of {tag!r}", scalar_value)
        step = self._step(global_step)
        self._run.log_metrics(step, {tag: value}, wall_time=walltime)
        if self._events is not None:
            self._events.add_scalar(tag, value, step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: Mapping[str, float],
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Store each value of ``tag_scalar_dict`` as ``main_tag/tag`` at ``global_step``.

        Raises:
            ArgumentTypeError: a value is not a real number, ``tag_scalar_dict``
                not a mapping.
        """
        if not isinstance(tag_scalar_dict, Mapping):
            raise ArgumentTypeError(
                f"tag_scalar_dict must be a mapping of tags to numbers, such as "
                f"{{'train': 0.5}}, got {tag_scalar_dict!r} ({type(tag_scalar_dict).__name__})"
            )
        values = {
            f"{main_tag}/{tag}": real_number(f"tag_scalar_dict[{tag!r}]", value)
            for tag, value in tag_scalar_dict.items()
        }
        step = self._step(global_step)
        self._run.log_metrics(step, values, wall_time=walltime)
        if self._events is not None:
            self._events.add_scalars(main_tag, dict(tag_scalar_dict), step, walltime)

    def add_text(
        self,
        tag: str,
        text_string: str,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Store ``text_string`` under ``tag``; CleanRL's ``"hyperparameters"``
        table also goes to the run's config history (as a dict)."""
        step = self._step(global_step)
        self._run.log_text(tag, text_string, step, wall_time=walltime)
        if tag == HYPERPARAMETERS_TAG:
            parsed = parse_hyperparameters(text_string)
            if parsed is not None:
                self._run.log_config(parsed)
        if self._events is not None:
            self._events.add_text(tag, text_string, step, walltime)

    def add_hparams(
        self,
        hparam_dict: Mapping[str, Any],
        metric_dict: Mapping[str, float],
        hparam_domain_discrete: Mapping[str, list[Any]] | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """Store ``hparam_dict`` in the config history and ``metric_dict`` as
        scalars at ``global_step`` (``hparam_domain_discrete`` and ``run_name``
        only shape the event file)."""
        if not isinstance(hparam_dict, Mapping) or not isinstance(metric_dict, Mapping):
            raise ArgumentTypeError(
                "hparam_dict and metric_dict must be mappings, got "
                f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}"
            )
        step = self._step(global_step)
        self._run.log_config(dict(hparam_dict))
        values = {
            tag: real_number(f"metric_dict[{tag!r}]", value) for tag, value in metric_dict.items()
        }
        self._run.log_metrics(step, values)
        if self._events is not None:
            self._events.add_hparams(dict(hparam_dict), dict(metric_dict), name=run_name)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name not in UNSTORED_METHODS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return lambda *args, **kwargs: self._unstored(name, args, kwargs)

    def _unstored(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        forward = getattr(self._events, name, None) if self._events is not None else None
        if name not in self._warned:
            self._warned.add(name)
            done = (
                "written to the event file only"
                if forward is not None
                else "ignored (no event file: pass log_dir to write one)"
            )
            warnings.warn(
                f"SummaryWriter.{name}() is not stored in the metrics database: {done}. "
                "Further calls do not warn",
                stacklevel=3,
            )
        if forward is not None:
            forward(*args, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------
    def _step(self, global_step: object) -> int:
        if global_step is None:
            return self._last_step
        self._last_step = _check_step(global_step, "global_step")
        return self._last_step

    def flush(self) -> None:
        """Commit what is buffered to the database and write the event file.

        Raises:
            EpisodeWriteError: the database refuses the rows (they stay queued).
        """
        if self._events is not None:
            self._events.flush()
        self._run.flush()

    def close(self) -> None:
        """Flush and close the database connection and the event file (idempotent).

        Raises:
            EpisodeWriteError: rows could still not be written to the database.
        """
        if self._events is not None and not self._closed:
            self._events.close()
        self._closed = True
        self._run.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SummaryWriter(log_dir={self._log_dir!r}, db={self._run.db_url!r}, "
            f"experiment={self.experiment_name!r})"
        )
