# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab machines (cluster nodes and lab hosts): their private files, boot, power-off, entering.

A machine is a network namespace (created once by `up`) plus, while it is
powered on, a PID namespace whose init is :mod:`.init`.  Booting and
powering off are done by the PDU (:mod:`.pdu`), the only process that may
"touch the power"; `up` asks the PDU to power machines on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence

from .layout import LIBDIR, PYTHON, Layout, env_for_children
from .netns import configure_address, flush_addresses
from .sh import LabError

HACLUSTER = ("hacluster", "haclient")
#: host directories every node gets its own copy of (bind mounts inside the node)
NODE_PRIVATE = ("/var/lib/pacemaker", "/var/lib/corosync", "/etc/corosync", "/var/log/pacemaker",
                "/var/log/corosync", "/var/log/postgresql", "/var/log/crmsh", "/var/lib/bacula")
RUN_DIRS = [
    ["/run/crm", "hacluster", "haclient", "0750"],
    ["/run/resource-agents", "root", "root", "0755"],
    ["/run/fence-agents", "root", "root", "0755"],
    ["/run/postgresql", "postgres", "postgres", "2775"],
    ["/run/bacula", "bacula", "bacula", "0755"],
    ["/run/lock", "root", "root", "1777"],
]
UNSHARE = ["unshare", "--uts", "--ipc", "--mount", "--pid", "--fork", "--mount-proc",
           "--propagation", "private"]


def private_dir(layout: Layout, machine: str, target: str) -> Path:
    return layout.node_dir(machine) / "root" / target.strip("/")


def spec_path(layout: Layout, machine: str) -> Path:
    return layout.node_dir(machine) / "spec.json"


def console_log(layout: Layout, machine: str) -> Path:
    return layout.node_dir(machine) / "console.log"


def write_node_spec(layout: Layout, node: str, services: Sequence[dict] = ()) -> None:
    """A cluster node: private pacemaker/corosync state and logs, the architecture's own
    `services` (e.g. HAProxy), corosync + pacemakerd."""
    binds = []
    for target in NODE_PRIVATE:
        if os.path.isdir(target):
            binds.append([str(private_dir(layout, node, target)), target])
    binds.append([str(layout.node_dir(node) / "local"), str(layout.local)])
    binds.append([str(layout.workdir / "hosts"), "/etc/hosts"])
    log = str(console_log(layout, node))
    spec = {
        "hostname": node,
        "tmpfs": ["/run", "/dev/shm"],
        "dirs": RUN_DIRS,
        "binds": binds,
        "sbin_overlay": str(layout.fence_bin),
        "services": [
            *services,
            {"argv": ["corosync", "-f"], "log": log},
            {"argv": ["pacemakerd"], "log": log, "env": {"PCMK_logfacility": "none"},
             "wait_for": ["corosync-cfgtool", "-s"], "wait_before": 10},
        ],
        "after_stop": [["corosync-cfgtool", "-H", "--force"]],
    }
    spec_path(layout, node).write_text(json.dumps(spec, indent=1))


def write_host_spec(layout: Layout, host: str, services: List[dict], dirs: Optional[list] = None) -> None:
    """A lab host (catalog server, Git server): private /run, its services."""
    spec = {"hostname": host, "tmpfs": ["/run", "/dev/shm"], "dirs": [["/run/lock", "root", "root", "1777"]]
            + (dirs or []), "binds": [[str(layout.workdir / "hosts"), "/etc/hosts"]], "services": services}
    layout.node_dir(host).mkdir(parents=True, exist_ok=True)
    spec_path(layout, host).write_text(json.dumps(spec, indent=1))


def prepare_node_dirs(layout: Layout, node: str) -> None:
    import grp
    import pwd
    uid, gid = pwd.getpwnam(HACLUSTER[0]).pw_uid, grp.getgrnam(HACLUSTER[1]).gr_gid
    for target in NODE_PRIVATE:
        if not os.path.isdir(target):
            continue
        path = private_dir(layout, node, target)
        path.mkdir(parents=True, exist_ok=True)
        st = os.stat(target)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)
    for sub in ("cib", "pengine", "blackbox", "cores"):
        path = private_dir(layout, node, "/var/lib/pacemaker") / sub
        path.mkdir(exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, 0o750)
    (layout.node_dir(node) / "local").mkdir(exist_ok=True)


# ---- power -------------------------------------------------------------------------------

def _pidfile(layout: Layout, machine: str) -> Path:
    return layout.node_dir(machine) / "init.pid"


def _starttime(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def init_pid(layout: Layout, machine: str) -> Optional[int]:
    """The machine's init (root PID namespace numbering) if it is powered on."""
    try:
        pid_s, start = _pidfile(layout, machine).read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_s)
    return pid if _starttime(pid) == start else None


def boot(layout: Layout, machine: str) -> subprocess.Popen:
    """Power on: address the NIC, start init in fresh namespaces; returns the unshare process."""
    configure_address(layout, machine)
    log = open(console_log(layout, machine), "ab")
    argv = ["ip", "netns", "exec", layout.netns(machine), *UNSHARE, PYTHON, "-S", "-m",
            "bacula_ha.lab.pid1", str(spec_path(layout, machine))]
    env = env_for_children()
    env["PYTHONPATH"] = LIBDIR
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True, cwd="/")
    log.close()
    for _ in range(100):
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            pid = int(children[0])
            start = _starttime(pid)
            if start:
                _pidfile(layout, machine).write_text(f"{pid} {start}\n")
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise LabError(f"{machine}: init did not start (see {console_log(layout, machine)})")


def power_off(layout: Layout, machine: str) -> bool:
    """SIGKILL the machine's init (its PID namespace dies with it) and drop its addresses."""
    pid = init_pid(layout, machine)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for _ in range(200):
            if _starttime(pid) is None:
                break
            time.sleep(0.05)
    flush_addresses(layout, machine)
    try:
        _pidfile(layout, machine).unlink()
    except FileNotFoundError:
        pass
    return pid is not None


def enter(layout: Layout, machine: str) -> List[str]:
    """argv prefix that runs a command inside a powered-on machine (all its namespaces)."""
    pid = init_pid(layout, machine)
    if not pid:
        raise LabError(f"{machine} is powered off")
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--"]


def processes(layout: Layout, machine: str, comm: str) -> List[int]:
    """PIDs (root namespace numbering) of processes named comm inside a machine."""
    pid = init_pid(layout, machine)
    if not pid:
        return []
    try:
        pidns = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != comm:
                    continue
            if os.readlink(f"/proc/{entry}/ns/pid") == pidns:
                found.append(int(entry))
        except OSError:
            continue
    return found


def proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except OSError:
        return "X"
