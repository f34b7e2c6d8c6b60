"""Joining a run: the experiment row, a worker number, where numbering continues.

Every function here runs inside one :func:`~gymscope.metrics.db.write_transaction`
with ``exclusive=True``, so registrations of concurrent workers happen one
after the other (SQLite's write lock, an advisory lock on PostgreSQL).

Worker numbers are leases: a logger holds a row in ``gymscope_worker`` from
its first write until ``close()``. Without an explicit ``worker`` a logger
takes the lowest number of the experiment that no live logger holds; a lease
left by a process that died on this host is taken over (its pid is gone), so
a resumed single-process run continues as worker 0. A lease left by a
process on another host cannot be checked and stays taken.

>>> experiment_name("CartPole-v1", "PPO").startswith("CartPole-v1_PPO_")
True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import secrets
import socket
from collections.abc import Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gymscope.errors import ArgumentTypeError, WorkerInUseError
from gymscope.metrics._liveness import pid_alive
from gymscope.metrics.models import Episode, Experiment, config_history, utcnow, worker_lease

__all__ = [
    "WorkerInUseError",
    "claim_worker",
    "dump_config",
    "experiment_name",
    "heartbeat",
    "join_experiment",
    "jsonable",
    "next_episode_num",
    "record_config",
    "release_worker",
    "worker_history",
]

#: Seconds between two refreshes of a worker lease's ``heartbeat_at`` (a
#: writer refreshes it when it writes, at most this often).
HEARTBEAT_S = 30.0

logger = logging.getLogger(__name__)

_experiment = Experiment.__table__  # type: ignore[attr-defined]
_episode = Episode.__table__  # type: ignore[attr-defined]


# -- values --------------------------------------------------------------------------
def jsonable(value: Any, *, strict: bool = False) -> Any:
    """``value`` as plain JSON data (strict JSON: no NaN/Infinity tokens).

    NumPy scalars and arrays become numbers and lists, tuples become lists,
    paths become strings, dataclasses and pydantic models become objects, and
    non-finite floats become the strings ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``. Anything else raises ``TypeError`` when ``strict``, and
    is stored as ``str(value)`` otherwise (a captured info value must never
    crash a run).

    >>> jsonable({"a": np.float32(0.5), "b": (1, float("inf")), "c": np.arange(2)})
    {'a': 0.5, 'b': [1, 'Infinity'], 'c': [0, 1]}
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, np.generic):
        return jsonable(value.item(), strict=strict)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), strict=strict)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, strict=strict) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), strict=strict)
    model_dump = getattr(value, "model_dump", None)  # pydantic v2 models
    if callable(model_dump) and not isinstance(value, type):
        return jsonable(model_dump(mode="json"), strict=strict)
    if strict:
        raise ArgumentTypeError(f"{value!r} ({type(value).__name__}) is not JSON serialisable")
    return str(value)


def dump_config(config: object, *, argument: str = "config") -> str:
    """The JSON text stored in ``experiment.config`` (``"{}"`` for None).

    >>> dump_config({"lr": 3e-4, "layers": (64, 64)})
    '{"lr": 0.0003, "layers": [64, 64]}'
    >>> dump_config({"policy": object})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    gymscope.errors.ArgumentTypeError: config must be JSON serialisable (...): <class ...
    """
    if config is None:
        return "{}"
    try:
        return json.dumps(jsonable(config, strict=True), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(
            f"{argument} must be JSON serialisable (dicts, lists, numbers, strings, "
            f"dataclasses, pydantic models): {exc}"
        ) from None


def experiment_name(env_id: str, agent: str | None = None) -> str:
    """A fresh, readable, unique run name: ``{env}_{agent}_{UTC time}_{random}``."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    parts = [env_id, agent, stamp, secrets.token_hex(3)]
    return "_".join(p for p in parts if p)


# -- registration (inside an exclusive write transaction) ----------------------------
def join_experiment(
    conn: Connection,
    name: str,
    *,
    env: str,
    agent: str,
    config: str | None,
    version: str,
    worker: int | None = None,
    stats_window: int | None = None,
    stats_alpha: float | None = None,
) -> int:
    """The id of experiment ``name``, created with these values if it is new.

    ``config`` (JSON text, None for "not given") is stored with a new run and
    in its ``gymscope_config`` history. Joining an existing run with a
    configuration that differs from its latest one appends it to the history
    (with the time and ``worker``) and warns: it is never dropped silently.
    An existing run with no env or agent recorded (created by a trainer-side
    logger) takes the ones given here.
    """
    row = conn.execute(
        sa.select(_experiment.c.id, _experiment.c.env, _experiment.c.agent).where(
            _experiment.c.name == name
        )
    ).first()
    if row is not None:
        exp_id, stored_env, stored_agent = int(row[0]), row[1] or "", row[2] or ""
        fill = {}
        if env and not stored_env:
            fill["env"] = env
        if agent and not stored_agent:
            fill["agent"] = agent
        if fill:
            conn.execute(_experiment.update().where(_experiment.c.id == exp_id).values(**fill))
        elif (env and stored_env != env) or (agent and stored_agent != agent):
            logger.warning(
                "joining experiment %r (id %d) created for env %r / agent %r from env %r / "
                "agent %r; its row is kept as it is",
                name,
                exp_id,
                stored_env,
                stored_agent,
                env,
                agent,
            )
        if config is not None:
            record_config(conn, exp_id, config, worker=worker, run=name)
        return exp_id
    result = conn.execute(
        _experiment.insert().values(
            name=name,
            env=env,
            agent=agent,
            config=config if config is not None else "{}",
            created_at=utcnow(),
            gymscope_version=version,
            stats_window=stats_window,
            stats_alpha=stats_alpha,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None  # an INSERT of one row always has one
    exp_id = int(pk[0])
    if config is not None:
        conn.execute(
            config_history.insert().values(
                experiment_id=exp_id, worker=worker, config=config, created_at=utcnow()
            )
        )
    return exp_id


def record_config(
    conn: Connection, experiment_id: int, config: str, *, worker: int | None, run: str
) -> bool:
    """Append ``config`` to the run's history if it differs from the latest one.

    A run with no configuration yet (``experiment.config`` empty or ``{}``)
    also takes it as its ``experiment.config``. Returns whether it was
    appended; replacing a non-empty configuration is warned about.
    """
    latest = conn.execute(
        sa.select(config_history.c.config)
        .where(config_history.c.experiment_id == experiment_id)
        .order_by(config_history.c.id.desc())
        .limit(1)
    ).scalar()
    if latest is None:  # a version-1 run: its first config is in experiment.config
        latest = conn.execute(
            sa.select(_experiment.c.config).where(_experiment.c.id == experiment_id)
        ).scalar()
    if latest is not None and _same_config(latest, config):
        return False
    if latest is None or latest.strip() in ("", "{}"):
        conn.execute(
            _experiment.update()
            .where(_experiment.c.id == experiment_id, _experiment.c.config.in_(["", "{}"]))
            .values(config=config)
        )
    conn.execute(
        config_history.insert().values(
            experiment_id=experiment_id, worker=worker, config=config, created_at=utcnow()
        )
    )
    if latest is not None and latest.strip() not in ("", "{}"):
        logger.warning(
            "experiment %r was started with config %s; this writer's config %s differs. "
            "Both are kept (table gymscope_config, `gymscope show` lists them); "
            "experiment.config keeps the first",
            run,
            _short(latest),
            _short(config),
        )
    return True


def _same_config(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def claim_worker(conn: Connection, experiment_id: int, worker: int | None, token: str) -> int:
    """Lease a worker number of the experiment for the logger identified by ``token``.

    ``worker=None`` takes the lowest free number. Leases of processes that
    are gone from this host are taken over.

    Raises:
        WorkerInUseError: ``worker`` was given and a live logger holds it.
    """
    host = socket.gethostname()
    rows = conn.execute(
        sa.select(
            worker_lease.c.worker, worker_lease.c.host, worker_lease.c.pid, worker_lease.c.token
        ).where(worker_lease.c.experiment_id == experiment_id)
    ).all()
    held: dict[int, tuple[str, int]] = {}
    stale: set[int] = set()
    for number, lease_host, pid, _ in rows:
        if lease_host == host and pid != os.getpid() and not pid_alive(pid):
            stale.add(number)
        else:
            held[number] = (lease_host, pid)
    if worker is None:
        number = 0
        while number in held:
            number += 1
    else:
        if worker in held:
            lease_host, pid = held[worker]
            raise WorkerInUseError(
                f"worker {worker} of experiment id {experiment_id} is already being written by "
                f"process {pid} on host {lease_host!r}; give every env copy its own worker "
                "number, or leave worker=None to get a free one"
            )
        number = worker
    now = utcnow()
    values = {
        "token": token,
        "host": host,
        "pid": os.getpid(),
        "claimed_at": now,
        "heartbeat_at": now,
    }
    if number in stale:
        logger.info(
            "taking over worker %d of experiment id %d from a process that is gone",
            number,
            experiment_id,
        )
        conn.execute(
            worker_lease.update()
            .where(worker_lease.c.experiment_id == experiment_id, worker_lease.c.worker == number)
            .values(**values)
        )
    else:
        conn.execute(
            worker_lease.insert().values(experiment_id=experiment_id, worker=number, **values)
        )
    return number


def release_worker(conn: Connection, token: str) -> None:
    """Give up the lease held under ``token`` (autocommit statement)."""
    conn.execute(worker_lease.delete().where(worker_lease.c.token == token))


def next_episode_num(conn: Connection, experiment_id: int, worker: int) -> int:
    """One past the highest ``episode_num`` stored for this experiment and worker."""
    highest = conn.execute(
        sa.select(sa.func.max(_episode.c.episode_num)).where(
            _episode.c.experiment_id == experiment_id, _episode.c.worker == worker
        )
    ).scalar()
    return 0 if highest is None else int(highest) + 1


def heartbeat(conn: Connection, token: str) -> None:
    """Refresh the lease held under ``token`` (autocommit statement)."""
    conn.execute(
        worker_lease.update().where(worker_lease.c.token == token).values(heartbeat_at=utcnow())
    )


def worker_history(
    conn: Connection, experiment_id: int, worker: int, last: int
) -> tuple[int, int, list[float], list[int]]:
    """What a rejoining worker restores: ``(episodes, total_steps, returns, lengths)``.

    ``episodes`` is one past the highest stored ``episode_num`` of the worker,
    ``total_steps`` the ``total_steps`` of that row, and ``returns`` and
    ``lengths`` those of its last ``last`` episodes, oldest first (a NULL
    return, a stored NaN, is NaN). Uses the ``(experiment_id, worker,
    episode_num)`` index: the cost does not grow with the run.
    """
    ep = _episode
    rows = conn.execute(
        sa.select(ep.c.episode_num, ep.c.total_steps, ep.c.reward, ep.c.length)
        .where(ep.c.experiment_id == experiment_id, ep.c.worker == worker)
        .order_by(ep.c.episode_num.desc())
        .limit(max(1, last))
    ).all()
    if not rows:
        return 0, 0, [], []
    rows = list(reversed(rows))
    returns = [math.nan if r[2] is None else float(r[2]) for r in rows]
    lengths = [int(r[3] or 0) for r in rows]
    newest = rows[-1]
    total = int(newest[1]) if newest[1] else sum(lengths)
    return int(newest[0]) + 1, total, returns, lengths
