# SPDX-License-Identifier: GPL-2.0-or-later
"""A PostgreSQL server that lets you log in and then never answers a query.

Real PostgreSQL cannot be made to do exactly this on demand (a SIGSTOPped
postmaster does not even finish the login), so this small server speaks the
real wire protocol (v3) to a real libpq: it declines SSL/GSS encryption,
accepts the startup message without a password (trust), sends the parameter
status, backend key and ReadyForQuery, and from then on reads whatever comes and
never replies. Cancel requests are read and ignored too.

    with SilentPostgres() as fake:        # 127.0.0.1, a free port
        ... connect to fake.port ...
        fake.queries                      # how many query messages it swallowed
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import List

SSL_REQUEST, GSS_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">i", len(payload) + 4) + payload


def _login_reply() -> bytes:
    out = _message(b"R", struct.pack(">i", 0))                       # AuthenticationOk
    for key, value in (("server_version", "15.0"), ("server_encoding", "UTF8"),
                       ("client_encoding", "UTF8"), ("standard_conforming_strings", "on"),
                       ("integer_datetimes", "on"), ("DateStyle", "ISO, MDY")):
        out += _message(b"S", key.encode() + b"\0" + value.encode() + b"\0")
    out += _message(b"K", struct.pack(">ii", 4242, 17))               # BackendKeyData
    out += _message(b"Z", b"I")                                       # ReadyForQuery, idle
    return out


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


class SilentPostgres:
    """Accepts logins, then swallows every query without a word; `close()` stops it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((host, 0))
        self.server.listen(16)
        self.host, self.port = self.server.getsockname()[:2]
        self.logins = 0
        self.queries = 0
        self._conns: List[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                (length,) = struct.unpack(">i", _recv_exact(conn, 4))
                body = _recv_exact(conn, length - 4)
                (code,) = struct.unpack(">i", body[:4])
                if code in (SSL_REQUEST, GSS_REQUEST):
                    conn.sendall(b"N")                               # no encryption: go on in clear
                    continue
                if code == CANCEL_REQUEST:
                    return                                           # ignored, connection left open
                break                                                # the startup message
            self.logins += 1
            conn.sendall(_login_reply())
            while True:                                              # swallow, never answer
                kind = _recv_exact(conn, 1)
                (length,) = struct.unpack(">i", _recv_exact(conn, 4))
                _recv_exact(conn, length - 4)
                if kind == b"X":                                     # Terminate
                    return
                if kind in (b"Q", b"P"):
                    self.queries += 1
        except (OSError, ConnectionError, struct.error):
            return

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self) -> "SilentPostgres":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
