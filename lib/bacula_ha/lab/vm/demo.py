# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha lab demo --machines vm`: two VMs with real DRBD; crash the Primary, fail over, bring
it back, tear down, prove nothing is left.  Exit status 0 only if all of it held."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, List

from ..demo import lab_processes, tear_down
from ..sh import run
from . import faults
from .lab import REAL, VmLab


def leftovers(lab: VmLab) -> List[str]:
    """What of this VM lab still exists: QEMU, PDU, host File/Storage daemon processes (their command
    lines name the lab's directory), the overlays, disks and backup volumes, network devices."""
    found = lab_processes(lab.workdir, lab.layout.name)
    if lab.workdir.exists():
        found.append(f"dir {lab.workdir} (overlays, DRBD disks)")
    links = run(["ip", "-o", "link", "show"], check=False).stdout
    found += [f"network device {line.split(':')[1].strip()}" for line in links.splitlines()
              if lab.layout.name in line.split(":")[1]]
    return found


def run_demo(lab: VmLab, say: Callable[[str], None], boot_delay: float = 10.0) -> bool:
    ok = True
    t_start = time.monotonic()
    say("== " + REAL)
    try:
        say("== 1. build/reuse the image, boot two VMs, DRBD, corosync, Pacemaker, the rendered drbd snippet")
        lab.up(boot_delay)
        primary = lab.director_node()
        say(f"== 2. the stack runs on {primary}")
        for n in lab.nodes:
            state = lab.drbd_state(n)
            say(f"   DRBD on {n}: {state}")
            ok &= state.disk == state.peer_disk == "UpToDate" and state.cstate == "Connected"
        say(lab.crm_mon_text(primary).rstrip())
        say(f"== 3. a backup through {primary}'s Director (File and Storage daemon on the host), then crash "
            f"{primary}'s VM (QEMU killed: a power cut); restore that backup after the failover")
        result = faults.crash(lab, progress=lambda m: say("   " + m))
        say(f"== 4. result: {result.summary()}")
        ok &= result.ok
        for n in lab.nodes:
            say(f"   DRBD on {n}: {lab.drbd_state(n)}")
        survivor = result.director_after or lab.observer()
        if survivor:
            say(lab.crm_mon_text(survivor).rstrip())
        t = lab.state.timings
        say(f"   timings: image {t.get('image_s')} s (cached after the first build), boot {t.get('boot_s')} s, "
            f"DRBD initial sync {t.get('drbd_sync_s')} s, cluster {t.get('cluster_s')} s, "
            f"stack {t.get('stack_s')} s, up {t.get('up_s')} s; accelerator {lab.state.accel.upper()}")
    except BaseException as exc:
        ok = False
        say(f"demo failed: {exc.__class__.__name__}: {exc}")
        if not isinstance(exc, Exception):
            raise
    finally:
        say("== 5. tear down")
        if os.environ.get("BACULA_HA_LAB_LOGS") and lab.workdir.exists():
            lab.collect_logs(Path(os.environ["BACULA_HA_LAB_LOGS"]))
        ok &= tear_down(say, lab.down, lambda: leftovers(lab),
                        "no QEMU, PDU, File or Storage daemon process, no overlay, DRBD disk or volume, "
                        "no network device")
    say(f"== VM demo {'succeeded' if ok else 'FAILED'} in {time.monotonic() - t_start:.0f} s")
    return ok
