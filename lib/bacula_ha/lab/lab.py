# SPDX-License-Identifier: GPL-2.0-or-later
"""The Lab object behind `bacula-ha lab`: up, status, fail, partition, heal, down.

State of a running lab lives in its workdir (lab.json); every command reads
it, so `up` and `fail` can be separate invocations.  `up` removes leftovers
of an earlier lab of the same name first and, if anything fails, tears down
what it built before re-raising.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from . import backups, cluster, fence, netns, node, pdu, registry
from .observe import console_request, director_nodes
from .layout import LIBDIR, PYTHON, VIP, Layout, env_for_children, node_names
from .sh import LabError, run
from .gitstack import GitStack
from .streamstack import StreamingStack
from .stacks import DrbdStack, Stack, load_secrets

OCF_AGENTS = "/usr/lib/ocf/resource.d/bacula"
REQUIRED = ("corosync", "pacemakerd", "crm", "crm_mon", "nsenter", "unshare", "losetup", "mkfs.ext4",
            "bacula-dir", "modprobe", "git")


@dataclass
class LabConfig:
    name: str
    root: str
    nodes: List[str]
    arch: str = "drbd"
    agents: str = "ours"
    boot_delay: float = 10.0
    hosts: List[str] = field(default_factory=list)
    formed_s: float = 0.0
    started_s: float = 0.0


def _say(message: str) -> None:
    print(message, flush=True)


def check_prerequisites(agents: str) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, mounts, loop devices)")
    missing = [c for c in REQUIRED if not shutil.which(c, path=env_for_children()["PATH"])]
    if missing:
        raise LabError(f"missing commands: {', '.join(missing)} (run `make deps`)")
    if agents == "ours":
        absent = [a for a in ("bacula-director", "bacula-catalog-check", "bacula-config-pull")
                  if not os.access(f"{OCF_AGENTS}/{a}", os.X_OK)]
        if absent:
            raise LabError(f"agents not installed in {OCF_AGENTS}: {', '.join(absent)} (run `make install`)")


class Lab:
    def __init__(self, layout: Layout, say: Callable[[str], None] = _say):
        self.layout = layout
        self.say = say
        self._config: Optional[LabConfig] = None

    # -- state ----------------------------------------------------------------------------
    @property
    def config(self) -> LabConfig:
        if self._config is None:
            try:
                self._config = LabConfig(**json.loads(self.layout.state_file.read_text()))
            except (OSError, ValueError, TypeError):
                raise LabError(f"no lab {self.layout.name!r} is up (no {self.layout.state_file})")
        return self._config

    def save(self) -> None:
        self.layout.state_file.write_text(json.dumps(asdict(self.config), indent=1))

    @property
    def nodes(self) -> List[str]:
        return self.config.nodes

    @property
    def stack(self) -> Stack:
        return make_stack(self.layout, self.nodes, self.config.arch, self.config.agents)

    def console_password(self) -> str:
        return load_secrets(self.layout)["console"]

    def db_password(self) -> str:
        return load_secrets(self.layout)["db"]

    def backups(self) -> "backups.Backups":
        """Run backups and restores on this lab the way a user does (through the VIP)."""
        return backups.Backups.for_namespaces(self.layout, self.console_password(), self.stack.catalog_host(),
                                              self.db_password())

    def powered(self) -> List[str]:
        return [n for n in self.nodes if node.init_pid(self.layout, n)]

    # -- up -------------------------------------------------------------------------------
    def up(self, count: int = 2, arch: str = "drbd", agents: str = "ours", boot_delay: float = 10.0,
           timeout: float = 180) -> LabConfig:
        check_prerequisites(agents)
        if registry.lab_namespaces(self.layout) or self.layout.workdir.exists():
            self.say(f"removing leftovers of an earlier lab {self.layout.name!r}")
            registry.teardown(self.layout)
        try:
            return self._up(count, arch, agents, boot_delay, timeout)
        except BaseException:
            self.say("lab up failed: tearing down what was built")
            if os.environ.get("BACULA_HA_LAB_LOGS"):
                self.collect_logs(Path(os.environ["BACULA_HA_LAB_LOGS"]))
            self.down(quiet=True)
            raise

    def _up(self, count: int, arch: str, agents: str, boot_delay: float, timeout: float) -> LabConfig:
        layout = self.layout
        t0 = time.monotonic()
        names = node_names(count)
        layout.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.root, 0o755)
        os.chmod(layout.workdir, 0o755)
        registry.Registry(layout).add("netns", layout.switch_ns)
        self._config = LabConfig(layout.name, layout.root, names, arch, agents, boot_delay)
        stack = self.stack
        self.config.hosts = list(stack.hosts) + [backups.CLIENT]   # FD and SD: every architecture
        self.save()
        self.say(f"[lab] {count} nodes, architecture {arch}, agents {agents}, workdir {layout.workdir}")
        if arch == "drbd":
            self.say("[lab] NOTE: no DRBD here: a shared loop device with ext4 stands in for DRBD "
                     "(one copy of the data, seen by every node; ocf:pacemaker:Stateful stands in "
                     "for DRBD's promotion)")
        fence.write_executable(layout.fence_bin, LIBDIR)
        (layout.workdir / "hosts").write_text(cluster.hosts_file(names))
        layout.local.mkdir(exist_ok=True)
        netns.create_switch(layout)
        for n in names:
            node.prepare_node_dirs(layout, n)
            node.write_node_spec(layout, n, stack.node_services(n))
            netns.create_host_netns(layout, n)
        cluster.write_node_config(layout, names)
        for h in self.config.hosts:
            netns.create_host_netns(layout, h)
        self.say("[lab] preparing data: " + ("shared disk, PostgreSQL catalog" if arch == "drbd"
                                             else "catalog host, Git server, configuration repository"))
        stack.prepare()
        self.say("[lab] client host: File and Storage daemon, data to back up")
        backups.prepare(layout, load_secrets(layout))
        self._start_pdu()
        for h in self.config.hosts:
            pdu.request(layout, f"boot {h}")
        if stack.hosts:
            stack.wait_hosts(timeout=60)
        backups.wait(layout, timeout=60)
        t_boot = time.monotonic()
        for n in names:
            pdu.request(layout, f"boot {n}")
        self.say(f"[lab] booted {', '.join(names)}; waiting for the cluster to form")
        self.wait_formed(timeout=60)
        self.config.formed_s = round(time.monotonic() - t_boot, 1)
        self.say(f"[lab] cluster formed in {self.config.formed_s:.1f} s "
                 f"(all {count} nodes online, quorum)")
        t_cfg = time.monotonic()
        cluster.crm_load(layout, names[0], cluster.base_crm(names) + stack.crm())
        self.say("[lab] resources configured; waiting for the Director to answer through the VIP")
        where = self.wait_director(timeout=max(30.0, timeout - (time.monotonic() - t0)))
        self.config.started_s = round(time.monotonic() - t_cfg, 1)
        self.save()
        self.say(f"[lab] stack running on {where}; Director answers at {VIP}:9101 "
                 f"({self.config.started_s:.1f} s after configuration, {time.monotonic() - t0:.1f} s total)")
        return self.config

    def _start_pdu(self) -> None:
        layout = self.layout
        log = open(layout.workdir / "pdu.log", "ab")
        env = env_for_children()
        subprocess.Popen(netns.netns_exec(layout, "sw") + [PYTHON, "-S", "-m", "bacula_ha.lab.pdu",
                                                           "--root", layout.root, "--name", layout.name,
                                                           "--boot-delay", str(self.config.boot_delay)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True, cwd="/")
        log.close()
        for _ in range(100):
            try:
                pdu.request(layout, "ping", timeout=2)
                return
            except (OSError, LabError):
                time.sleep(0.1)
        raise LabError(f"the PDU did not start (see {layout.workdir / 'pdu.log'})")

    # -- waiting ----------------------------------------------------------------------------
    def observer(self, exclude: Optional[List[str]] = None) -> Optional[str]:
        """A powered-on node to ask crm_mon (not one of `exclude`)."""
        for n in self.powered():
            if n not in (exclude or []):
                return n
        return None

    def status_from(self, n: str) -> Optional[cluster.Status]:
        try:
            return cluster.crm_mon(self.layout, n)
        except LabError:
            return None

    def wait_formed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            st = self.status_from(self.nodes[0])
            if st and st.quorum and sorted(st.online) == sorted(self.nodes) and st.dc:
                return
            last = st
            time.sleep(0.3)
        raise LabError(f"cluster did not form in {timeout:.0f}s (online: {last.online if last else '?'})")

    def wait_director(self, timeout: float, exclude: Optional[List[str]] = None) -> str:
        """Wait until the Director answers a console request through the VIP; return its node."""
        deadline = time.monotonic() + timeout
        reason = "?"
        while time.monotonic() < deadline:
            running = director_nodes(self.layout, self.nodes)
            if len(running) == 1 and running[0] not in (exclude or []):
                ok, out = console_request(self.layout, self.console_password(), "version", timeout=5)
                if ok:
                    return running[0]
                reason = out
            else:
                reason = f"Director processes on {running or 'no node'}"
            time.sleep(0.3)
        obs = self.observer()
        failures = self.status_from(obs).failures if obs else []
        raise LabError(f"Director not answering after {timeout:.0f}s: {reason}; failures: {failures}")

    # -- faults and repairs ---------------------------------------------------------------------
    def fail(self, n: str) -> None:
        """Crash: power and network gone at once (the cluster fences and reboots it)."""
        self._check_node(n)
        pdu.request(self.layout, f"off {n}")

    def partition(self, n: str) -> None:
        self._check_node(n)
        pdu.request(self.layout, f"unplug {n}")

    def heal(self) -> List[str]:
        """Plug every cable, power on nodes that are off (now), clear failure records."""
        done = []
        for n in self.nodes + self.config.hosts:
            pdu.request(self.layout, f"plug {n}")
        for n in self.nodes + self.config.hosts:
            if not node.init_pid(self.layout, n):
                pdu.request(self.layout, f"boot {n}")
                done.append(f"booted {n}")
        return done

    def cleanup_failures(self) -> None:
        obs = self.observer()
        if obs:
            run(node.enter(self.layout, obs) + ["crm_resource", "--cleanup"], timeout=60, check=False)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the cluster has nothing left to do (`crm_resource --wait`); False if it still
        had after `timeout`. A cleanup deletes resource history: the transition that re-probes
        (and may restart what depends on it) is only computed after crm_mon already looks clean."""
        obs = self.observer()
        if not obs:
            return False
        seconds = max(1, int(timeout))
        return run(node.enter(self.layout, obs) + ["crm_resource", "--wait", f"--timeout={seconds}s"],
                   timeout=seconds + 15, check=False).returncode == 0

    def _check_node(self, n: str) -> None:
        if n not in self.nodes + self.config.hosts:
            raise LabError(f"no such node {n!r} (nodes: {', '.join(self.nodes + self.config.hosts)})")

    # -- status / down ----------------------------------------------------------------------------
    def status_text(self) -> str:
        lines = [f"lab {self.layout.name}: {len(self.nodes)} nodes, arch {self.config.arch}, "
                 f"agents {self.config.agents}, workdir {self.layout.workdir}"]
        for n in self.nodes + self.config.hosts:
            lines.append(f"  {n}: {'on' if node.init_pid(self.layout, n) else 'OFF'}")
        lines.append(f"  Director processes: {director_nodes(self.layout, self.nodes) or 'none'}")
        obs = self.observer()
        if obs:
            lines.append(f"--- crm_mon on {obs} ---")
            lines.append(cluster.crm_mon_text(self.layout, obs).rstrip())
        return "\n".join(lines)

    def down(self, quiet: bool = False, keep_logs: Optional[Path] = None) -> List[str]:
        if keep_logs and self.layout.workdir.exists():
            self.collect_logs(keep_logs)
        try:
            pdu.request(self.layout, "cancel", timeout=3)
        except (OSError, LabError):
            pass
        removed = registry.teardown(self.layout)
        if not quiet:
            self.say(f"[lab] removed: {', '.join(removed) if removed else 'nothing (no lab)'}")
        return removed

    def collect_logs(self, target: Path) -> None:
        """Copy node logs (pacemaker, corosync, console, pdu) for a post-mortem."""
        target.mkdir(parents=True, exist_ok=True)
        for n in self.layout.workdir.glob("nodes/*"):
            dest = target / n.name
            for rel in ("console.log", "root/var/log/pacemaker/pacemaker.log",
                        "root/var/log/corosync/corosync.log", "root/var/log/postgresql/pgsql.log",
                        "root/var/log/pacemaker/fence_bhlab.log"):
                src = n / rel
                if src.exists():
                    dest.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, dest / src.name)
        for name in ("pdu.log", "pdu-events.jsonl", "cluster.crm"):
            if (self.layout.workdir / name).exists():
                shutil.copy(self.layout.workdir / name, target / name)


#: lab architecture -> the Stack that builds it (one place lists them all)
STACKS = {"drbd": DrbdStack, "git": GitStack, "streaming": StreamingStack}


def make_stack(layout: Layout, nodes: List[str], arch: str, agents: str) -> Stack:
    try:
        return STACKS[arch](layout, nodes, agents)
    except KeyError:
        raise LabError(f"unknown architecture {arch}") from None
