"""Connecting to the catalog within a deadline.

psycopg is imported here only, and only when a check really runs (its import
costs ~90-120 ms; a probe of a stopped instance must not pay it).

Three layers keep a hung server (a SIGSTOPped postmaster completes the TCP
handshake in the kernel and then says nothing) from outliving the action:
1. libpq/psycopg: `connect_timeout` (psycopg applies it to each wait of the
   handshake), TCP keepalives and `tcp_user_timeout` for a peer that vanished;
2. the server: `statement_timeout` and `lock_timeout`, set from the budget left;
3. the client guard (`bounded`): the whole check runs in a worker thread that
   the action stops waiting for at the deadline, whatever libpq is blocked in
   (getaddrinfo, a socket read, a synchronous-commit wait).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Dict, List, Optional, TypeVar

from ...ocf.thirdparty import load
from .errors import Target

T = TypeVar("T")

APPLICATION_NAME = "bacula-catalog-check"


def psycopg():
    """The psycopg module (ERR_INSTALLED naming python3-psycopg when missing)."""
    return load("psycopg")


def conninfo_params(target: Target, passfile: str, sslmode: str, connect_timeout: float) -> Dict[str, Any]:
    """libpq keywords for one connection: never a password, only the password file's path."""
    seconds = max(1, int(math.ceil(connect_timeout)))
    params: Dict[str, Any] = {
        "host": target.host,
        "port": str(target.port),
        "dbname": target.dbname,
        "user": target.user,
        "sslmode": sslmode,
        "connect_timeout": str(seconds),
        "application_name": APPLICATION_NAME,
        # A peer that disappears (no ACKs) or stops answering probes is given up on in time.
        "keepalives": "1",
        "keepalives_idle": str(max(1, seconds // 2)),
        "keepalives_interval": "1",
        "keepalives_count": "2",
        "tcp_user_timeout": str(seconds * 1000),
    }
    if passfile:
        params["passfile"] = passfile
    return {k: v for k, v in params.items() if v != ""}


def connect(target: Target, passfile: str, sslmode: str, connect_timeout: float):
    """An autocommit connection (each check statement commits on its own)."""
    pg = psycopg()
    params = conninfo_params(target, passfile, sslmode, connect_timeout)
    return pg.Connection.connect(autocommit=True, prepare_threshold=None, **params)


class Progress:
    """What the worker is doing, for the reason when the guard gives up on it."""

    def __init__(self) -> None:
        self.step = "connect"


class GuardTimeout(Exception):
    """The worker did not finish before the deadline."""

    def __init__(self, step: str, seconds: float) -> None:
        super().__init__(step)
        self.step = step
        self.seconds = seconds


def bounded(work: Callable[[Progress], T], seconds: float) -> T:
    """Run `work` in a daemon thread; its result, its exception, or GuardTimeout after `seconds`.

    A thread that is still blocked is abandoned: it holds nothing the action
    needs, the agent process exits right after, and libpq calls release the GIL.
    """
    progress = Progress()
    outcome: List[Any] = []

    def runner() -> None:
        try:
            outcome.append((True, work(progress)))
        except BaseException as exc:  # handed to the caller as is
            outcome.append((False, exc))

    worker = threading.Thread(target=runner, name="catalog-check", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if not outcome:
        raise GuardTimeout(progress.step, seconds)
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def close_quietly(conn: Optional[Any]) -> None:
    """Close a connection; a broken one must not turn a result into an error."""
    if conn is None:
        return
    try:
        conn.close()
    except Exception:
        pass
