# SPDX-License-Identifier: GPL-2.0-or-later
"""What a lab created, recorded BEFORE it is created, so teardown is complete.

`down` (and the finally/signal paths of `up` and `demo`) remove everything
listed here and also everything recognisable by the lab's name prefix, so
leftovers of a killed previous run are cleaned too: processes in the lab's
network namespaces (node inits take their whole PID namespace with them,
including mounts), the namespaces, loop devices backed by the lab's image.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Dict, List

from .layout import Layout
from .sh import run


class Registry:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.path = layout.registry_file

    def load(self) -> Dict[str, List[str]]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"netns": [], "loop": []}

    def add(self, kind: str, value: str) -> None:
        data = self.load()
        if value not in data.setdefault(kind, []):
            data[kind].append(value)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)

    def forget(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def lab_namespaces(layout: Layout) -> List[str]:
    """All network namespaces of this lab, registered or found by prefix."""
    names = set(Registry(layout).load().get("netns", []))
    result = run(["ip", "netns", "list"], check=False)
    for line in result.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(layout.name + "-"):
            names.add(name)
    return sorted(names)


def netns_pids(ns: str) -> List[int]:
    result = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def kill_namespace_processes(namespaces: List[str], timeout: float = 20) -> None:
    """SIGKILL everything in these network namespaces until nothing is left."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [pid for ns in namespaces for pid in netns_pids(ns) if _alive(pid)]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes survive SIGKILL: {pids}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _lab_loops(layout: Layout) -> List[str]:
    listing = run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False).stdout
    devices = []
    for line in listing.splitlines():
        dev, _, back = line.strip().partition(" ")
        if back.strip().startswith(str(layout.workdir) + "/"):
            devices.append(dev)
    return devices


def teardown(layout: Layout, remove_workdir: bool = True) -> List[str]:
    """Remove everything the lab created; returns what was removed (for the output)."""
    done: List[str] = []
    namespaces = lab_namespaces(layout)
    # The switch namespace holds the PDU: kill it first so it cannot power anything on.
    ordered = sorted(namespaces, key=lambda n: n != layout.switch_ns)
    if ordered:
        kill_namespace_processes(ordered[:1] if ordered[0] == layout.switch_ns else [])
        kill_namespace_processes(ordered)
        done.append(f"processes in {len(ordered)} namespaces")
    for ns in ordered:
        run(["ip", "netns", "delete", ns], check=False)
        done.append(f"netns {ns}")
    # Loop devices whose backing file lies in the workdir (also when it was deleted).  A device
    # still mounted in a dying node's mount namespace is detached by the kernel once released.
    for attempt in range(50):
        devices = _lab_loops(layout)
        if not devices:
            break
        for dev in devices:
            if run(["losetup", "-d", dev], check=False).returncode == 0 and attempt == 0:
                done.append(f"loop {dev}")
        time.sleep(0.2)
    if remove_workdir and layout.workdir.exists():
        run(["rm", "-rf", "--one-file-system", str(layout.workdir)], check=False, timeout=120)
        done.append(f"dir {layout.workdir}")
    Registry(layout).forget()
    try:
        Path(layout.root).rmdir()
    except OSError:
        pass
    return done
