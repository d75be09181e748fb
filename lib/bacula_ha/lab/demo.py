# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha lab demo`: up, show the stack and the Director, crash the active node, show the
failover with measured times, tear down, prove nothing is left.  Exit status 0 only if all held."""

from __future__ import annotations

import os
import time
from typing import Callable, List

from . import backups, faults, patroni, registry
from .observe import console_request, director_nodes
from .cluster import crm_mon_text
from .lab import Lab
from .layout import VIP
from .sh import run


def _ancestors() -> set:
    """This process and its parents: their command lines name the lab, but they are not leftovers."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def lab_processes(workdir, name: str) -> List[str]:
    """Live processes whose command line names the lab (`--name NAME`, or its directory), never
    this process or its parents (their command lines name the lab too)."""
    found = []
    mine = _ancestors()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except OSError:
            continue
        text = cmd + " "
        if state != "Z" and (f"--name {name} " in text or f"{workdir}/" in text or f"{workdir} " in text):
            found.append(f"process {entry}: {cmd[:80]}")
    return found


def leftovers(lab: Lab) -> List[str]:
    """What of this lab still exists: processes, namespaces, loop devices, mounts, files."""
    found = []
    namespaces = registry.lab_namespaces(lab.layout)
    found += [f"netns {ns}" for ns in namespaces]
    listing = run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False).stdout
    found += [f"loop {line.split()[0]}" for line in listing.splitlines()
              if str(lab.layout.workdir) in line]
    found += lab_processes(lab.layout.workdir, lab.layout.name)
    with open("/proc/self/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if str(lab.layout.workdir) in line]
    if lab.layout.workdir.exists():
        found.append(f"dir {lab.layout.workdir}")
    return found


def tear_down(say: Callable[[str], None], down: Callable[[], object], left: Callable[[], List[str]],
              nothing: str) -> bool:
    """Take the lab down, then look for what is left of it; True when nothing is."""
    down()
    rest = left()
    say(("   LEFT BEHIND: " + "; ".join(rest)) if rest else "   nothing left: " + nothing)
    return not rest


def run_demo(lab: Lab, say: Callable[[str], None], nodes: int = 2, agents: str = "ours",
             boot_delay: float = 10.0, arch: str = "drbd") -> bool:
    ok = True
    t_start = time.monotonic()
    try:
        say("== 1. bring the cluster up")
        lab.up(nodes, arch, agents, boot_delay)
        active = director_nodes(lab.layout, lab.nodes)[0]
        say(f"== 2. the stack runs on {active}")
        say(crm_mon_text(lab.layout, active).rstrip())
        if arch == "git":
            members = patroni.roles(patroni.cluster_state(lab.layout))
            say("   catalog: Patroni " + ", ".join(f"{m} {r} ({s})" for m, (r, s) in sorted(members.items()))
                + f"; the Director reaches the primary through HAProxy on 127.0.0.1:{patroni.HAPROXY_PORT}")
        answered, out = console_request(lab.layout, lab.console_password(), "status dir", timeout=10)
        say(f"== 3. console request `status dir` through the VIP {VIP}:9101: "
            f"{'answered' if answered else 'FAILED'}")
        for line in out.splitlines()[:4]:
            say("   | " + line)
        ok &= answered
        say(f"== 4. a backup, then a long backup (File daemon limited to {backups.BANDWIDTH}); crash {active} "
            "while it runs (power and network gone at once); a catalog row is committed first")
        result = faults.node_crash(lab, active, progress=lambda m: say("   " + m))
        say(f"== 5. failover: {result.summary()}")
        if result.detected_s is not None and result.fenced_s is not None and result.started_s is not None:
            say(f"   detection {result.detected_s:.1f} s, fencing {result.fenced_s - result.detected_s:.1f} s, "
                f"start {result.started_s - result.fenced_s:.1f} s, Director answering "
                f"{result.answering_s if result.answering_s is not None else float('nan'):.1f} s "
                "after the crash")
        if result.interrupted_jobid:
            say(f"   interrupted backup JobId {result.interrupted_jobid}: "
                + (f"run again by the agent as JobId {result.rerun_jobid} ({result.reruns} rerun), "
                   f"running {result.rerun_running_s} s and ended {result.rerun_status} "
                   f"{result.rerun_done_s} s after the crash" if result.rerun_jobid else "never run again"))
        say(f"   backup made before the crash restored on the survivor: "
            f"{'byte-identical' if result.restore_ok else 'FAILED'}; new backup after the crash: "
            f"{'OK' if result.backup_after_ok else 'FAILED'}")
        ok &= result.ok
        survivor = lab.observer()
        if survivor:
            say(crm_mon_text(lab.layout, survivor).rstrip())
        answered, out = console_request(lab.layout, lab.console_password(), "status dir", timeout=10)
        say(f"   console request through the VIP after failover: {'answered' if answered else 'FAILED'}"
            f" ({out.splitlines()[0] if answered and out else out})")
        ok &= answered
    except BaseException as exc:
        ok = False
        say(f"demo failed: {exc.__class__.__name__}: {exc}")
        if not isinstance(exc, Exception):
            raise
    finally:
        say("== 6. tear down")
        ok &= tear_down(say, lab.down, lambda: leftovers(lab),
                        "no lab processes, namespaces, loop devices, mounts or files")
    say(f"== demo {'succeeded' if ok else 'FAILED'} in {time.monotonic() - t_start:.0f} s")
    return ok
