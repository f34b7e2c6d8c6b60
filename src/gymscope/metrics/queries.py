"""Reading a metrics database: runs, their summaries and their episodes.

The reader lives in :mod:`gymscope.metrics.reader`, the objects it returns in
:mod:`gymscope.metrics.records`; this module gathers both.

What ``gymscope runs/show/export/plot/report`` and
:func:`~gymscope.charts.plot_experiment` read, in one place. A
:class:`MetricsReader` never writes and never creates anything: a SQLite path
that does not exist is an error (:class:`DatabaseNotFoundError`), not a new
empty ``metrics.db``; an existing file is opened with writes refused
(``PRAGMA query_only``), or in SQLite's read-only mode when this process may
not write it. Tables are reflected, not taken from gymscope's models, so a
database written by velora itself (no ``name``, ``worker``, ... columns) reads
too; what it lacks reads as missing values.

Experiments are found by id or by name (:meth:`MetricsReader.experiment`). An
unknown one raises :class:`ExperimentNotFoundError`, whose message lists the
closest names.

>>> import tempfile, gymnasium as gym
>>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
>>> folder = tempfile.TemporaryDirectory()
>>> db = f"{folder.name}/metrics.db"
>>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), db, experiment="cartpole-1")
>>> _ = env.reset(seed=0)
>>> for _ in range(100):
...     _, _, terminated, truncated, _ = env.step(0)
...     if terminated or truncated:
...         _ = env.reset()
>>> env.close()
>>> with MetricsReader(db) as reader:
...     (run,) = reader.runs()
...     episodes = reader.episodes("cartpole-1")
>>> run.name, run.env, run.episodes == len(episodes), run.steps <= 100
('cartpole-1', 'CartPole-v1', True, True)
>>> with MetricsReader(db) as reader:
...     try:
...         reader.experiment("cartpole")
...     except ExperimentNotFoundError as exc:
...         print(exc)
no experiment 'cartpole' in the database; close matches: 1 ('cartpole-1')
>>> MetricsReader(f"{folder.name}/missing.db")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
gymscope.errors.DatabaseNotFoundError: no metrics database at '.../missing.db'
>>> folder.cleanup()
"""

from __future__ import annotations

from gymscope.errors import (
    DatabaseNotFoundError,
    ExperimentNotFoundError,
    NotAMetricsDatabaseError,
)
from gymscope.metrics.reader import MetricsReader, describe_target, looks_like_database
from gymscope.metrics.records import EPISODE_FIELDS, ExperimentInfo, RunEpisodes, RunSummary

__all__ = [
    "EPISODE_FIELDS",
    "DatabaseNotFoundError",
    "ExperimentInfo",
    "ExperimentNotFoundError",
    "MetricsReader",
    "NotAMetricsDatabaseError",
    "RunEpisodes",
    "RunSummary",
    "describe_target",
    "looks_like_database",
]
