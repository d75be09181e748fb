# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab's virtual PDU: the namespace lab's PDU (:mod:`..pdu`) with QEMU processes on its outlets.

"off" kills the VM's QEMU process (SIGKILL: a power cut, the guest's caches
are lost), "on" starts it again after the boot delay.  The fence agent in
the guests (fence_bhlab, the same one the namespace lab uses) reaches it at
10.0.2.2:PORT, QEMU's user-network alias for the host's loopback, where this
daemon listens; the lab talks to it over pdu.sock in the lab's directory.
A pulled cluster cable stays pulled across a power cycle (a new QEMU starts
with its link up, so it is pulled again at once).

Run as a daemon: python3 -m bacula_ha.lab.vm.power --workdir DIR --port PORT --boot-delay S
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Optional

from .. import pdu
from ..layout import Layout
from . import machine
from .image import Image

STATE = "vm.json"
MACHINES = "machines.json"


class VmPower:
    """Outlets: one QEMU process per VM (see :class:`..pdu.Power`)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.specs = {s.name: s for s in machine.load(workdir / MACHINES)}
        self.image = Image(Path(json.loads((workdir / STATE).read_text())["image_dir"]))
        self.unplugged = set()
        self.lock = threading.Lock()

    def machines(self) -> List[str]:
        return sorted(self.specs)

    def is_on(self, name: str) -> bool:
        return machine.pid(self.specs[name]) is not None

    def power_off(self, name: str) -> None:
        machine.kill(self.specs[name])

    def boot(self, name: str) -> Optional[subprocess.Popen]:
        spec = self.specs[name]
        machine.start(spec, self.image)
        if name in self.unplugged:
            machine.set_link(spec, False)
        return None   # QEMU daemonizes: nothing to reap

    def set_cable(self, name: str, plugged: bool) -> None:
        with self.lock:
            (self.unplugged.discard if plugged else self.unplugged.add)(name)
        machine.set_link(self.specs[name], plugged)


def socket_path(workdir: Path) -> Path:
    return workdir / "pdu.sock"


def events_path(workdir: Path) -> Path:
    return workdir / "pdu-events.jsonl"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bacula_ha.lab.vm.power")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--boot-delay", type=float, default=10.0)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    layout = Layout(workdir.name, str(workdir.parent))
    power = VmPower(workdir)
    server = pdu.Pdu(layout, args.boot_delay, power=power, events=events_path(workdir))
    pdu.serve(layout, args.boot_delay, pdu=server, address=("127.0.0.1", args.port),
              socket_path=socket_path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
