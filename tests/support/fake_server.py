# SPDX-License-Identifier: GPL-2.0-or-later
"""What every fake peer shares (fake Director, PostgreSQL, Git server): a loopback listener
that hands each connection to `serve(conn)` in a thread of its own, and closes them all at
the end, and an exact read of n bytes for the length-prefixed protocols they speak.

    class Silent(LoopbackServer):
        def serve(self, conn): ...        # one connection; the default holds it and never answers
    with Silent() as fake: ... fake.port ...
"""

from __future__ import annotations

import socket
import threading
from typing import List


def recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


class LoopbackServer:
    """Listens on `host`:`port` (0: a free port) from construction until close()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((host, port))
        self.server.listen(16)
        self.host, self.port = self.server.getsockname()[:2]
        self.accepted: List[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def serve(self, conn: socket.socket) -> None:
        """One connection, in its own thread. The default: hold it open, never answer."""

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def wait(self) -> None:
        """Serve until closed (for a fake run as its own process)."""
        self._thread.join()

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            try:
                conn.close()
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
