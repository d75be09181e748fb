# SPDX-License-Identifier: GPL-2.0-or-later
"""Names, addresses and paths of one lab: every other module asks here.

Only TEST-NET-2 (198.51.100.0/24) is used, and only inside the lab's own
network namespaces; the machine's own networks are never touched.  Several
labs can exist at once: everything is prefixed with the lab name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List

SUBNET = "198.51.100"
PREFIXLEN = 24
SWITCH_IP = f"{SUBNET}.254"     # the bridge: PDU and test clients live here
VIP = f"{SUBNET}.100"
DB_HOST_IP = f"{SUBNET}.20"     # a single-PostgreSQL catalog host (no architecture uses it today)
GIT_HOST_IP = f"{SUBNET}.21"    # git arch: the Git server host
CLIENT_HOST_IP = f"{SUBNET}.22"  # every arch: the File and Storage daemon host (lab/backups.py)
PG1_HOST_IP = f"{SUBNET}.23"    # git arch: Patroni + PostgreSQL, first catalog member (lab/patroni.py)
PG2_HOST_IP = f"{SUBNET}.24"    # git arch: Patroni + PostgreSQL, second catalog member
ETCD_HOST_IP = f"{SUBNET}.25"   # git arch: etcd, Patroni's DCS
MEMBER_IPS = (PG1_HOST_IP, PG2_HOST_IP)
PDU_PORT = 7777
DIR_PORT = 9101
PG_PORT = 5432
HAPROXY_PORT = 5000              # git arch: HAProxy on each node (127.0.0.1) towards the Patroni primary

DEFAULT_NAME = "bhlab"
DEFAULT_ROOT = "/var/lib/bacula-ha-lab"   # not under /run: each node mounts its own /run

#: the library directory holding the bacula_ha package (checkout or installed)
LIBDIR = str(Path(__file__).resolve().parents[2])
PYTHON = "/usr/bin/python3"


def node_names(count: int) -> List[str]:
    return [f"node{i}" for i in range(1, count + 1)]


def node_ip(node: str) -> str:
    """node1 -> 198.51.100.11, ...; lab hosts have fixed addresses."""
    fixed = {"db": DB_HOST_IP, "git": GIT_HOST_IP, "client": CLIENT_HOST_IP, "pg1": PG1_HOST_IP,
             "pg2": PG2_HOST_IP, "etcd": ETCD_HOST_IP}
    if node in fixed:
        return fixed[node]
    return f"{SUBNET}.{10 + int(node[4:])}"


@dataclass(frozen=True)
class Layout:
    """Where one lab keeps its state.  `workdir` is created by `up`."""

    name: str = DEFAULT_NAME
    root: str = DEFAULT_ROOT

    @property
    def workdir(self) -> Path:
        return Path(self.root) / self.name

    def netns(self, host: str) -> str:
        return f"{self.name}-{host}"

    @property
    def switch_ns(self) -> str:
        return self.netns("sw")

    @property
    def state_file(self) -> Path:
        return self.workdir / "lab.json"

    @property
    def registry_file(self) -> Path:
        # Next to the workdir, so a half-removed workdir still tells down what to clean.
        return Path(self.root) / f"{self.name}.registry.json"

    @property
    def pdu_socket(self) -> Path:
        return self.workdir / "pdu.sock"

    @property
    def pdu_events(self) -> Path:
        return self.workdir / "pdu-events.jsonl"

    @property
    def fence_bin(self) -> Path:
        return self.workdir / "fence-bin"

    @property
    def etc(self) -> Path:
        """Files shared by all nodes (Director config, console config, passfiles)."""
        return self.workdir / "etc"

    @property
    def disk_image(self) -> Path:
        return self.workdir / "shared-disk.img"

    @property
    def mountpoint(self) -> Path:
        """Where the shared disk is mounted, inside the active node only."""
        return self.workdir / "shared"

    @property
    def local(self) -> Path:
        """A path that each node sees as its own private directory (bind mount)."""
        return self.workdir / "local"

    def node_dir(self, node: str) -> Path:
        return self.workdir / "nodes" / node

    def log_dir(self) -> Path:
        return self.workdir / "logs"


def env_for_children() -> dict:
    """A clean environment for daemons: no pyenv, no inherited Python settings."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONPATH": LIBDIR,
    }
