# SPDX-License-Identifier: GPL-2.0-or-later
"""PID 1 of a lab node or lab host: private mounts, then the machine's services.

Started by :mod:`.node` as
``ip netns exec NS unshare --uts --ipc --mount --pid --fork --mount-proc
--propagation private python3 -S -m bacula_ha.lab.pid1 SPEC.json``.
Being PID 1 of its own PID namespace, one SIGKILL from outside (the PDU)
takes every process of the machine with it, and its mount namespace (the
shared disk, the private /run) disappears too: that is "power off".

The spec (written by :mod:`.node`) says: hostname, tmpfs mounts, directories
to create in them, bind mounts, an optional overlay that adds the fence
agent to /usr/sbin, and the services to start in order.  As PID 1 it also
reaps orphans; SIGTERM stops the services in reverse order (clean shutdown).
"""

from __future__ import annotations

import json
import os
import pwd
import grp
import signal
import socket
import subprocess
import sys
import time
from typing import List


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=30)


def _mkdir(path: str, owner: str, group: str, mode: int) -> None:
    os.makedirs(path, exist_ok=True)
    os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)


def prepare(spec: dict) -> None:
    socket.sethostname(spec["hostname"])
    for path in spec.get("tmpfs", []):
        _mount("-t", "tmpfs", "-o", "mode=1777" if path == "/dev/shm" else "mode=755", "tmpfs", path)
    for path, owner, group, mode in spec.get("dirs", []):
        _mkdir(path, owner, group, int(mode, 8))
    for source, target in spec.get("binds", []):
        _mount("--bind", source, target)
    overlay = spec.get("sbin_overlay")
    if overlay:
        _mount("-t", "overlay", "overlay", "-o", f"lowerdir={overlay}:/usr/sbin", "/usr/sbin")


def start_services(spec: dict) -> List[subprocess.Popen]:
    procs = []
    for service in spec.get("services", []):
        env = dict(os.environ)
        env.update(service.get("env", {}))
        log = open(service["log"], "ab") if service.get("log") else subprocess.DEVNULL
        for _ in range(int(service.get("wait_before", 0) * 5)):
            if subprocess.run(service["wait_for"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0:
                break
            time.sleep(0.2)
        procs.append(subprocess.Popen(service["argv"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, user=service.get("user"),
                                      group=service.get("group"), cwd=service.get("cwd", "/")))
    return procs


def main(argv: List[str]) -> int:
    with open(argv[0]) as f:
        spec = json.load(f)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare(spec)
    procs = start_services(spec)
    print(f"{spec['hostname']}: up, services {[p.pid for p in procs]}", flush=True)
    while not stopping:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:   # reap our services and orphans
                pass
        except ChildProcessError:
            pass
        time.sleep(0.5)
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=float(spec.get("stop_timeout", 30)))
            except subprocess.TimeoutExpired:
                proc.kill()
    for command in spec.get("after_stop", []):
        subprocess.run(command, timeout=30, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
