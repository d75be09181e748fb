# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks the lab and its tests make from outside the cluster.

- a console request to the Director through the VIP, from the switch
  namespace (a client's view), with the project's in-process console client
  (bounded, unlike bconsole's 15-20 s timeouts);
- which nodes run a live bacula-dir (a process not stopped, not a zombie),
  seen from the root PID namespace, so an isolated node is seen as well;
- catalog marks: rows committed through the VIP before a fault, read after it;
- DirectorWatch: a background thread asserting "never two Directors".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from . import node as nodes_mod
from .dirconf import DIRECTOR_NAME
from .layout import DIR_PORT, PG_PORT, VIP, Layout
from .netns import entered, netns_exec
from .sh import run

PSQL = "/usr/lib/postgresql/15/bin/psql"


def console_request(layout: Layout, password: str, command: str = "status dir",
                    timeout: float = 8.0, address: str = VIP) -> Tuple[bool, str]:
    """(answered, output or reason) for one authenticated console command through address."""
    from ..agents.director.console import ConsoleError, DirectorConsole
    from ..ocf.deadline import Deadline

    console = DirectorConsole(address, DIR_PORT, "", password, Deadline(timeout))
    try:
        with entered(layout.switch_ns):   # the client lives in the switch namespace
            console.connect()
        return True, console.command(command)
    except ConsoleError as exc:
        return False, str(exc)
    finally:
        console.close()


def _is_config_test(pid: int) -> bool:
    """`bacula-dir -t` (config-pull's validation, the agent's checks) is not a Director."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"-t" in f.read().split(b"\0")
    except OSError:
        return True


def director_nodes(layout: Layout, nodes: List[str]) -> List[str]:
    """Nodes with a bacula-dir daemon that can answer (not SIGSTOPped, not a zombie, not -t)."""
    found = []
    for n in nodes:
        for pid in nodes_mod.processes(layout, n, "bacula-dir"):
            if nodes_mod.proc_state(pid) not in ("T", "t", "Z", "X") and not _is_config_test(pid):
                found.append(n)
                break
    return found


def psql(layout: Layout, host: str, password: str, sql: str, timeout: float = 20) -> Tuple[bool, str]:
    # host may list several servers (a Patroni cluster's members): libpq takes the writable one
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5",
           "PGTARGETSESSIONATTRS": "read-write"}
    result = run(netns_exec(layout, "sw") + [PSQL, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                              "-h", host, "-p", str(PG_PORT), "-U", "bacula", "-d", "bacula",
                                              "-c", sql],
                 timeout=timeout, check=False, env=env)
    return result.returncode == 0, (result.stdout if result.returncode == 0 else result.stderr).strip()


def add_mark(layout: Layout, host: str, password: str, label: str) -> bool:
    ok, _ = psql(layout, host, password, f"INSERT INTO lab_marks (label) VALUES ('{label}')")
    return ok


def marks(layout: Layout, host: str, password: str) -> Optional[List[str]]:
    ok, out = psql(layout, host, password, "SELECT label FROM lab_marks ORDER BY id")
    return out.split() if ok else None


@dataclass
class DirectorWatch:
    """Background check, every `interval` s: how many nodes run a live Director at once."""

    layout: Layout
    nodes: List[str]
    interval: float = 0.2
    max_seen: int = 0
    samples: int = 0
    violations: List[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def __enter__(self) -> "DirectorWatch":
        self._thread = threading.Thread(target=self._run, daemon=True, name="director-watch")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            running = director_nodes(self.layout, self.nodes)
            self.samples += 1
            self.max_seen = max(self.max_seen, len(running))
            if len(running) > 1:
                self.violations.append(f"{time.strftime('%H:%M:%S')}: Directors on {', '.join(running)}")
            self._stop.wait(self.interval)


__all__ = ["console_request", "director_nodes", "add_mark", "marks", "DirectorWatch", "DIRECTOR_NAME"]
