# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab's backup client: the namespace lab's File and Storage daemon (lab/backups.py), run
on the host, bound to 127.0.0.1 on free ports, so backups and restores are real.

The Director runs in a guest and reaches them through QEMU's user network: a guest's
connection to 10.0.2.2 (QEMU's alias for the host) arrives on the host's 127.0.0.1.  The File
daemon, on the host, cannot use that alias: its Storage resource carries `FD Storage
Address = 127.0.0.1` (what the Director tells the File daemon, instead of the Storage's
Address).  Files live under <workdir>/client like the namespace lab's (configurations 0600:
they hold the passwords; processes are found again by their configuration's path, so `down`
from another process stops them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from typing import Dict, List

from .. import backups, dirconf
from ..layout import Layout
from ..sh import LabError

#: where a guest reaches the host's loopback (QEMU user networking; also the PDU's address)
HOST_FROM_GUEST = "10.0.2.2"
LOOPBACK = "127.0.0.1"
DAEMONS = ("bacula-fd", "bacula-sd")


def backup_set(layout: Layout, sec: Dict[str, str], ports: Dict[str, int]) -> dirconf.BackupSet:
    """The Director's Client and Storage (in a guest): the host via QEMU's alias, the File daemon
    sent to the Storage daemon on its own loopback."""
    return backups.backup_set(layout, sec, address=HOST_FROM_GUEST, fd_port=ports["fd"], sd_port=ports["sd"],
                              fd_storage_address=LOOPBACK)


def start(layout: Layout, sec: Dict[str, str], ports: Dict[str, int], timeout: float = 20) -> List[int]:
    """Data, configurations and both daemons (pids); LabError when one does not listen in time."""
    base = backups.make_data(layout, big=False)
    run_dir = base / "run"
    run_dir.mkdir(exist_ok=True)
    argv = backups.write_daemon_confs(layout, sec, str(run_dir), address=LOOPBACK, fd_port=ports["fd"],
                                      sd_port=ports["sd"])
    pids = []
    with open(base / "daemons.log", "ab") as log:
        for args in argv:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd="/")
            pids.append(proc.pid)
    for port in (ports["fd"], ports["sd"]):
        if not _listens(port, timeout):
            stop(layout)
            raise LabError(f"host File/Storage daemon: port {port} does not answer "
                           f"(see {base / 'daemons.log'})")
    return pids


def _listens(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def pids(layout: Layout) -> List[int]:
    """Live bacula-fd/-sd processes started with this lab's configurations."""
    configs = {str(backups.base(layout) / "etc" / f"{d}.conf").encode() for d in DAEMONS}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and os.path.basename(argv[0]).decode(errors="replace") in DAEMONS \
                and configs.intersection(argv):
            found.append(int(entry))
    return found


def stop(layout: Layout, timeout: float = 10) -> List[int]:
    """SIGKILL both daemons (a lab's orphan jobs must not delay its teardown); the pids killed."""
    killed = []
    for pid in pids(layout):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while (pids(layout) or not all(_exited(pid) for pid in killed)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed


def _exited(pid: int) -> bool:
    """Gone, or a zombie whose every thread has exited: the daemons are multi-threaded, and a
    killed one's main thread is a zombie (no command line any more, so `pids` no longer sees it)
    while its other threads still exit, holding its sockets."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
        return state == "Z" and len(os.listdir(f"/proc/{pid}/task")) <= 1
    except (OSError, IndexError):
        return True
