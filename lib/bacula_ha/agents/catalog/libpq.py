# SPDX-License-Identifier: GPL-2.0-or-later
"""A small ctypes binding to libpq for the catalog probe: every wait ends at a deadline.

Why not psycopg: importing it pulls in asyncio, logging, ssl and its own
ctypes layer, 100-200 ms of CPU on every monitor of every node (measured:
`import psycopg` ~210 ms CPU here, `import ctypes` + loading libpq.so.5
~15 ms). The probe needs four things from libpq: connect, send a query, read
the rows or the SQLSTATE, close. Debian's libpq5 (which python3-psycopg
depends on anyway) provides them.

Why asynchronous calls: with PQconnectStartParams/PQconnectPoll and
PQsendQuery/PQconsumeInput the socket waits are ours (poll() with the time
left), so a server that accepts the connection and then says nothing (a
SIGSTOPped postmaster, a frozen backend, a commit waiting for a missing
synchronous standby) cannot hold the action past its deadline. No worker
thread is needed for that. Two waits libpq does not expose:
* host name resolution (inside PQconnectPoll): `resolve()` does it first in
  a bounded daemon thread and hands libpq the addresses (`hostaddr`);
* PQcancel, which in libpq <= 16 blocks until the server closes the cancel
  connection, so a hung server would hang it too. It is not used: the
  session's statement_timeout/lock_timeout (set at login from the budget)
  end a slow statement on the server, and closing our connection ends the
  session.
"""

from __future__ import annotations

import ctypes
import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

LIBRARY = "libpq.so.5"
PACKAGE = "libpq5"

# libpq's enums (libpq-fe.h), stable since 7.4.
_POLLING_FAILED, _POLLING_READING, _POLLING_WRITING, _POLLING_OK = 0, 1, 2, 3
_CONNECTION_OK, _CONNECTION_BAD = 0, 1
_PGRES_EMPTY_QUERY, _PGRES_COMMAND_OK, _PGRES_TUPLES_OK = 0, 1, 2
_DIAG_SQLSTATE, _DIAG_MESSAGE = ord("C"), ord("M")

_lib = None


class LibpqError(Exception):
    """Base of this module's failures."""


class Missing(LibpqError):
    """libpq.so.5 cannot be loaded on this node."""


class ConnectFailed(LibpqError):
    """libpq gave up connecting; the text is libpq's own message (no password: libpq never prints one)."""


class Unresolved(LibpqError):
    """The host name does not resolve."""


class NoAnswer(LibpqError):
    """The deadline passed while waiting for the server during `step`."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class ConnectionLost(LibpqError):
    """The connection broke during a query (server gone, reset)."""


class QueryFailed(LibpqError):
    """The server answered a statement with an error."""

    def __init__(self, sqlstate: Optional[str], message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.results: list = []     # the rows of the statements before the failing one


def load():
    """libpq with the prototypes this module uses (loaded once per process)."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as exc:
        raise Missing(f"{LIBRARY} cannot be loaded (install {PACKAGE}): {exc}") from None
    P, I, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    for name, restype, argtypes in (
        ("PQconnectStartParams", P, [ctypes.POINTER(S), ctypes.POINTER(S), I]),
        ("PQconnectPoll", I, [P]),
        ("PQstatus", I, [P]),
        ("PQsocket", I, [P]),
        ("PQerrorMessage", S, [P]),
        ("PQsetnonblocking", I, [P, I]),
        ("PQsendQuery", I, [P, S]),
        ("PQsendQueryParams", I, [P, S, I, P, ctypes.POINTER(S), P, P, I]),
        ("PQflush", I, [P]),
        ("PQconsumeInput", I, [P]),
        ("PQisBusy", I, [P]),
        ("PQgetResult", P, [P]),
        ("PQresultStatus", I, [P]),
        ("PQresultErrorField", S, [P, I]),
        ("PQresultErrorMessage", S, [P]),
        ("PQntuples", I, [P]),
        ("PQnfields", I, [P]),
        ("PQgetvalue", S, [P, I, I]),
        ("PQgetisnull", I, [P, I, I]),
        ("PQclear", None, [P]),
        ("PQfinish", None, [P]),
        ("PQlibVersion", I, []),
    ):
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _strings(values: Sequence[Optional[str]]):
    arr = (ctypes.c_char_p * (len(values) + 1))()
    for i, value in enumerate(values):
        arr[i] = None if value is None else value.encode("utf-8")
    arr[len(values)] = None
    return arr


def _wait(sock: int, write: bool, end: float) -> bool:
    """Wait until `sock` is readable (or writable); False when `end` passed first."""
    poller = select.poll()
    poller.register(sock, (select.POLLOUT if write else select.POLLIN) | select.POLLERR | select.POLLHUP)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        try:
            if poller.poll(max(1, int(left * 1000 + 0.999))):
                return True
        except InterruptedError:
            continue


def is_numeric(host: str) -> bool:
    """An IPv4/IPv6 literal (libpq connects to it without resolving)."""
    import _socket
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            continue
    return False


def resolve(host: str, port: int, seconds: float) -> List[str]:
    """The addresses of `host`, resolved in a daemon thread the caller stops waiting for.

    getaddrinfo cannot be bounded otherwise (a dead DNS server holds it for
    resolv.conf's timeout x attempts); the thread holds nothing, the agent exits soon.
    """
    import socket
    import threading
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:     # handed to the caller
            outcome.append(exc)

    worker = threading.Thread(target=run, name="resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if not outcome:
        raise NoAnswer("resolving the host name")
    if isinstance(outcome[0], BaseException):
        exc = outcome[0]
        raise Unresolved(f"could not translate host name {host!r} to address: "
                         f"{getattr(exc, 'strerror', None) or exc}")
    addresses: List[str] = []
    for _family, _type, _proto, _name, sockaddr in outcome[0]:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise Unresolved(f"could not translate host name {host!r} to address")
    return addresses[:4]


class Connection:
    """One libpq connection driven without blocking; every wait ends at `end` (monotonic)."""

    def __init__(self, params: Dict[str, str], end: float) -> None:
        """Connect; ConnectFailed, NoAnswer("connect") or Missing otherwise."""
        self.lib = load()
        keys = list(params)
        self._keys = _strings(keys)         # libpq may read them until the poll loop ends
        self._values = _strings([params[k] for k in keys])
        self.conn = self.lib.PQconnectStartParams(self._keys, self._values, 0)
        if not self.conn:
            raise ConnectFailed("out of memory starting a connection")
        try:
            self._connect(end)
        except BaseException:
            self.close()
            raise

    def _connect(self, end: float) -> None:
        lib, conn = self.lib, self.conn
        if lib.PQstatus(conn) == _CONNECTION_BAD:
            raise ConnectFailed(self.error())
        state = _POLLING_WRITING
        while state not in (_POLLING_OK, _POLLING_FAILED):
            if state in (_POLLING_READING, _POLLING_WRITING):
                sock = lib.PQsocket(conn)
                if sock < 0:
                    raise ConnectFailed(self.error())
                if not _wait(sock, state == _POLLING_WRITING, end):
                    raise NoAnswer("connect")
            state = lib.PQconnectPoll(conn)
        if state == _POLLING_FAILED or lib.PQstatus(conn) != _CONNECTION_OK:
            raise ConnectFailed(self.error())
        lib.PQsetnonblocking(conn, 1)

    def error(self) -> str:
        return _text(self.lib.PQerrorMessage(self.conn)).strip() if self.conn else "no connection"

    def query(self, sql: str, args: Optional[Sequence[Optional[str]]] = None, *, end: float,
              step: str) -> List[List[Tuple[Optional[str], ...]]]:
        """The rows of each statement in `sql` (text values); QueryFailed, ConnectionLost or NoAnswer.

        Without `args` several statements may be sent at once (one round trip);
        with `args` exactly one, its parameters sent apart from the text.
        """
        lib, conn = self.lib, self.conn
        if args is None:
            sent = lib.PQsendQuery(conn, sql.encode("utf-8"))
        else:
            values = _strings(list(args))
            sent = lib.PQsendQueryParams(conn, sql.encode("utf-8"), len(args), None, values, None, None, 0)
        if not sent:
            raise ConnectionLost(self.error())
        while True:                      # push the query out (non-blocking connection)
            flushed = lib.PQflush(conn)
            if flushed == 0:
                break
            if flushed < 0:
                raise ConnectionLost(self.error())
            if not _wait(lib.PQsocket(conn), True, end):
                raise NoAnswer(step)
            if not lib.PQconsumeInput(conn):
                raise ConnectionLost(self.error())
        results: List[List[Tuple[Optional[str], ...]]] = []
        failure: Optional[QueryFailed] = None
        while True:
            while lib.PQisBusy(conn):
                if not _wait(lib.PQsocket(conn), False, end):
                    raise NoAnswer(step)
                if not lib.PQconsumeInput(conn):
                    raise ConnectionLost(self.error())
            res = lib.PQgetResult(conn)
            if not res:
                break
            try:
                status = lib.PQresultStatus(res)
                if status in (_PGRES_TUPLES_OK, _PGRES_COMMAND_OK, _PGRES_EMPTY_QUERY):
                    results.append(self._rows(res))
                elif failure is None:
                    sqlstate = _text(lib.PQresultErrorField(res, _DIAG_SQLSTATE)) or None
                    message = (_text(lib.PQresultErrorField(res, _DIAG_MESSAGE))
                               or _text(lib.PQresultErrorMessage(res)) or self.error())
                    failure = QueryFailed(sqlstate, message.strip())
            finally:
                lib.PQclear(res)
        if failure is not None:
            if failure.sqlstate is None and lib.PQstatus(conn) == _CONNECTION_BAD:
                raise ConnectionLost(failure.message)
            failure.results = results
            raise failure
        return results

    def _rows(self, res) -> List[Tuple[Optional[str], ...]]:
        lib = self.lib
        ncols = lib.PQnfields(res)
        rows = []
        for r in range(lib.PQntuples(res)):
            rows.append(tuple(None if lib.PQgetisnull(res, r, c) else _text(lib.PQgetvalue(res, r, c))
                              for c in range(ncols)))
        return rows

    def close(self) -> None:
        """PQfinish: a non-blocking connection sends its goodbye without waiting."""
        if self.conn:
            conn, self.conn = self.conn, None
            self.lib.PQfinish(conn)


def version() -> int:
    """libpq's version number (e.g. 150018), for the benchmark's machine facts."""
    return int(load().PQlibVersion())
