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

from .fake_server import LoopbackServer, recv_exact

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


class SilentPostgres(LoopbackServer):
    """Accepts logins, then swallows every query without a word; `close()` stops it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.logins = 0
        self.queries = 0
        super().__init__(host)

    def serve(self, conn: socket.socket) -> None:
        try:
            while True:
                (length,) = struct.unpack(">i", recv_exact(conn, 4))
                body = recv_exact(conn, length - 4)
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
                kind = recv_exact(conn, 1)
                (length,) = struct.unpack(">i", recv_exact(conn, 4))
                recv_exact(conn, length - 4)
                if kind == b"X":                                     # Terminate
                    return
                if kind in (b"Q", b"P"):
                    self.queries += 1
        except (OSError, ConnectionError, struct.error):
            return
