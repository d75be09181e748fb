# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake Director that passes console authentication, then floods: real sockets, real protocol.

It speaks Bacula's console protocol (bnet packets, mutual cram-md5) with the
console password, greets like bacula-dir 9.6, and answers every command with
an endless stream of `packet_size`-byte packets (a hostile or broken peer).

In-process:     with FloodingDirector(password) as fake: ... fake.port ...
As a process:   FAKE_DIRECTOR_PASSWORD=pw python3 fake_director.py PORT PIDFILE
                (names itself `bacula-dir`, writes PIDFILE, as the agent's level 0 expects)
"""

from __future__ import annotations

import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"), os.path.dirname(HERE)]

from bacula_ha.agents.director.console import cram_response, password_key  # noqa: E402  (the peer's side)
from support.fake_server import LoopbackServer, recv_exact  # noqa: E402

PACKET = 16 << 20


def _recv_packet(conn: socket.socket) -> str:
    (length,) = struct.unpack(">i", recv_exact(conn, 4))
    return recv_exact(conn, length).decode() if length > 0 else ""


def _send(conn: socket.socket, text: str) -> None:
    data = text.encode()
    conn.sendall(struct.pack(">i", len(data)) + data)


def serve(conn: socket.socket, password: str, packet_size: int = PACKET) -> None:
    """One console session: authenticate both ways, then flood the answer to the first command."""
    key = password_key(password)
    with conn:
        try:
            _recv_packet(conn)                                        # Hello <name> calling 0
            _send(conn, "auth cram-md5 <1234.5678@fake-dir> ssl=0\n")
            _recv_packet(conn)                                        # the console's answer (accepted)
            _send(conn, "1000 OK auth\n")
            challenge = _recv_packet(conn).split()[2]                 # auth cram-md5 <chal> ssl=0
            _send(conn, cram_response(challenge, key, False))
            _recv_packet(conn)                                        # 1000 OK auth
            _send(conn, "1000 OK: 103 fake-dir Version: 9.6.7 (10 December 2020)\n")
            _recv_packet(conn)                                        # the command
            chunk = b"x" * min(packet_size, 1 << 20)
            while True:
                conn.sendall(struct.pack(">i", packet_size))
                left = packet_size
                while left:
                    part = chunk[:left]
                    conn.sendall(part)
                    left -= len(part)
        except (OSError, ConnectionError, struct.error, IndexError):
            return


class FloodingDirector(LoopbackServer):
    """A listening fake on 127.0.0.1; each connection gets `serve()`."""

    def __init__(self, password: str, port: int = 0, packet_size: int = PACKET) -> None:
        self.password = password
        self.packet_size = packet_size
        super().__init__(port=port)

    def serve(self, conn: socket.socket) -> None:
        serve(conn, self.password, self.packet_size)


def main() -> None:
    import ctypes
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    ctypes.CDLL(None).prctl(15, b"bacula-dir", 0, 0, 0)               # PR_SET_NAME: the comm agents check
    fake = FloodingDirector(os.environ["FAKE_DIRECTOR_PASSWORD"], port)
    with open(pidfile, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    fake.wait()


if __name__ == "__main__":
    main()
