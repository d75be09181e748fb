# SPDX-License-Identifier: GPL-2.0-or-later
"""Opening a catalog session within a deadline (libpq keywords, host resolution, the guard).

Three layers keep a hung server (a SIGSTOPped postmaster completes the TCP
handshake in the kernel and then says nothing) from outliving the action:
1. libpq: TCP keepalives and `tcp_user_timeout` for a peer that vanished;
2. the server: `statement_timeout` and `lock_timeout`, set from the budget left
   (probe.py), so the server cancels a slow statement before we give up;
3. the client guard: every socket wait of the session is ours (libpq.py runs
   libpq's asynchronous calls under poll() with the time left), host name
   resolution included, so no wait outlives the deadline whatever the server does.
"""

from __future__ import annotations

import math
import time

from . import libpq
from .errors import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict

APPLICATION_NAME = "bacula-catalog-check"


def conninfo_params(target: Target, passfile: str, sslmode: str, connect_timeout: float,
                    application_name: str = APPLICATION_NAME) -> Dict[str, str]:
    """libpq keywords for one connection: never a password, only the password file's path."""
    seconds = max(1, int(math.ceil(connect_timeout)))
    params: Dict[str, str] = {
        "host": target.host,
        "port": str(target.port),
        "dbname": target.dbname,
        "user": target.user,
        "sslmode": sslmode,
        "connect_timeout": str(seconds),
        "application_name": application_name,
        "client_encoding": "UTF8",
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


def open_session(params: Dict[str, str], connect_timeout: float, end: float,
                 password: str = "") -> libpq.Connection:
    """A connected session, or libpq's ConnectFailed / Unresolved / NoAnswer / Missing.

    `password` (the Director's, from its Catalog resource) goes to libpq in this
    process only: never into argv, the environment or a file.
    """
    end = min(end, time.monotonic() + max(0.1, connect_timeout))
    host = params.get("host", "")
    if host and not host.startswith(("/", "@")) and "," not in host and not libpq.is_numeric(host):
        addresses = libpq.resolve(host, int(params.get("port") or 5432), end - time.monotonic())
        params = dict(params, host=",".join([host] * len(addresses)), hostaddr=",".join(addresses))
    if password:
        params = dict(params, password=password)
    return libpq.Connection(params, end)
