"""The readiness checks, each O(1) in catalog size.

One connection, three short statements (measured at ~0.1 ms each on an empty
catalog and on one with 5 M File rows):
1. set the session's statement/lock timeouts and read `pg_is_in_recovery()` and
   `transaction_read_only` in the same round trip;
2. `SELECT VersionId FROM Version` (one row);
3. with write_check, a committed UPSERT of this node's row in the agent's own
   table `bacula_ha_heartbeat` (created on first use), never in Bacula's tables.
Nothing here counts, scans or joins Bacula's tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from . import errors
from .connection import GuardTimeout, bounded, close_quietly, connect, psycopg
from .errors import CheckFailure, Target

HEARTBEAT_TABLE = "bacula_ha_heartbeat"

SQL_SESSION = ("SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false), "
               "pg_is_in_recovery(), current_setting('transaction_read_only')")
SQL_VERSION = "SELECT VersionId FROM Version LIMIT 2"
SQL_CREATE = (f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} "
              "(node text PRIMARY KEY, beat timestamptz NOT NULL DEFAULT now())")
SQL_UPSERT = (f"INSERT INTO {HEARTBEAT_TABLE} (node, beat) VALUES (%s, now()) "
              "ON CONFLICT (node) DO UPDATE SET beat = EXCLUDED.beat RETURNING node")

UNDEFINED_TABLE = "42P01"
ALREADY_EXISTS = ("42P07", "23505")  # two nodes creating the table at once


@dataclass(frozen=True)
class ProbeSettings:
    """Everything one check needs (no password: only the passfile's path)."""

    target: Target
    passfile: str
    sslmode: str
    connect_timeout: float
    expected_version: int
    write_check: bool
    node: str


@dataclass(frozen=True)
class Report:
    """A passed check."""

    version: int
    wrote: bool
    seconds: float


def check(settings: ProbeSettings, budget: float) -> Report:
    """Run every check within `budget` seconds; CheckFailure with the reason otherwise."""
    psycopg()  # import in this thread: ERR_INSTALLED surfaces here, not as a worker error
    try:
        return bounded(lambda progress: _run(settings, budget, progress), budget)
    except GuardTimeout as late:
        raise errors.timeout(late.step, late.seconds, settings.target) from None


def _run(s: ProbeSettings, budget: float, progress) -> Report:
    pg = psycopg()
    began = time.monotonic()
    end = began + budget
    conn = None
    try:
        progress.step = "connect"
        try:
            conn = connect(s.target, s.passfile, s.sslmode, min(s.connect_timeout, budget))
        except pg.Error as exc:
            raise errors.classify_connect(str(exc), s.target) from None

        left_ms = max(100, int((end - time.monotonic()) * 900))  # the server cancels before the guard
        progress.step = "recovery check"
        row = _one(pg, conn, SQL_SESSION, (str(left_ms), str(max(50, left_ms // 2))), progress.step, s.target)
        in_recovery, read_only = bool(row[2]), str(row[3]).lower() == "on"
        where = errors.where(s.target)
        if in_recovery:
            raise CheckFailure(errors.RECOVERY, f"catalog server is in recovery (a standby, read-only) at {where}")
        if read_only:
            raise CheckFailure(errors.READ_ONLY, f"catalog is read-only at {where}: transaction_read_only is on")

        progress.step = "version check"
        version = _version(pg, conn, s)

        wrote = False
        if s.write_check:
            progress.step = "write check"
            _write(pg, conn, s)
            wrote = True
        return Report(version=version, wrote=wrote, seconds=time.monotonic() - began)
    finally:
        close_quietly(conn)


def _execute(pg, conn, sql: str, args: Any, step: str, target: Target):
    try:
        return conn.execute(sql, args).fetchall()
    except pg.Error as exc:
        raise errors.classify_statement(getattr(exc, "sqlstate", None), str(exc), step, target) from None


def _one(pg, conn, sql: str, args: Any, step: str, target: Target):
    rows = _execute(pg, conn, sql, args, step, target)
    if not rows:
        raise CheckFailure(errors.OTHER, f"catalog {step}: no row returned ({errors.where(target)})")
    return rows[0]


def _version(pg, conn, s: ProbeSettings) -> int:
    where = errors.where(s.target)
    try:
        rows = conn.execute(SQL_VERSION).fetchall()
    except pg.Error as exc:
        if getattr(exc, "sqlstate", None) == UNDEFINED_TABLE:
            raise CheckFailure(errors.VERSION, f"catalog has no Version table at {where} (not a Bacula "
                                               f"catalog?): VersionId {s.expected_version} expected") from None
        raise errors.classify_statement(getattr(exc, "sqlstate", None), str(exc), "version check",
                                        s.target) from None
    if not rows or rows[0][0] is None:
        raise CheckFailure(errors.VERSION, f"catalog Version table is empty at {where}: "
                                           f"VersionId {s.expected_version} expected")
    found = int(rows[0][0])
    if found != s.expected_version:
        raise CheckFailure(errors.VERSION, f"catalog VersionId is {found}, expected {s.expected_version} "
                                           f"at {where}")
    return found


def _write(pg, conn, s: ProbeSettings) -> None:
    step = "write check"
    try:
        rows = conn.execute(SQL_UPSERT, (s.node,)).fetchall()
    except pg.Error as exc:
        if getattr(exc, "sqlstate", None) != UNDEFINED_TABLE:
            raise errors.classify_statement(getattr(exc, "sqlstate", None), str(exc), step, s.target) from None
        _create(pg, conn, s)
        rows = _execute(pg, conn, SQL_UPSERT, (s.node,), step, s.target)
    if not rows:
        raise CheckFailure(errors.WRITE, f"catalog write check wrote no row at {errors.where(s.target)}")


def _create(pg, conn, s: ProbeSettings) -> None:
    try:
        conn.execute(SQL_CREATE)
    except pg.Error as exc:
        state: Optional[str] = getattr(exc, "sqlstate", None)
        if state not in ALREADY_EXISTS:
            raise errors.classify_statement(state, str(exc), f"write check (creating {HEARTBEAT_TABLE})",
                                            s.target) from None
