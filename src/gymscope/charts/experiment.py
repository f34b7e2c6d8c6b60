"""plot_experiment: the training curves of a run, drawn from the metrics database.

A run logged only with :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper`
(or by velora itself) can be plotted afterwards with the same charts
:class:`~gymscope.wrappers.curves.CurveRecorderWrapper` draws. SQLAlchemy and
SQLModel are imported when :func:`plot_experiment` is called, not before.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gymscope._files import check_writable_dir, safe_name
from gymscope.charts.curves import rolling_mean, write_curve_charts

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["plot_experiment"]

# Columns every velora-schema database has; the rest are read when present.
_REQUIRED = ("experiment_id", "episode_num", "reward", "length")
_LOSSES = ("actor_loss", "critic_loss", "entropy_loss")
_JSON_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _as_float(value: Any) -> float | None:
    """A stored value as a float (None, NaN -> NaN), or None if not a number."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _JSON_FLOATS.get(value)
    if isinstance(value, (bool, int, float)):
        return float(value)
    return None


def plot_experiment(
    engine_or_url: Engine | URL | str | os.PathLike[str],
    experiment: int | str,
    output_dir: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    window_size: int = 100,
    scale: float = 1.0,
) -> list[Path]:
    """Draw a logged run's curves: return, length, and every extra series.

    Writes ``{prefix}_reward_curve``, ``{prefix}_length_curve`` and one
    ``{prefix}_{name}_curve`` per captured info value and metric (from the
    ``extra`` column, and ``actor_loss``/``critic_loss``/``entropy_loss`` when
    reported), each as ``.svg`` and ``.png``, atomically, into ``output_dir``.

    Episodes are taken in the order they ended: by ``episode_num`` for a run
    with one worker, by ``created_at`` across workers otherwise. Moving
    averages are computed over that sequence with ``window_size`` (for a
    one-worker run logged with the same window they equal the stored
    ``reward_moving_avg``). NULL values are gaps. ``entropy_loss`` is charted
    only if some episode has a non-zero value (0.0 is also what the logger
    stores when no entropy loss was reported).

    Nothing is written to the database, and a velora database (no gymscope
    columns) works too, by experiment id.

    Args:
        engine_or_url: A SQLAlchemy Engine, URL (``"sqlite:///metrics.db"``,
            ``"postgresql+psycopg://..."``) or SQLite file path.
        experiment: The experiment's id, or its name.
        output_dir: Folder for the charts; created if missing.
        prefix: Start of the file names; default: the experiment's name made
            file-safe (``experiment_{id}`` without a name).
        window_size: Episodes in the moving averages.
        scale: PNG resolution relative to the 960x540 layout.

    Returns:
        The written paths.

    Raises:
        FileNotFoundError: a SQLite file path that does not exist.
        LookupError: no such experiment (the message lists the known ones).
        ValueError: the database has no velora ``episode`` table.

    Example:
        >>> import tempfile, gymnasium as gym
        >>> from gymscope.charts import plot_experiment
        >>> from gymscope.metrics import get_db_engine
        >>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> db = f"{folder.name}/metrics.db"
        >>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), db, experiment="demo")
        >>> _ = env.reset(seed=0)
        >>> for _ in range(60):
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     if terminated or truncated:
        ...         _ = env.reset()
        >>> env.close()
        >>> paths = plot_experiment(db, "demo", f"{folder.name}/curves", window_size=5)
        >>> [p.name for p in paths]  # doctest: +NORMALIZE_WHITESPACE
        ['demo_reward_curve.svg', 'demo_reward_curve.png',
         'demo_length_curve.svg', 'demo_length_curve.png']
        >>> folder.cleanup()
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    from gymscope.episode import check_window_size
    from gymscope.metrics.db import resolve_url, sqlite_file

    window_size = check_window_size(window_size)
    if isinstance(experiment, bool) or not isinstance(experiment, (int, str)):
        raise TypeError(
            f"experiment must be an experiment id (int) or name (str), got {experiment!r}"
        )
    if prefix is not None and (not isinstance(prefix, str) or safe_name(prefix, "") != prefix):
        raise ValueError(
            f"prefix must be a plain file-name part (letters, digits, '_', '.', '-'), "
            f"got {prefix!r}"
        )
    if isinstance(engine_or_url, Engine):
        engine, owned = engine_or_url, False
    else:
        url = resolve_url(engine_or_url, argument="engine_or_url")
        path = sqlite_file(url)
        if path is not None and not path.is_file():
            # Opening it would create an empty database: say what is wrong instead.
            raise FileNotFoundError(
                f"engine_or_url: no metrics database at {str(path)!r}; "
                "pass the file the logger wrote (e.g. 'metrics.db')"
            )
        engine, owned = sa.create_engine(url), True
    directory = check_writable_dir(Path(output_dir), "output_dir")
    try:
        data = _read(engine, experiment)
    finally:
        if owned:
            engine.dispose()

    rewards, lengths, extras = data["rewards"], data["lengths"], data["extras"]
    if prefix is None:
        prefix = safe_name(data["name"], "") or f"experiment_{data['id']}"
    return write_curve_charts(
        directory,
        prefix,
        returns=rewards,
        lengths=lengths,
        moving_avg=rolling_mean(rewards, window_size),
        window=window_size,
        extras=extras,
        subject=data["env"],
        scale=scale,
    )


def _read(engine: Engine, experiment: int | str) -> dict[str, Any]:
    """The experiment's row and its episodes, as arrays, in the order they ended."""
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    if "episode" not in tables or "experiment" not in tables:
        raise ValueError(
            f"{engine.url.render_as_string()!r} has no 'experiment' and 'episode' tables: "
            "not a metrics database"
        )
    columns = {c["name"] for c in inspector.get_columns("episode")}
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"table 'episode' lacks the velora columns {missing}")
    experiment_columns = {c["name"] for c in inspector.get_columns("experiment")}

    meta = sa.MetaData()
    episode = sa.Table("episode", meta, autoload_with=engine)
    exp = sa.Table("experiment", meta, autoload_with=engine)
    has_name = "name" in experiment_columns
    wanted = [exp.c.id, exp.c.env, *([exp.c.name] if has_name else [])]
    with engine.connect() as conn:
        if isinstance(experiment, int):
            row = conn.execute(sa.select(*wanted).where(exp.c.id == experiment)).first()
        elif has_name:
            row = conn.execute(sa.select(*wanted).where(exp.c.name == experiment)).first()
        else:
            row = None
        if row is None:
            known = conn.execute(sa.select(*wanted).order_by(exp.c.id).limit(20)).all()
            listed = ", ".join(f"{r.id} ({r.name!r})" if has_name else str(r.id) for r in known)
            raise LookupError(
                f"no experiment {experiment!r} in the database; known (id and name): "
                f"{listed or 'none'}"
            )
        exp_id = int(row.id)
        name = str(row.name) if has_name and row.name else ""
        env = str(row.env or "")

        picked = [episode.c[c] for c in _REQUIRED[1:]]
        optional = [c for c in ("worker", "created_at", "extra", *_LOSSES) if c in columns]
        picked += [episode.c[c] for c in optional]
        workers = 1
        if "worker" in columns:
            workers = conn.execute(
                sa.select(sa.func.count(sa.distinct(episode.c.worker))).where(
                    episode.c.experiment_id == exp_id
                )
            ).scalar_one()
        if workers > 1 and "created_at" in columns:
            order = [episode.c.created_at, episode.c.worker, episode.c.episode_num]
        else:
            order = [episode.c.episode_num]
        query = sa.select(*picked).where(episode.c.experiment_id == exp_id).order_by(*order)
        rows = conn.execute(query.order_by(episode.c.id)).all()

    n = len(rows)
    rewards = np.array([_as_float(r.reward) for r in rows], dtype=np.float64)
    lengths = np.array([r.length for r in rows], dtype=np.float64)
    extras: dict[str, np.ndarray] = {}
    groups: dict[str, dict[str, np.ndarray]] = {"info": {}, "metrics": {}}
    if "extra" in columns:
        for i, r in enumerate(rows):
            extra = r.extra
            if isinstance(extra, str):
                extra = json.loads(extra)
            if not isinstance(extra, dict):
                continue
            for group, series in groups.items():
                values = extra.get(group)
                if not isinstance(values, dict):
                    continue
                for key, value in values.items():
                    number = _as_float(value)
                    if number is None:
                        continue
                    if key not in series:
                        series[key] = np.full(n, np.nan)
                    series[key][i] = number
    extras.update(groups["info"])
    for loss in _LOSSES:
        if loss in columns:
            values = np.array([_as_float(getattr(r, loss)) for r in rows], dtype=np.float64)
            reported = np.isfinite(values) & ((values != 0) if loss == "entropy_loss" else True)
            if reported.any():
                extras[loss if loss not in extras else f"metric {loss}"] = values
    for key, values in groups["metrics"].items():
        extras[key if key not in extras else f"metric {key}"] = values
    return {"id": exp_id, "name": name, "env": env, "rewards": rewards, "lengths": lengths,
            "extras": extras}  # fmt: skip
