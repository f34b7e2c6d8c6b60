"""gymscope's metrics database: velora's tables and helpers, on SQLite or any SQL server.

The names below are imported on first use, with SQLModel and SQLAlchemy:
importing a submodule that needs neither (the reader of a SQLite file,
:mod:`gymscope.metrics.reader`) stays light, and ``import gymscope`` imports
none of them.

velora's documented query works as is:

>>> from sqlmodel import Session, select
>>> from gymscope.metrics import Episode, get_db_engine
>>> engine = get_db_engine("sqlite://")  # default: sqlite:///metrics.db
>>> with Session(engine) as session:
...     statement = select(Episode).where(Episode.experiment_id == 1)
...     for episode in session.exec(statement):
...         print(episode.reward, episode.length)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymscope.metrics.db import (
        DEFAULT_URL,
        IncompatibleSchemaError,
        get_current_episode,
        get_db_engine,
    )
    from gymscope.metrics.models import SCHEMA_VERSION, Episode, Experiment, metadata
    from gymscope.metrics.runs import WorkerInUseError, experiment_name
    from gymscope.metrics.writer import EpisodeWriteError

__all__ = [
    "DEFAULT_URL",
    "SCHEMA_VERSION",
    "Episode",
    "EpisodeWriteError",
    "Experiment",
    "IncompatibleSchemaError",
    "WorkerInUseError",
    "experiment_name",
    "get_current_episode",
    "get_db_engine",
    "metadata",
]

# Where each name lives (imported by __getattr__ on first use).
_HOMES = {
    "DEFAULT_URL": "db",
    "IncompatibleSchemaError": "db",
    "get_current_episode": "db",
    "get_db_engine": "db",
    "SCHEMA_VERSION": "models",
    "Episode": "models",
    "Experiment": "models",
    "metadata": "models",
    "WorkerInUseError": "runs",
    "experiment_name": "runs",
    "EpisodeWriteError": "writer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
