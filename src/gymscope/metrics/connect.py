"""Connecting to a database server: bounded timeouts, and misconfiguration told apart.

Two kinds of failure look alike from the socket but call for opposite
answers. A server that cannot be used as configured (a wrong host, port,
user, password or database name, a client address the server refuses) never
starts working by itself: :func:`check_reachable` reports it when the writer
is built, as one :class:`~gymscope.errors.DatabaseUnreachableError` naming
the URL (password hidden) and the fix. A server that answered once and then
went away (stopped, restarted, a cut link) is an outage: the writers keep
what they could not write and retry with backoff (see
:mod:`gymscope.metrics.writer`).

Neither may hang the training thread: :func:`connect_args` gives every
libpq connection (psycopg 3 or psycopg2) a connect timeout of
:data:`CONNECT_TIMEOUT_S`, TCP keepalives, and a TCP user timeout of
:data:`TCP_USER_TIMEOUT_S` (a write the other end does not acknowledge, as
on a cut link, fails after that long instead of TCP's ~15 minutes).

>>> from sqlalchemy.engine import make_url
>>> args = connect_args(make_url("postgresql+psycopg://u@db.example/runs"))
>>> args["connect_timeout"], args["tcp_user_timeout"], args["keepalives_idle"]
(3, 2000, 10)
>>> given = make_url("postgresql+psycopg://u@h/runs?connect_timeout=20")
>>> "connect_timeout" in connect_args(given)  # the URL's own setting wins
False
>>> connect_args(make_url("sqlite:///metrics.db"))
{}
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import URL

from gymscope.errors import DatabaseUnreachableError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "TCP_USER_TIMEOUT_S",
    "check_reachable",
    "connect_args",
    "unreachable_error",
]

#: Longest wait for a server to accept a connection (libpq's ``connect_timeout``;
#: libpq counts at least 2 s). Also bounds each reconnection attempt during an outage.
CONNECT_TIMEOUT_S = 3
#: Longest wait for the server to acknowledge data sent on an open connection
#: (libpq's ``tcp_user_timeout``): how long a write can block on a cut link. A
#: false alarm on a slow link costs a reconnection, never a row (see the writer).
TCP_USER_TIMEOUT_S = 2.0

_LIBPQ_DRIVERS = {"psycopg", "psycopg2"}


def connect_args(url: URL) -> dict[str, Any]:
    """libpq connection parameters bounding every wait, for a PostgreSQL ``url``
    (empty for other backends and drivers). Parameters set in the URL's query
    string win."""
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in _LIBPQ_DRIVERS:
        return {}
    defaults: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "tcp_user_timeout": int(TCP_USER_TIMEOUT_S * 1000),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    return {key: value for key, value in defaults.items() if key not in url.query}


def check_reachable(url: URL, *, argument: str = "db") -> None:
    """Connect to the server of ``url`` once and hang up; creates nothing.

    SQLite URLs are not checked here (their files are). Waits at most about
    :data:`CONNECT_TIMEOUT_S` per address the host name resolves to.

    Raises:
        DatabaseUnreachableError: the server cannot be used as configured.
    """
    if url.get_backend_name() == "sqlite":
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    args = connect_args(url)
    # unacknowledged SYNs would count against it too, and end the attempt with a
    # "server closed the connection" instead of connect_timeout's clear timeout
    args.pop("tcp_user_timeout", None)
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise unreachable_error(url, exc, argument=argument) from None
    finally:
        engine.dispose()


# (pattern in the driver's message, what it means, the fix)
_CAUSES: tuple[tuple[str, str, str], ...] = (
    (
        r"password authentication failed|authentication failed|no password supplied"
        r"|password is required|SASL authentication",
        "the server refused the user name or password",
        "check the user and password in the URL (special characters in a password must be "
        "percent-encoded, e.g. '@' as %40)",
    ),
    (
        r'database "[^"]*" does not exist',
        "the database does not exist on that server",
        "create it first (createdb NAME, or CREATE DATABASE NAME as an administrator) or fix "
        "the database name in the URL",
    ),
    (
        r'role "[^"]*" does not exist',
        "the server has no such user",
        "create the role (CREATE ROLE NAME LOGIN PASSWORD '...') or fix the user in the URL",
    ),
    (
        r"no pg_hba\.conf entry",
        "the server does not accept connections from this host for that user and database",
        "add a line for this client's address to the server's pg_hba.conf and reload it "
        "(pg_ctl reload)",
    ),
    (
        r"failed to resolve host|could not translate host name|Name or service not known"
        r"|nodename nor servname|Temporary failure in name resolution|getaddrinfo",
        "the host name does not resolve",
        "check the host name in the URL (or use the server's IP address)",
    ),
    (
        r"Connection refused",
        "nothing listens on that host and port",
        "check the host and port in the URL, that the server is running, and that it "
        "listens on that address (listen_addresses in postgresql.conf)",
    ),
    (
        r"timeout expired|timed out|No route to host|Network is unreachable",
        "no answer from the host",
        "check the host and port in the URL, that the host is up and that no firewall drops "
        "the connection",
    ),
    (
        r"server closed the connection unexpectedly",
        "the connection was closed before the server answered",
        "check the host and port in the URL (a PostgreSQL server, not another service) and "
        "that no firewall or proxy cuts the connection",
    ),
)


def unreachable_error(
    url: URL, exc: BaseException, *, argument: str = "db"
) -> DatabaseUnreachableError:
    """The :class:`DatabaseUnreachableError` for a failed connection to ``url``."""
    message = _message(exc)
    cause, fix = "the connection failed", "check the URL and that the server is running"
    for pattern, meaning, remedy in _CAUSES:
        if re.search(pattern, message):
            cause, fix = meaning, remedy
            break
    shown = url.render_as_string(hide_password=True)
    detail = " ".join(message.split())  # libpq's messages never hold the password
    return DatabaseUnreachableError(
        f"{argument}={shown!r}: cannot connect to the database server: {cause} ({detail}); {fix}"
    )


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    return str(orig if orig is not None else exc)
