"""The metrics tables keep velora's schema (names, types, indexes) and add gymscope's."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from gymscope.metrics import Episode, Experiment, get_db_engine, metadata
from gymscope.metrics.models import UTCDateTime

# velora's columns: name -> (SQLAlchemy type, indexed)
VELORA_EXPERIMENT = {
    "id": (sa.Integer, False),
    "agent": (sa.String, True),
    "env": (sa.String, True),
    "config": (sa.String, False),
    "created_at": (sa.DateTime, False),
}
VELORA_EPISODE = {
    "id": (sa.Integer, False),
    "experiment_id": (sa.Integer, True),
    "episode_num": (sa.Integer, True),
    "reward": (sa.Float, False),
    "length": (sa.Integer, False),
    "reward_moving_avg": (sa.Float, False),
    "reward_moving_std": (sa.Float, False),
    "actor_loss": (sa.Float, False),
    "critic_loss": (sa.Float, False),
    "entropy_loss": (sa.Float, False),
    "created_at": (sa.DateTime, False),
}
ADDED_EXPERIMENT = {"name", "gymscope_version", "stats_window", "stats_alpha"}
ADDED_EPISODE = {"worker", "duration_s", "terminated", "truncated", "total_steps", "extra"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = get_db_engine(tmp_path / "m.db")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("model", "velora", "added"),
    [(Experiment, VELORA_EXPERIMENT, ADDED_EXPERIMENT), (Episode, VELORA_EPISODE, ADDED_EPISODE)],
)
def test_every_velora_column_with_its_type_and_index(
    model: type[SQLModel], velora: dict[str, tuple[type, bool]], added: set[str], engine: sa.Engine
) -> None:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    assert set(table.columns.keys()) == set(velora) | added
    indexed = {
        column
        for index in sa.inspect(engine).get_indexes(table.name)
        if len(index["column_names"]) == 1
        for column in index["column_names"]
    }
    for name, (type_, is_indexed) in velora.items():
        column = table.columns[name]
        assert isinstance(column.type, type_) or isinstance(
            getattr(column.type, "impl", None), type_
        ), name
        if is_indexed:
            assert name in indexed, f"{table.name}.{name} must be indexed as in velora"
    assert table.columns["id"].primary_key


def test_episode_foreign_key_and_relationships(engine: sa.Engine) -> None:
    (fk,) = Episode.__table__.columns["experiment_id"].foreign_keys  # type: ignore[attr-defined]
    assert fk.target_fullname == "experiment.id"
    with Session(engine) as session:
        run = Experiment(agent="PPO", env="CartPole-v1", config="{}", name="r")
        run.episodes.append(Episode(episode_num=0, reward=1.0, length=1))
        session.add(run)
        session.commit()
        episode = session.exec(select(Episode)).one()
        assert episode.experiment is not None
        assert episode.experiment.name == "r"
        assert [e.episode_num for e in episode.experiment.episodes] == [0]


def test_defaults_follow_velora(engine: sa.Engine) -> None:
    with Session(engine) as session:
        run = Experiment(agent="A2C", env="e", config="{}", name="d")
        session.add(run)
        session.commit()
        session.refresh(run)
        assert run.id is not None
        session.add(Episode(experiment_id=run.id, episode_num=0, reward=2.0, length=3))
        session.commit()
        episode = session.exec(select(Episode)).one()
    assert episode.entropy_loss == 0.0
    assert episode.actor_loss is None
    assert episode.created_at.tzinfo is not None
    assert abs(episode.created_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)


def test_datetimes_are_stored_as_utc_and_naive_ones_refused(engine: sa.Engine) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    with Session(engine) as session:
        session.add(
            Experiment(
                agent="a",
                env="e",
                config="{}",
                name="tz",
                created_at=dt.datetime(2024, 5, 1, 12, 0, tzinfo=plus_two),
            )
        )
        session.commit()
        run = session.exec(select(Experiment)).one()
        assert run.created_at == dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone.utc)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT created_at FROM experiment").scalar() == (
            "2024-05-01 10:00:00.000000"
        )
    with Session(engine) as session:
        session.add(
            Experiment(
                agent="a", env="e", config="{}", name="n", created_at=dt.datetime(2024, 1, 1)
            )
        )
        with pytest.raises(sa.exc.StatementError, match="has no time zone"):
            session.commit()
    assert isinstance(Experiment.__table__.columns["created_at"].type, UTCDateTime)  # type: ignore[attr-defined]


def test_own_metadata_not_sqlmodels_default() -> None:
    assert {"experiment", "episode"} <= set(metadata.tables)
    assert "episode" not in SQLModel.metadata.tables


def test_user_episode_table_does_not_clash(tmp_path: Path) -> None:
    # In a fresh interpreter: a user model named Episode on SQLModel's default
    # metadata, next to gymscope's, each in its own database.
    code = f"""
from sqlmodel import Field, Session, SQLModel, create_engine, select
import gymscope.metrics as gm

class Episode(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    score: float

mine = create_engine("sqlite:///{tmp_path / "user.db"}")
SQLModel.metadata.create_all(mine)
with Session(mine) as s:
    s.add(Episode(score=3.0)); s.commit()
    print(s.exec(select(Episode.score)).one())
ours = gm.get_db_engine("{tmp_path / "gymscope.db"}")
with Session(ours) as s:
    print(list(s.exec(select(gm.Episode))))
"""
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["3.0", "[]"]


def test_unique_name_and_unique_worker_numbering(engine: sa.Engine) -> None:
    with Session(engine) as session:
        session.add(Experiment(agent="a", env="e", config="{}", name="same"))
        session.add(Experiment(agent="a", env="e", config="{}", name="same"))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
    with Session(engine) as session:
        run = Experiment(agent="a", env="e", config="{}", name="one")
        session.add(run)
        session.commit()
        session.refresh(run)
        assert run.id is not None
        session.add(Episode(experiment_id=run.id, episode_num=0, worker=1, reward=1.0, length=1))
        session.add(Episode(experiment_id=run.id, episode_num=0, worker=2, reward=1.0, length=1))
        session.commit()
        session.add(Episode(experiment_id=run.id, episode_num=0, worker=1, reward=1.0, length=1))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
