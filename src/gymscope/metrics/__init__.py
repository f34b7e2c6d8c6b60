"""gymscope's metrics database: velora's tables and helpers, on SQLite or any SQL server.

Importing this package imports SQLModel and SQLAlchemy; ``import gymscope``
does not.

velora's documented query works as is:

>>> from sqlmodel import Session, select
>>> from gymscope.metrics import Episode, get_db_engine
>>> engine = get_db_engine("sqlite://")  # default: sqlite:///metrics.db
>>> with Session(engine) as session:
...     statement = select(Episode).where(Episode.experiment_id == 1)
...     for episode in session.exec(statement):
...         print(episode.reward, episode.length)
"""

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
