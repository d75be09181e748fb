# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab: two QEMU virtual machines with real DRBD, corosync and Pacemaker (`--machines vm`).

What is real here: the Linux kernels (Debian 12's, one per VM), DRBD 8.4
replicating over a network link between the VMs (protocol C), corosync,
Pacemaker, ocf:linbit:drbd, Filesystem, pgsql, PostgreSQL, bacula-dir and our
agents, all from Debian packages inside the image, and the power cuts (the
QEMU process is killed).  Emulated: the hardware (QEMU, usually without KVM),
the PDU (a daemon on the host instead of a power strip) and the network
(QEMU's user network for management and a UDP socket pair as the cable).

State lives in the lab's directory (vm.json, machines.json, overlays, logs),
so `up`, `fail`, `status` and `down` can be separate commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .. import backups, pdu
from ..cluster import SEED_CIB, Status, parse_crm_mon
from ..dirconf import LabDirectorConf, console_conf, director_conf
from ..layout import LIBDIR, PYTHON, Layout, node_names
from ..sh import LabError
from . import client, config, guest, image, machine, snapshot
from .power import MACHINES, STATE, events_path, socket_path

DEFAULT_NAME = "bhvm"
#: where the rendered drbd snippet's p_director looks (config=, console_config=): on DRBD, with
#: the catalog, so the Director's configuration and working state move with it
DIRECTOR_CONF = "/srv/bacula/etc/bacula-dir.conf"
CONSOLE_CONF = "/srv/bacula/etc/bconsole.conf"
DIRECTOR_WORKDIR = "/srv/bacula/working"
DRBD_MB = 256
BOOT_TIMEOUT = 420
REQUIRED = ("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "ssh", "ssh-keygen")
#: cluster properties the lab adds to the rendered snippet (see docs/lab.md, "VM lab settings"):
#: an emulated CPU makes a guest's load average high, and Pacemaker's throttle would then run one
#: action at a time; cluster-delay bounds a stalled transition as in the namespace lab
LAB_PROPERTIES = ("load-threshold=1000%", "cluster-delay=20s", "stonith-timeout=120s")
#: under TCG, operations without a timeout of their own (a fence device's start runs the agent's
#: monitor: Python starting on an emulated CPU took more than the default 20 s)
LAB_OP_DEFAULTS_TCG = "op_defaults op-options: timeout=120s"


def lab_additions(accel: str) -> str:
    """crm lines the lab appends to the rendered snippet: LAB_PROPERTIES, and under TCG the
    operation defaults."""
    lines = ["property bacula-ha-vm-lab: " + " ".join(LAB_PROPERTIES)]
    if accel == "tcg":
        lines.append(LAB_OP_DEFAULTS_TCG)
    return "\n" + "\n".join(lines) + "\n"


REAL = ("REAL: Debian 12 kernels in two QEMU VMs, DRBD 8.4 replication between them (protocol C), "
        "corosync, Pacemaker, PostgreSQL, bacula-dir and the ocf:bacula agents inside them, power cuts "
        "(the VM's QEMU process is killed), backups and restores (bacula-fd and bacula-sd on the host, "
        "reached from the guests through QEMU's user network). EMULATED: the hardware (QEMU), the PDU "
        "(a host daemon), the cable (a UDP socket pair between the QEMU processes).")


@dataclass
class VmState:
    name: str
    root: str
    nodes: List[str]
    image_dir: str
    accel: str
    accel_why: str
    pdu_port: int
    boot_delay: float
    pdu_pid: int = 0
    secrets: Dict[str, str] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)
    client_ports: Dict[str, int] = field(default_factory=dict)   # the host's File/Storage daemon


@dataclass
class DrbdState:
    role: str = "?"
    peer_role: str = "?"
    cstate: str = "?"
    disk: str = "?"
    peer_disk: str = "?"

    def __str__(self) -> str:
        return f"{self.role}/{self.peer_role} {self.cstate} {self.disk}/{self.peer_disk}"


def parse_proc_drbd(text: str) -> DrbdState:
    """`/proc/drbd` of DRBD 8.4: ' 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----'."""
    m = re.search(r"cs:(\S+) ro:(\S+)/(\S+) ds:(\S+)/(\S+)", text)
    if not m:
        return DrbdState(cstate="Unconfigured" if "version:" in text else "?")
    return DrbdState(role=m.group(2), peer_role=m.group(3), cstate=m.group(1), disk=m.group(4),
                     peer_disk=m.group(5))


def _say(message: str) -> None:
    print(message, flush=True)


class VmLab:
    def __init__(self, name: str = DEFAULT_NAME, root: str = "/var/lib/bacula-ha-lab",
                 say: Callable[[str], None] = _say):
        self.layout = Layout(name, root)
        self.workdir = self.layout.workdir
        self.say = say
        self._state: Optional[VmState] = None

    # -- state --------------------------------------------------------------------------------
    @property
    def state(self) -> VmState:
        if self._state is None:
            try:
                self._state = VmState(**json.loads((self.workdir / STATE).read_text()))
            except (OSError, ValueError, TypeError):
                raise LabError(f"no VM lab {self.layout.name!r} is up (no {self.workdir / STATE})")
        return self._state

    def save(self) -> None:
        (self.workdir / STATE).write_text(json.dumps(asdict(self.state), indent=1))
        os.chmod(self.workdir / STATE, 0o600)   # it holds the lab's passwords

    @property
    def nodes(self) -> List[str]:
        return self.state.nodes

    def specs(self) -> Dict[str, machine.MachineSpec]:
        return {s.name: s for s in machine.load(self.workdir / MACHINES)}

    def spec(self, node: str) -> machine.MachineSpec:
        specs = self.specs()
        if node not in specs:
            raise LabError(f"no such node {node!r} (nodes: {', '.join(specs)})")
        return specs[node]

    def powered(self) -> List[str]:
        return [n for n, s in self.specs().items() if machine.pid(s) is not None]

    def pdu(self, line: str, timeout: float = 30) -> str:
        return pdu.request(self.layout, line, timeout=timeout, socket_path=socket_path(self.workdir))

    def pdu_events(self) -> List[dict]:
        try:
            return [json.loads(line) for line in events_path(self.workdir).read_text().splitlines() if line]
        except OSError:
            return []

    # -- up -----------------------------------------------------------------------------------
    def up(self, boot_delay: float = 10.0) -> VmState:
        if os.geteuid() != 0:
            raise LabError("the VM lab needs root (debootstrap, chroot, image cache in /var/cache)")
        missing = [c for c in REQUIRED if not shutil.which(c)]
        if missing:
            raise LabError(f"missing commands: {', '.join(missing)} (run `make deps`)")
        if self.workdir.exists() or self.stray_qemu():
            self.say(f"[vm] removing leftovers of an earlier VM lab {self.layout.name!r}")
            self.down(quiet=True)
        try:
            return self._up(boot_delay)
        except BaseException:
            self.say("[vm] up failed: tearing down what was built")
            if os.environ.get("BACULA_HA_LAB_LOGS"):
                self.collect_logs(Path(os.environ["BACULA_HA_LAB_LOGS"]))
            self.down(quiet=True)
            raise

    def _up(self, boot_delay: float) -> VmState:
        t0 = time.monotonic()
        self.say("[vm] " + REAL)
        t_img = time.monotonic()
        img = image.build(lambda m: self.say("[vm] " + m))
        t_img = time.monotonic() - t_img
        accel, why = machine.accelerator()
        self.say(f"[vm] accelerator: {accel.upper()} ({why})")
        names = node_names(2)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        import secrets as _secrets
        self._state = VmState(self.layout.name, self.layout.root, names, str(img.dir), accel, why,
                              machine.free_port(), boot_delay,
                              secrets={key: _secrets.token_hex(12) for key in ("db", "console", "fd", "sd")},
                              client_ports={"fd": machine.free_port(), "sd": machine.free_port()})
        self.state.timings["image_s"] = round(t_img, 1)
        ports = [machine.free_udp_port(), machine.free_udp_port()]
        specs = [machine.MachineSpec(n, i, str(self.workdir), machine.free_port(), ports[i - 1], ports[2 - i],
                                     accel) for i, n in enumerate(names, 1)]
        t_snap = time.monotonic()
        boots = snapshot.ensure(img, names, DRBD_MB, accel, lambda m: self.say("[vm] " + m))
        self.state.timings["first_boot_s"] = round(time.monotonic() - t_snap, 1)
        for spec, boot in zip(specs, boots):
            machine.create_disks(spec, img, DRBD_MB, backing=boot.disk)
        machine.save(specs, self.workdir / MACHINES)
        self.save()
        self._start_pdu()
        client.start(self.layout, self.state.secrets, self.state.client_ports)
        self.say(f"[vm] host: bacula-fd on 127.0.0.1:{self.state.client_ports['fd']}, bacula-sd on "
                 f"127.0.0.1:{self.state.client_ports['sd']} (the guests reach them at {client.HOST_FROM_GUEST})")
        t_boot = time.monotonic()
        for spec, boot in zip(specs, boots):
            machine.start(spec, img, resume=boot.state)
        self.say(f"[vm] {', '.join(names)} powered on (QEMU, {machine.MEMORY_MB} MiB, {machine.VCPUS} vCPUs each), resuming "
                 "from their cached booted state (power cycles later are real cold boots)")
        deadline = time.monotonic() + BOOT_TIMEOUT
        for spec in specs:
            guest.wait_ready(spec, max(10.0, deadline - time.monotonic()))
            guest.run(spec, f"date -s @{time.time():.3f} >/dev/null", timeout=60)   # the saved clock is old
        self.state.timings["boot_s"] = round(time.monotonic() - t_boot, 1)
        self.say(f"[vm] both VMs running in {self.state.timings['boot_s']:.0f} s; kernel "
                 f"{guest.out(specs[0], 'uname -r').strip()}")
        if not img.agents_current():
            self._push_agents(specs)
        self._configure(specs)
        t_drbd = time.monotonic()
        self._init_drbd(specs)
        self.state.timings["drbd_sync_s"] = round(time.monotonic() - t_drbd, 1)
        self.say(f"[vm] DRBD r0 ({DRBD_MB} MiB, /dev/vdb) Connected, UpToDate/UpToDate on both in "
                 f"{self.state.timings['drbd_sync_s']:.1f} s (new zeroed disks: initial sync skipped)")
        # corosync and Pacemaker start while the catalog is made: the CIB has no resource yet,
        # and both take the better part of a minute on an emulated CPU
        t_cl = time.monotonic()
        self._start_cluster(specs)
        t_cat = time.monotonic()
        self._init_catalog(specs[0])
        self.state.timings["catalog_s"] = round(time.monotonic() - t_cat, 1)
        self.say(f"[vm] catalog made in {self.state.timings['catalog_s']:.0f} s; waiting for corosync and "
                 "Pacemaker (started before it)")
        self._wait_cluster(specs)
        self.state.timings["cluster_s"] = round(time.monotonic() - t_cl, 1)
        self.say(f"[vm] corosync + Pacemaker formed {self.state.timings['cluster_s']:.1f} s after their start; "
                 "loading the rendered drbd configuration")
        t_cfg = time.monotonic()
        # one crmsh run (each costs tens of seconds of emulated CPU): the snippet, then the lab's
        # cluster properties and operation defaults
        guest.write(specs[0], "/root/bacula-ha-drbd.crm", config.crm_config(
            names, self.state.pdu_port, config.TIMEOUT_FACTOR_TCG if self.state.accel == "tcg" else 1)
            + lab_additions(self.state.accel))
        guest.run(specs[0], "crm configure load update /root/bacula-ha-drbd.crm", timeout=600)
        where = self.wait_director(timeout=900)
        self.state.timings["stack_s"] = round(time.monotonic() - t_cfg, 1)
        self.state.timings["up_s"] = round(time.monotonic() - t0, 1)
        self.save()
        self.say(f"[vm] Director stack running on {where} ({self.state.timings['stack_s']:.0f} s after "
                 f"configuration); lab up in {self.state.timings['up_s']:.0f} s")
        return self.state

    def _start_pdu(self) -> None:
        log = open(self.workdir / "pdu.log", "ab")
        env = dict(os.environ, PYTHONPATH=LIBDIR)
        proc = subprocess.Popen([PYTHON, "-m", "bacula_ha.lab.vm.power", "--workdir", str(self.workdir),
                                 "--port", str(self.state.pdu_port), "--boot-delay", str(self.state.boot_delay)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd="/")
        log.close()
        self.state.pdu_pid = proc.pid
        self.save()
        for _ in range(100):
            try:
                self.pdu("ping", timeout=2)
                return
            except (OSError, LabError):
                time.sleep(0.1)
        raise LabError(f"the PDU did not start (see {self.workdir / 'pdu.log'})")

    def _push_agents(self, specs: List[machine.MachineSpec]) -> None:
        """The checkout changed since the image was built: install its agents into the guests (the
        image's package tree stays cached; this is a file copy, not apt)."""
        import base64
        import tarfile
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "root"
            image.stage_agents(root)
            archive = Path(tmp) / "agents.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for entry in sorted(root.iterdir()):
                    tar.add(entry, arcname=entry.name)
            payload = base64.b64encode(archive.read_bytes()).decode()
        for spec in specs:
            guest.run(spec, "rm -rf /usr/lib/ocf/lib/bacula/bacula_ha && base64 -d | tar -C / -xzf - "
                            "--no-same-owner --no-overwrite-dir", input=payload, timeout=120)
        self.say("[vm] the checkout differs from the image's agents: installed this checkout's agents and "
                 "library in both guests (a file copy; packages come from the image only)")

    def _configure(self, specs: List[machine.MachineSpec]) -> None:
        """Every node: corosync, DRBD resource, seeded CIB, Director and console configuration."""
        names = [s.name for s in specs]
        sec = self.state.secrets
        files = [
            ("/etc/corosync/corosync.conf", config.corosync(self.layout.name, names, self.state.accel),
             "0644", "root:root"),
            ("/etc/drbd.d/r0.res", config.drbd_res(names), "0644", "root:root"),
            ("/var/lib/pacemaker/cib/cib.xml", SEED_CIB, "0600", "hacluster:haclient"),
            # the snippet's layout: the Director's configuration lives on /srv/bacula with the
            # catalog (written by _init_catalog); each node's own file only includes it
            ("/etc/bacula/bacula-dir.conf", f"@{DIRECTOR_CONF}\n", "0640", "root:bacula"),
            ("/etc/bacula/bconsole.conf", console_conf("127.0.0.1", sec["console"]), "0640", "root:bacula"),
            (config.PGPASS, f"*:5432:bacula:bacula:{sec['db']}\n", "0600", "root:root"),
        ]
        for spec in specs:
            guest.write_many(spec, files)

    def _init_drbd(self, specs: List[machine.MachineSpec]) -> None:
        """Metadata, up, connected; then no initial full sync: both backing disks are new files of
        zeros, identical block for block, which is the case DRBD's documented `new-current-uuid
        --clear-bitmap` is for (a full sync ran at ~0.5 MB/s on a busy host).  Resyncs after
        faults are real: tests measure them."""
        for spec in specs:
            guest.run(spec, "modprobe drbd && drbdadm -- --force create-md r0 && drbdadm up r0", timeout=300)
        self.wait_drbd(specs, lambda st: st.cstate == "Connected", timeout=300, what="connection")
        guest.run(specs[0], "drbdadm -- --clear-bitmap new-current-uuid r0", timeout=300)
        self.wait_drbd(specs, lambda st: st.cstate == "Connected" and st.disk == st.peer_disk == "UpToDate",
                       timeout=300, what="UpToDate on both")
        guest.run(specs[0], "drbdadm primary r0", timeout=300)

    def drbd_state(self, node: str) -> DrbdState:
        try:
            return parse_proc_drbd(guest.out(self.spec(node), "cat /proc/drbd 2>/dev/null; true", timeout=20))
        except LabError:
            return DrbdState()

    def wait_drbd(self, specs, good, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            last = {s.name: self.drbd_state(s.name) for s in specs}
            if all(good(st) for st in last.values()):
                return
            time.sleep(2)
        raise LabError(f"DRBD {what}: not reached in {timeout:.0f}s ({', '.join(f'{n}: {s}' for n, s in last.items())})")

    def _init_catalog(self, spec: machine.MachineSpec) -> None:
        """ext4 on /dev/drbd0 and the Bacula catalog in it, on the Primary; then back to Secondary."""
        from ..stacks import catalog_script
        self.say("[vm] making ext4 on /dev/drbd0 and the Bacula catalog on it (PostgreSQL 15, in node1)")
        import base64
        data = "/srv/bacula/postgresql/15/main"
        sec = self.state.secrets
        dirconf = director_conf(LabDirectorConf(working_dir=DIRECTOR_WORKDIR, db_address="localhost",
                                                 db_password=sec["db"], console_password=sec["console"],
                                                 backup=client.backup_set(self.layout, sec, self.state.client_ports)))
        encoded = {path: base64.b64encode(text.encode()).decode()
                   for path, text in ((DIRECTOR_CONF, dirconf),
                                      (CONSOLE_CONF, console_conf("127.0.0.1", sec["console"])))}
        guest.script(spec, f"""
mkfs.ext4 -q -F {config.DRBD_DEVICE}
mkdir -p /srv/bacula
mount {config.DRBD_DEVICE} /srv/bacula
install -d -o postgres -g postgres /srv/bacula/postgresql /srv/bacula/postgresql/15
install -d -o root -g bacula -m 0750 {Path(DIRECTOR_CONF).parent}
install -d -o bacula -g bacula -m 0750 {DIRECTOR_WORKDIR}
""" + "".join(f"echo {data64} | base64 -d > {path}; chown root:bacula {path}; chmod 0640 {path}\n"
              for path, data64 in encoded.items()) + f"""
export LAB_DB_PASSWORD='{self.state.secrets['db']}'
{catalog_script(data, '/run/postgresql', '$LAB_DB_PASSWORD')}
umount /srv/bacula
drbdadm secondary r0
""", timeout=600)

    def _start_cluster(self, specs: List[machine.MachineSpec]) -> None:
        for spec in specs:
            # enabled: a power-cycled node rejoins by itself; --no-block: starting takes long
            # under emulation, formation is what we wait for
            guest.run(spec, "systemctl enable corosync.service pacemaker.service 2>/dev/null && "
                            "systemctl start --no-block corosync.service pacemaker.service", timeout=300)

    def _wait_cluster(self, specs: List[machine.MachineSpec]) -> None:
        deadline = time.monotonic() + 600
        st = None
        while time.monotonic() < deadline:
            st = self.crm_status(specs[0].name)
            if st and st.quorum and sorted(st.online) == sorted(s.name for s in specs) and st.dc:
                return
            time.sleep(2)
        raise LabError(f"cluster did not form (online: {st.online if st else '?'})")

    # -- observing ----------------------------------------------------------------------------------
    def crm_status(self, node: str) -> Optional[Status]:
        try:
            text = guest.run(self.spec(node), "crm_mon -1 --output-as=xml", timeout=90, check=False).stdout
        except LabError:
            return None
        if not text.strip().startswith("<"):
            return None
        return parse_crm_mon(text, node)

    def crm_mon_text(self, node: str) -> str:
        return guest.run(self.spec(node), "crm_mon -1 -r", timeout=30, check=False).stdout

    def observer(self, exclude: Optional[List[str]] = None) -> Optional[str]:
        """A powered node to ask (its QEMU runs; it may still be booting)."""
        for n in self.powered():
            if n not in (exclude or []):
                return n
        return None

    def quorate_status(self, exclude: Optional[List[str]] = None) -> Optional[Status]:
        """crm_mon of a powered node whose partition has quorum, else of any that answers: a node
        fenced and rebooted while its cable is still out sees nobody and knows nothing (two_node's
        wait_for_all keeps it without quorum), so it must not be the one asked."""
        fallback = None
        for n in self.powered():
            if n in (exclude or []):
                continue
            st = self.crm_status(n)
            if st and st.quorum:
                return st
            fallback = fallback or st
        return fallback

    def director_node(self, exclude: Optional[List[str]] = None) -> Optional[str]:
        """The node where crm_mon (of a quorate node) shows p_director started and bacula-dir
        answers `version` locally."""
        st = self.quorate_status(exclude)
        where = st.running_on("p_director") if st else []
        if len(where) != 1 or where[0] in (exclude or []):
            return None
        answered = guest.ok(self.spec(where[0]),
                            "echo version | timeout 10 bconsole -c /etc/bacula/bconsole.conf | grep -q Version",
                            timeout=30)
        return where[0] if answered else None

    def wait_director(self, timeout: float, exclude: Optional[List[str]] = None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            where = self.director_node(exclude)
            if where:
                return where
            time.sleep(3)
        st = self.quorate_status(exclude)
        raise LabError(f"Director not answering after {timeout:.0f}s; failures: {st.failures if st else '?'}")

    def psql(self, node: str, sql: str, timeout: float = 30) -> str:
        """SQL as the catalog's owner over the local socket (the Primary's PostgreSQL)."""
        return guest.run(self.spec(node), "runuser -u postgres -- psql -X -q -t -A -v ON_ERROR_STOP=1 -d bacula",
                         input=sql, timeout=timeout).stdout.strip()

    def add_mark(self, node: str, label: str) -> None:
        self.psql(node, f"INSERT INTO lab_marks (label) VALUES ('{label}');")

    def has_mark(self, node: str, label: str) -> bool:
        return self.psql(node, f"SELECT count(*) FROM lab_marks WHERE label = '{label}';") == "1"

    def backups(self, node: str) -> backups.Backups:
        """Backups and restores through the Director on `node` (bconsole and psql in that guest);
        the File and Storage daemon and the restored files are on the host."""
        spec = self.spec(node)

        def console(command: str, timeout: float) -> Tuple[bool, str]:
            # bconsole's start on an emulated CPU takes seconds: never less than a minute
            limit = max(60, int(timeout))
            try:
                done = guest.run(spec, f"timeout {limit} bconsole -c /etc/bacula/bconsole.conf",
                                 input=command + "\n", timeout=limit + 60, check=False)
            except LabError as exc:
                return False, str(exc)
            return done.returncode == 0, done.stdout if done.returncode == 0 else done.stdout + done.stderr

        def sql(query: str) -> Tuple[bool, str]:
            try:
                return True, self.psql(node, query.rstrip().rstrip(";") + ";", timeout=60)
            except LabError as exc:
                return False, str(exc)

        return backups.Backups(self.layout, console, sql)

    # -- faults ---------------------------------------------------------------------------------------
    def fail(self, node: str) -> None:
        """Crash: the VM's QEMU killed (power cut); the cluster must fence and fail over."""
        machine.kill(self.spec(node))

    def partition(self, node: str) -> None:
        """Pull NODE's cluster/replication cable (corosync and DRBD lose each other)."""
        self.spec(node)
        self.pdu(f"unplug {node}")

    def heal(self) -> List[str]:
        done = []
        for n in self.nodes:
            self.pdu(f"plug {n}")
        for n in self.nodes:
            if machine.pid(self.spec(n)) is None:
                self.pdu(f"boot {n}")
                done.append(f"booted {n}")
        return done

    # -- status / down --------------------------------------------------------------------------------
    def status_text(self) -> str:
        st = self.state
        lines = [f"VM lab {self.layout.name}: {', '.join(st.nodes)}, accelerator {st.accel.upper()} "
                 f"({st.accel_why}), workdir {self.workdir}", REAL]
        for n in st.nodes:
            on = machine.pid(self.spec(n)) is not None
            lines.append(f"  {n}: {'on' if on else 'OFF'}" + (f", DRBD {self.drbd_state(n)}" if on else ""))
        if st.client_ports:
            running = len(client.pids(self.layout))
            lines.append(f"  host: bacula-fd 127.0.0.1:{st.client_ports['fd']}, bacula-sd 127.0.0.1:"
                         f"{st.client_ports['sd']} ({running} of 2 running)")
        obs = self.observer()
        if obs:
            lines.append(f"--- crm_mon on {obs} ---")
            lines.append(self.crm_mon_text(obs).rstrip())
        return "\n".join(lines)

    def stray_qemu(self) -> List[int]:
        """QEMU processes of this lab (their command line names the lab directory)."""
        found = []
        marker = str(self.workdir) + "/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(("qemu-system", machine.QEMU)) or "/qemu-system" in cmd.split(" ")[0]:
                if marker in cmd:
                    found.append(int(entry))
        return found

    def down(self, quiet: bool = False) -> List[str]:
        removed = []
        try:
            self.pdu("cancel", timeout=3)
        except (OSError, LabError):
            pass
        try:
            pdu_pid = json.loads((self.workdir / STATE).read_text()).get("pdu_pid", 0)
        except (OSError, ValueError):
            pdu_pid = 0
        if pdu_pid and _is_ours(pdu_pid, "bacula_ha.lab.vm.power", str(self.workdir)):
            os.kill(pdu_pid, signal.SIGKILL)
            removed.append("PDU")
        if client.stop(self.layout):
            removed.append("host File/Storage daemons")
        for pid in self.stray_qemu():
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(f"QEMU {pid}")
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.stray_qemu() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
            removed.append(f"{self.workdir} (overlays, DRBD disks, logs)")
        if not quiet:
            self.say(f"[vm] removed: {', '.join(removed) if removed else 'nothing (no VM lab)'}")
        return removed

    def collect_logs(self, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for spec in self.specs().values() if (self.workdir / MACHINES).exists() else []:
            if spec.console.exists():
                shutil.copy(spec.console, target / f"{spec.name}-console.log")
            if machine.pid(spec) is not None:
                for path in ("/var/log/pacemaker/pacemaker.log", "/var/log/corosync/corosync.log",
                             "/var/log/pacemaker/fence_bhlab.log"):
                    try:
                        text = guest.run(spec, f"cat {path}", timeout=20, check=False).stdout
                        (target / f"{spec.name}-{Path(path).name}").write_text(text)
                    except LabError:
                        pass
        for name in ("pdu.log", "pdu-events.jsonl"):
            if (self.workdir / name).exists():
                shutil.copy(self.workdir / name, target / name)


def _is_ours(pid: int, module: str, workdir: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return module in cmd and workdir in cmd
