"""Whether a writer is alive: what readers need of the worker leases, without SQLAlchemy."""

from __future__ import annotations

import os

__all__ = ["STALE_S", "pid_alive"]

#: A worker on another host whose heartbeat is older than this many
#: seconds is taken for dead by readers (``gymscope runs`` shows the run as
#: crashed). Workers on the reader's host are checked by their pid instead.
STALE_S = 600.0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True
