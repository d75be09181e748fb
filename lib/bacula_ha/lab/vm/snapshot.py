# SPDX-License-Identifier: GPL-2.0-or-later
"""Booted-VM snapshots: each node's state just after its first boot, cached with the image.

Why: an emulated boot costs 70-80 s of a whole host CPU per VM, several
minutes when the machine is shared.  `lab up` resumes both nodes from these
states in seconds.  The node is exactly what a cold boot of the image gives
(same kernel, same units, its own host name): the snapshot is taken from a
real boot, once per image.  Power cycles later in a lab (a fenced node coming
back) are real cold boots, never resumes.

Per node, in the image's cache directory: booted-SHAPE-NODE/root.qcow2 (the disk
as it was at that moment, an overlay of the image) and booted-SHAPE-NODE/state
(RAM and devices).  A lab's overlay sits on that disk; its DRBD disk is new
and empty, as it was when the state was saved (the guest had not written it).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

from ..sh import LabError
from . import guest, machine
from .image import Image


@dataclass(frozen=True)
class Booted:
    dir: Path

    @property
    def disk(self) -> Path:
        return self.dir / "root.qcow2"

    @property
    def state(self) -> Path:
        return self.dir / "state"

    def complete(self) -> bool:
        return self.disk.is_file() and self.state.is_file() and (self.dir / "done").is_file()


def booted(image: Image, name: str) -> Booted:
    return Booted(image.dir / f"booted-{machine.SHAPE}-{name}")


def ensure(image: Image, names: List[str], drbd_mb: int, accel: str, say: Callable[[str], None],
           timeout: float = 900) -> List[Booted]:
    """The booted states of `names`, made now (one real boot of each, together) if not cached."""
    wanted = [booted(image, n) for n in names]
    missing = [(i, n) for i, (n, b) in enumerate(zip(names, wanted), 1) if not b.complete()]
    if not missing:
        return wanted
    work = image.dir / "booting.tmp"
    shutil.rmtree(work, ignore_errors=True)
    specs = [machine.MachineSpec(n, i, str(work), machine.free_port(), machine.free_udp_port(),
                                 machine.free_udp_port(), accel) for i, n in missing]
    started = time.monotonic()
    say(f"booting {', '.join(n for _, n in missing)} once from the image to save their booted state "
        "(cached with the image; a real cold boot, emulated CPU: minutes)")
    try:
        for spec in specs:
            machine.create_disks(spec, image, drbd_mb)
            machine.start(spec, image)
        deadline = time.monotonic() + timeout
        for spec in specs:
            guest.wait_ready(spec, max(10.0, deadline - time.monotonic()))
        boot_s = time.monotonic() - started
        for spec in specs:
            guest.run(spec, "sync", timeout=60)
            machine.save_state(spec, spec.dir / "state")
            machine.kill(spec)
            (spec.dir / "done").write_text(f"{boot_s:.1f}\n")
            spec.drbd_disk.unlink()
            for name in ("monitor.sock", "qemu.pid"):
                (spec.dir / name).unlink(missing_ok=True)
            target = booted(image, spec.name).dir
            shutil.rmtree(target, ignore_errors=True)
            spec.dir.rename(target)
    except BaseException:
        for spec in specs:
            machine.kill(spec)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"booted states saved: cold boot took {boot_s:.0f} s")
    if not all(b.complete() for b in wanted):
        raise LabError("booted states incomplete")
    return wanted
