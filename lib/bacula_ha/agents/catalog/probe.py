# SPDX-License-Identifier: GPL-2.0-or-later
"""The catalog probe: is this PostgreSQL a usable Bacula catalog? One answer for both agents.

bacula-catalog-check (monitor, start) and bacula-director (depth-20 monitor,
start pre-check) both call `check()`; they differ only in the settings: the
catalog agent logs in with a passfile and may commit a write, the Director
with its Catalog resource's password and without writing.

Each step is O(1) in catalog size (measured at ~0.1 ms each on an empty
catalog and on one with 5 M File rows), and the whole probe is two round
trips after the login:
1. in one message: set the session's statement/lock timeouts from the budget
   left, read `pg_is_in_recovery()` and `transaction_read_only` (the role: not
   a standby, not read-only), and `SELECT VersionId FROM Version` (one row);
2. with write_check, a committed UPSERT of this node's row in the agent's own
   table `bacula_ha_heartbeat` (created on first use), never in Bacula's tables.
Nothing here counts, scans or joins Bacula's tables. Every wait ends at the
budget (connection.py, libpq.py); a failure is a CheckFailure whose `kind`
callers decide on.
"""

from __future__ import annotations

import time

from . import errors, libpq
from .connection import APPLICATION_NAME, conninfo_params, open_session
from .errors import CheckFailure, Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

HEARTBEAT_TABLE = "bacula_ha_heartbeat"

SQL_ROLE = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
SQL_VERSION = "SELECT VersionId FROM Version LIMIT 2"
SQL_CREATE = (f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} "
              "(node text PRIMARY KEY, beat timestamptz NOT NULL DEFAULT now())")
SQL_UPSERT = (f"INSERT INTO {HEARTBEAT_TABLE} (node, beat) VALUES ($1, now()) "
              "ON CONFLICT (node) DO UPDATE SET beat = EXCLUDED.beat RETURNING node")

UNDEFINED_TABLE = "42P01"
ALREADY_EXISTS = ("42P07", "23505")  # two nodes creating the table at once


class ProbeSettings:
    """Everything one probe needs. A plain class: dataclasses costs ~30 ms of imports."""

    __slots__ = ("target", "passfile", "password", "sslmode", "connect_timeout", "expected_version",
                 "write_check", "node", "login_only", "application_name")

    def __init__(self, target: Target, *, passfile: str = "", password: str = "", sslmode: str = "prefer",
                 connect_timeout: float = 5.0, expected_version: Optional[int] = None,
                 write_check: bool = False, node: str = "", login_only: bool = False,
                 application_name: str = APPLICATION_NAME) -> None:
        self.target = target
        self.passfile = passfile                  # libpq reads it (the catalog agent)
        self.password = password                  # or given in-process (the Director's Catalog resource)
        self.sslmode = sslmode
        self.connect_timeout = connect_timeout
        self.expected_version = expected_version  # None: any single Version row
        self.write_check = write_check
        self.node = node
        self.login_only = login_only              # only the session (the Director's start pre-check)
        self.application_name = application_name

    def __repr__(self) -> str:   # never the password
        return f"ProbeSettings({self.target!r}, login_only={self.login_only}, write_check={self.write_check})"


class Report:
    """A passed probe."""

    __slots__ = ("version", "wrote", "seconds")

    def __init__(self, version: Optional[int], wrote: bool, seconds: float) -> None:
        self.version, self.wrote, self.seconds = version, wrote, seconds


def check(settings: ProbeSettings, budget: float) -> Report:
    """Run the probe within `budget` seconds; CheckFailure (with its kind) otherwise."""
    began = time.monotonic()
    end = began + max(0.0, budget)
    s, target = settings, settings.target
    step, writing = "connect", False
    session = None
    try:
        params = conninfo_params(target, s.passfile, s.sslmode, min(s.connect_timeout, budget),
                                 s.application_name)
        session = open_session(params, s.connect_timeout, end, s.password)
        if s.login_only:
            return Report(version=None, wrote=False, seconds=time.monotonic() - began)
        step = "recovery and version check"
        version = _role_and_version(session, s, end, step)
        wrote = False
        if s.write_check:
            step, writing = "write check", True
            _write(session, s, end, step)
            wrote = True
        return Report(version=version, wrote=wrote, seconds=time.monotonic() - began)
    except libpq.NoAnswer as late:
        raise errors.timeout(late.step, time.monotonic() - began, target, writing=writing) from None
    except libpq.ConnectFailed as exc:
        raise errors.classify_connect(str(exc), target) from None
    except libpq.Unresolved as exc:
        raise CheckFailure(errors.UNREACHABLE, f"catalog unreachable ({target.describe()}): {exc}") from None
    except libpq.ConnectionLost as exc:
        raise errors.lost(step, str(exc), target) from None
    except libpq.QueryFailed as exc:
        raise errors.classify_statement(exc.sqlstate, exc.message, step, target, writing=writing) from None
    except libpq.Missing as exc:
        raise CheckFailure(errors.CLIENT, f"cannot check the catalog: {exc}") from None
    finally:
        if session is not None:
            session.close()


def _timeouts(end: float) -> str:
    """SETs that make the server cancel a slow statement before our own deadline."""
    left_ms = max(100, int((end - time.monotonic()) * 900))
    return f"SET statement_timeout = {left_ms}; SET lock_timeout = {max(50, left_ms // 2)}; "


def _role_and_version(session: libpq.Connection, s: ProbeSettings, end: float, step: str) -> int:
    where = errors.where(s.target)
    try:
        results = session.query(_timeouts(end) + SQL_ROLE + "; " + SQL_VERSION, end=end, step=step)
        failure = None
    except libpq.QueryFailed as exc:     # the role's answer still counts when the Version read failed
        results, failure = exc.results, exc
    role = results[2] if len(results) > 2 else None
    if failure is not None and not role:
        raise failure
    if not role:
        raise CheckFailure(errors.OTHER, f"catalog {step}: no row returned ({where})")
    in_recovery, read_only = role[0][0] == "t", str(role[0][1]).lower() == "on"
    if in_recovery:
        raise CheckFailure(errors.RECOVERY, f"catalog server is in recovery (a standby, read-only) at {where}")
    if read_only:
        raise CheckFailure(errors.READ_ONLY, f"catalog is read-only at {where}: transaction_read_only is on")
    if failure is not None:
        if failure.sqlstate == UNDEFINED_TABLE:
            raise CheckFailure(errors.VERSION, f"catalog has no Version table at {where} (not a Bacula "
                                               f"catalog?){_expected(s)}")
        raise failure
    rows = results[3] if len(results) > 3 else []
    if not rows or rows[0][0] is None:
        raise CheckFailure(errors.VERSION, f"catalog Version table is empty at {where}{_expected(s)}")
    found = int(rows[0][0])
    if s.expected_version is not None and found != s.expected_version:
        raise CheckFailure(errors.VERSION, f"catalog VersionId is {found}, expected {s.expected_version} "
                                           f"at {where}")
    return found


def _expected(s: ProbeSettings) -> str:
    return f": VersionId {s.expected_version} expected" if s.expected_version is not None else ""


def _write(session: libpq.Connection, s: ProbeSettings, end: float, step: str) -> None:
    try:
        results = session.query(SQL_UPSERT, [s.node], end=end, step=step)
    except libpq.QueryFailed as exc:
        if exc.sqlstate != UNDEFINED_TABLE:
            raise
        _create(session, s, end)
        results = session.query(SQL_UPSERT, [s.node], end=end, step=step)
    if not results or not results[0]:
        raise CheckFailure(errors.WRITE, f"catalog write check wrote no row at {errors.where(s.target)}")


def _create(session: libpq.Connection, s: ProbeSettings, end: float) -> None:
    step = f"write check (creating {HEARTBEAT_TABLE})"
    try:
        session.query(SQL_CREATE, end=end, step=step)
    except libpq.QueryFailed as exc:
        if exc.sqlstate not in ALREADY_EXISTS:
            raise errors.classify_statement(exc.sqlstate, exc.message, step, s.target, writing=True) from None
