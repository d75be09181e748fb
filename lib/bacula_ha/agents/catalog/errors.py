# SPDX-License-Identifier: GPL-2.0-or-later
"""Why the catalog is not usable, as one precise line.

Server errors carry a SQLSTATE; connection failures do not (libpq reports them
as text only), so those are recognised by libpq's and the server's message
words. Anything unrecognised still becomes a one-line reason with the
server's own words: never a traceback, never a password (libpq never puts one
in a message; the runtime masks the passfile's passwords anyway).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

#: Kinds of failure. `permanent` ones do not fix themselves while start waits.
#: Callers decide on these, never on the reason's wording.
UNREACHABLE = "unreachable"
AUTH = "authentication"
NO_DATABASE = "no-database"
VERSION = "version"
RECOVERY = "recovery"
READ_ONLY = "read-only"
TIMEOUT = "timeout"
NOT_ACCEPTING = "not-accepting"
WRITE = "write"
PASSFILE = "passfile"
PERMISSION = "permission"
OTHER = "other"
CLIENT = "client"          # libpq itself cannot be loaded on this node

PERMANENT = frozenset({AUTH, NO_DATABASE, VERSION, PASSFILE, PERMISSION, CLIENT})


class Target:
    """Where the checks connect (no password here: it never appears in a reason)."""

    __slots__ = ("host", "port", "dbname", "user")

    def __init__(self, host: str, port: int, dbname: str, user: str) -> None:
        # a plain class: dataclasses costs a monitor ~30 ms of imports (inspect)
        self.host, self.port, self.dbname, self.user = host, port, dbname, user

    def __repr__(self) -> str:
        return f"Target({self.host!r}, {self.port}, {self.dbname!r}, {self.user!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and repr(self) == repr(other)

    def describe(self) -> str:
        host = _short(self.host or "(libpq default)")
        return f"database {_short(self.dbname)!r} on {host}:{self.port} as {_short(self.user)!r}"


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(str(text).split())
    if not flat.isprintable():
        flat = repr(flat)[1:-1]
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class CheckFailure(Exception):
    """A failed catalog check: its kind and the one-line reason Pacemaker shows."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT


def libpq_detail(message: str) -> str:
    """The informative part of a libpq connection error, on one line.

    libpq says `connection to server at "h", port p failed: FATAL:  <what>`
    (one such line per address tried, plus hint lines): keep the last <what>.
    """
    lines = [l.strip() for l in str(message).splitlines() if l.strip()]
    chosen = ""
    for line in lines:
        if line.lower().startswith(("hint:", "is the server running", "detail:")):
            continue
        chosen = line
    text = chosen or (lines[0] if lines else str(message))
    for marker in ("failed: ", "connection failed: ", "connection is bad: "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    for prefix in ("FATAL:", "ERROR:"):
        if text.upper().startswith(prefix):
            text = text[len(prefix):]
    return _short(text.strip(), 200) or "unknown error"


_AUTH_WORDS = ("password authentication failed", "authentication failed", "no password supplied",
               "no pg_hba.conf entry", "pg_hba.conf rejects", "role \"", "password is required",
               "sasl authentication", "scram", "certificate", "permission denied for database")
_UNREACHABLE_WORDS = ("connection refused", "no such file or directory", "could not translate host name",
                      "network is unreachable", "no route to host", "host is down",
                      "name or service not known", "temporary failure in name resolution",
                      "could not create socket", "could not connect", "server closed the connection",
                      "connection reset", "broken pipe", "invalid connection option",
                      "could not parse network address", "unix-domain socket path", "ssl",
                      "invalid ", "cannot assign requested address", "address family not supported")
_NOT_ACCEPTING_WORDS = ("starting up", "shutting down", "not yet accepting connections",
                        "not accepting connections", "too many clients", "too many connections",
                        "remaining connection slots")


def classify_connect(message: str, target: Target) -> CheckFailure:
    """A failed connection attempt, by libpq's message."""
    detail = libpq_detail(message)
    low = str(message).lower()
    where = target.describe()
    if "timeout expired" in low or "timed out" in low:
        return CheckFailure(TIMEOUT, f"catalog timeout: no answer while connecting to {where}")
    if "does not exist" in low and "database" in low and "role" not in low:
        return CheckFailure(NO_DATABASE, f"catalog database {_short(target.dbname)!r} does not exist "
                                         f"on {_short(target.host)}:{target.port}")
    if "recovery" in low:
        return CheckFailure(RECOVERY, f"catalog server in recovery, not accepting connections: {detail}")
    if any(w in low for w in _NOT_ACCEPTING_WORDS):
        return CheckFailure(NOT_ACCEPTING, f"catalog server not accepting connections ({where}): {detail}")
    if any(w in low for w in _AUTH_WORDS):
        return CheckFailure(AUTH, f"catalog authentication failed for {where}: {detail}")
    if any(w in low for w in _UNREACHABLE_WORDS):
        return CheckFailure(UNREACHABLE, f"catalog unreachable ({where}): {detail}")
    return CheckFailure(OTHER, f"catalog connection failed ({where}): {detail}")


#: SQLSTATEs of failed statements, by kind.
_TIMEOUT_STATES = {"57014": "statement timeout", "55P03": "lock timeout"}


def classify_statement(sqlstate: Optional[str], message: str, step: str, target: Target,
                       writing: bool = False) -> CheckFailure:
    """A failed statement during `step` (e.g. "version check", output only); `writing` says
    whether that step writes (the write check), which decides the kind."""
    detail = _short(" ".join(str(message).split()), 200)
    if sqlstate in _TIMEOUT_STATES:
        return CheckFailure(TIMEOUT, f"catalog timeout: {_TIMEOUT_STATES[sqlstate]} during {step} ({where(target)})")
    if sqlstate == "25006":
        return CheckFailure(READ_ONLY, f"catalog is read-only ({where(target)}): {step}: {detail}")
    if sqlstate in ("57P01", "57P02", "57P03"):
        return lost(step, detail, target)
    kind = PERMISSION if sqlstate == "42501" else WRITE if writing else OTHER
    state = f" [{sqlstate}]" if sqlstate else ""
    return CheckFailure(kind, f"catalog {step} failed ({where(target)}){state}: {detail}")


def lost(step: str, message: str, target: Target) -> CheckFailure:
    """The connection broke during `step` (server stopped or restarted, network reset)."""
    detail = _short(" ".join(str(message).split()), 200) or "connection closed"
    return CheckFailure(UNREACHABLE, f"catalog connection lost during {step} ({where(target)}): {detail}")


def where(target: Target) -> str:
    return f"{_short(target.host)}:{target.port}/{_short(target.dbname)}"


def timeout(step: str, seconds: float, target: Target, writing: bool = False) -> CheckFailure:
    """The client-side guard fired: the server did not answer at all (hung, stopped, partitioned).

    A commit waiting for a synchronous standby looks the same from here, and no server
    timeout ends that wait (PostgreSQL disables statement_timeout before the commit).
    """
    why = ("the commit did not complete: server hung, or waiting for a synchronous standby"
           if writing else "server hung or unreachable")
    return CheckFailure(TIMEOUT, f"catalog timeout: no answer within {seconds:.1f} s during {step} "
                                 f"({where(target)}): {why}")
