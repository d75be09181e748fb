# SPDX-License-Identifier: GPL-2.0-or-later
"""One QEMU virtual machine of the VM lab: start, kill, its links, its accelerator.

Each node has two NICs:
  eth0  management: QEMU user networking; the host reaches the guest's sshd
        through a forwarded loopback port, the guest reaches the PDU at
        10.0.2.2 (QEMU's alias for the host's loopback);
  eth1  the cluster and replication link (corosync, DRBD, the VIP), a UDP
        socket pair between the two QEMU processes on the host's loopback:
        connectionless, so either VM can be killed and rebooted and the link
        works again, and no bridge, tap or namespace is needed on the host.
A "partition" sets eth1's link down from QEMU's monitor (the cable pulled);
"heal" sets it up again.  Disks: vda = a qcow2 overlay of the cached image,
vdb = a raw file backing DRBD.  The kernel and initrd are passed directly.

KVM: the host may offer /dev/kvm through PVM (kvm_pvm), which runs only guest
kernels built for it; Debian's kernel hangs there, so we use TCG then.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

from ..sh import LabError, run
from .image import LINK_MAC, MGMT_MAC, Image

QEMU = "qemu-system-x86_64"
MEMORY_MB = 512
#: two vCPUs per VM although the host may have only two CPUs: when one VM works alone (the
#: survivor of a crash, a node booting) it gets both; measured under TCG with one VM: boot to
#: ssh 32 s instead of 44 s, a process-heavy shell workload 10.7 s instead of 12.4-14.8 s
VCPUS = 2
#: what a saved booted state depends on besides the image (a state cannot be loaded into a
#: machine of another shape)
SHAPE = f"{VCPUS}cpu-{MEMORY_MB}m"
NICE = 10   # the machine is shared: emulated CPUs must not starve everybody else


def accelerator() -> tuple:
    """("kvm"|"tcg", why): KVM only when /dev/kvm works for ordinary guest kernels."""
    forced = os.environ.get("BACULA_HA_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced, f"forced by BACULA_HA_VM_ACCEL={forced}"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    if Path("/sys/module/kvm_pvm").exists():
        return "tcg", "/dev/kvm is KVM-PVM (kvm_pvm), which cannot run Debian's kernel"
    return "kvm", "/dev/kvm present"


@dataclass
class MachineSpec:
    """Everything needed to (re)start one VM; saved in the lab's state file."""

    name: str
    index: int
    workdir: str
    ssh_port: int
    link_port: int        # this VM's UDP end of the cluster link
    peer_link_port: int   # the other VM's end
    accel: str = "tcg"

    @property
    def dir(self) -> Path:
        return Path(self.workdir) / self.name

    @property
    def overlay(self) -> Path:
        return self.dir / "root.qcow2"

    @property
    def drbd_disk(self) -> Path:
        return self.dir / "drbd.raw"

    @property
    def pidfile(self) -> Path:
        return self.dir / "qemu.pid"

    @property
    def monitor(self) -> Path:
        return self.dir / "monitor.sock"

    @property
    def console(self) -> Path:
        return self.dir / "console.log"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_disks(spec: MachineSpec, image: Image, drbd_mb: int, backing: Optional[Path] = None) -> None:
    """The VM's root overlay (on the image, or on a booted snapshot's disk) and its empty DRBD disk."""
    spec.dir.mkdir(parents=True, exist_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing or image.qcow2),
         str(spec.overlay)])
    with open(spec.drbd_disk, "wb") as f:
        f.truncate(drbd_mb * 1024 * 1024)


def command(spec: MachineSpec, image: Image, resume: Optional[Path] = None) -> List[str]:
    """QEMU's argv; with `resume`, the VM continues from that saved state instead of booting."""
    accel = "kvm" if spec.accel == "kvm" else "tcg,thread=multi,tb-size=128"
    cpu = "host" if spec.accel == "kvm" else "max"
    return [
        "nice", "-n", str(NICE), QEMU, "-name", f"bhvm-{spec.name}", "-accel", accel, "-cpu", cpu,
        "-m", str(MEMORY_MB), "-smp", str(VCPUS), "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", f"root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={spec.name} "
                   "loglevel=4 systemd.show_status=1 panic=-1",
        "-drive", f"file={spec.overlay},if=virtio,format=qcow2,cache=unsafe",
        "-drive", f"file={spec.drbd_disk},if=virtio,format=raw,cache=none,aio=threads",
        "-netdev", f"user,id=mgmt,hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22",
        "-device", f"virtio-net-pci,netdev=mgmt,mac={MGMT_MAC.format(spec.index)}",
        "-netdev", f"socket,id=link,udp=127.0.0.1:{spec.peer_link_port},localaddr=127.0.0.1:{spec.link_port}",
        "-device", f"virtio-net-pci,netdev=link,mac={LINK_MAC.format(spec.index)}",
        "-display", "none", "-chardev", f"file,id=console,path={spec.console},append=on",
        "-serial", "chardev:console", "-monitor", f"unix:{spec.monitor},server,nowait",
        "-pidfile", str(spec.pidfile), "-daemonize",
    ] + (["-incoming", f"exec:cat {resume}"] if resume else [])


def pid(spec: MachineSpec) -> Optional[int]:
    """The running QEMU of this VM, checked against /proc (a stale pidfile is no VM)."""
    try:
        value = int(spec.pidfile.read_text().split()[0])
        with open(f"/proc/{value}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{value}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if state == "Z" or f"bhvm-{spec.name}".encode() not in cmdline or str(spec.dir).encode() not in cmdline:
        return None
    return value


def start(spec: MachineSpec, image: Image, resume: Optional[Path] = None) -> None:
    """Power on: QEMU daemonizes once the VM exists (the guest then boots on its own, or
    continues from `resume`, a state saved by :func:`save_state`)."""
    if pid(spec) is not None:
        return
    spec.pidfile.unlink(missing_ok=True)
    spec.monitor.unlink(missing_ok=True)
    with open(spec.console, "ab") as log:
        log.write(f"\n==== power on {time.strftime('%H:%M:%S')} ====\n".encode())
    run(command(spec, image, resume), timeout=60)
    if resume:
        _continue_after_load(spec)


def _continue_after_load(spec: MachineSpec, timeout: float = 120) -> None:
    """The saved state is of a stopped VM: wait until it is loaded, then let it run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = monitor(spec, "info status")
        if "VM status: running" in status:
            return
        if "VM status: paused" in status and "inmigrate" not in status:
            monitor(spec, "cont")
        time.sleep(0.3)
    raise LabError(f"{spec.name}: the saved state did not load in {timeout:g}s")


def kill(spec: MachineSpec, timeout: float = 10) -> bool:
    """Power off at once (SIGKILL: no guest shutdown, no flush of its caches). True if it was on."""
    value = pid(spec)
    if value is None:
        return False
    try:
        os.kill(value, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{value}").exists():
        time.sleep(0.05)
    spec.pidfile.unlink(missing_ok=True)
    return True


def monitor(spec: MachineSpec, line: str, timeout: float = 5) -> str:
    """One human-monitor command through the VM's monitor socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(spec.monitor))
        except OSError as exc:
            raise LabError(f"{spec.name}: QEMU monitor unreachable ({exc})")
        out = b""
        deadline = time.monotonic() + timeout
        sock.sendall(line.encode() + b"\n")
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if out.count(b"(qemu)") >= 2:
                break
    return out.decode(errors="replace")


def save_state(spec: MachineSpec, target: Path, timeout: float = 300) -> None:
    """Stop the VM and write its RAM and device state to `target` (QEMU migration to a file)."""
    monitor(spec, "stop")
    monitor(spec, f'migrate -d "exec:cat > {target}"')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = monitor(spec, "info migrate")
        if "Migration status: completed" in info:
            return
        if "Migration status: failed" in info:
            raise LabError(f"{spec.name}: saving its state failed: {info.strip()[-200:]}")
        time.sleep(0.5)
    raise LabError(f"{spec.name}: saving its state took longer than {timeout:g}s")


def set_link(spec: MachineSpec, up: bool) -> None:
    """Plug or pull the cluster/replication cable (the guest sees the carrier change)."""
    if pid(spec) is None:
        return
    monitor(spec, f"set_link link {'on' if up else 'off'}")


def save(specs: List[MachineSpec], path: Path) -> None:
    path.write_text(json.dumps([asdict(s) for s in specs], indent=1))


def load(path: Path) -> List[MachineSpec]:
    return [MachineSpec(**d) for d in json.loads(path.read_text())]
