# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's resources are `bacula-ha render ARCH` with lab values, plus documented overrides.

The cluster that really fences and fails over must run the configuration users
paste: same resource ids, same groups, same colocations and orders. Only what
cannot exist here or would make the lab too slow differs, and each such
difference is one entry of OVERRIDES (what, and why); tests/test_lab_rendered.py
proves that nothing else differs from the shipped snippet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

from ..admin.render import crm
from ..admin.render.architectures import BUILDERS
from ..admin.render.model import Clone, Config, Group, Location, Op, Primitive
from ..admin.render.values import resolve
from .layout import HAPROXY_PORT, VIP, Layout


@dataclass(frozen=True)
class Override:
    what: str
    why: str


OVERRIDES: Tuple[Override, ...] = (
    Override("fencing: the snippet's fence devices, their locations and the cluster properties are "
             "replaced by the lab's (cluster.base_crm: one stonith:fence_bhlab device on the virtual PDU)",
             "there are no BMCs, SBD disks or hypervisors here; the PDU really powers a node off"),
    Override("rsc_defaults failure-timeout=0 (snippet: 10min), from cluster.base_crm",
             "a fault test counts failures; forgetting them mid-test would change the outcome"),
    Override("monitor intervals shorter (MONITORS below)",
             "a lab run measures detection in seconds, not minutes"),
    Override("drbd: ocf:linbit:drbd is ocf:pacemaker:Stateful, clone-max is the lab's node count",
             "no DRBD kernel module here: a loop device seen by every node stands in for the replicated "
             "disk, so three nodes can run it too"),
    Override("bacula-director: address=127.0.0.1 and a console configuration outside the shared disk",
             "the checks must not depend on the VIP, and the lab keeps its secrets in one directory"),
    Override("bacula-catalog-check: write_check=true, connect_timeout=3",
             "short timeouts keep fault tests short"),
    Override("drbd: the Filesystem device is the lab's loop device (snippet: /dev/drbd0)",
             "it stands in for the DRBD device, see above"),
    Override("pgsql: logfile in /var/log/postgresql",
             "each node's log directory is private and collected after a failed run"),
    Override("bacula-config-pull: cache_dir (node-private) and fetch_timeout=10",
             "every lab node shares one root file system; the private cache keeps nodes independent"),
)

#: (primitive id, op name, role or check level) -> lab interval
MONITORS: Dict[Tuple[str, str], str] = {
    ("p_director", "0"): "5s", ("p_director", "10"): "15s",
    ("p_pgsql", ""): "3s", ("p_fs", ""): "10s", ("p_vip", ""): "5s",
    ("p_drbd", "Promoted"): "5s", ("p_drbd", "Unpromoted"): "6s",
    ("p_pgsql", "Promoted"): "5s", ("p_pgsql", "Unpromoted"): "6s", ("p_vip_repl", ""): "5s",
    ("p_config_pull", "Promoted"): "9s", ("p_config_pull", "Unpromoted"): "10s",
}


@dataclass
class LabSite:
    """What the lab knows about itself that a site's values file would say."""
    nodes: List[str]
    values: Dict[str, str]                    # bacula-ha render keys
    params: Dict[str, Dict[str, str]]         # primitive id -> extra/replaced parameters


def _monitor_key(op: Op) -> str:
    if op.role:
        return op.role
    if op.check_level is not None:
        return str(op.check_level)
    return ""


def _override_primitive(p: Primitive, site: LabSite) -> Primitive:
    ops = []
    for op in p.ops:
        if op.name == "monitor":
            key = _monitor_key(op)
            interval = MONITORS.get((p.id, key)) or MONITORS.get((p.id, "0" if key == "" else key))
            if interval:
                op = replace(op, interval=interval)
        ops.append(op)
    params = dict(p.params)
    params.update(site.params.get(p.id, {}))
    agent = p.agent
    if p.agent == "ocf:linbit:drbd":
        agent, params = "ocf:pacemaker:Stateful", {}
        ops = [op for op in ops if op.name != "notify"]
    return replace(p, agent=agent, params=tuple(params.items()), ops=tuple(ops))


def lab_config(arch: str, site: LabSite) -> Config:
    """The rendered Config with OVERRIDES applied (fencing and cluster-wide settings left out:
    cluster.base_crm provides the lab's)."""
    render_nodes = site.nodes[:2] if arch == "drbd" else site.nodes
    values = {"nodes": ",".join(render_nodes), "vip": VIP, "vip_cidr": "24", "vip_nic": "eth0",
              "fencing": "sbd", "sbd_devices": "/dev/lab-has-no-sbd", **site.values}
    config = BUILDERS[arch](resolve(arch, values))
    n = len(site.nodes)
    resources = []
    for res in config.resources:
        if isinstance(res, Primitive) and res.is_stonith:
            continue
        if isinstance(res, Primitive):
            res = _override_primitive(res, site)
        elif isinstance(res, Clone):
            meta = tuple((k, str(n) if k == "clone-max" else v) for k, v in res.meta
                         if not (res.child.agent == "ocf:linbit:drbd" and k == "notify"))
            res = replace(res, child=_override_primitive(res.child, site), meta=meta)
        elif isinstance(res, Group):
            res = replace(res, members=[_override_primitive(m, site) for m in res.members])
        resources.append(res)
    constraints = [c for c in config.constraints
                   if not (isinstance(c, Location) and c.rsc.startswith("fence_"))]
    return Config(config.title, header=[f"bacula-ha render {arch} with lab values and the overrides of "
                                        "bacula_ha.lab.rendered.OVERRIDES"],
                  resources=resources, constraints=constraints)


def lab_crm(arch: str, site: LabSite) -> str:
    return crm.emit(lab_config(arch, site))


def primitive_ids(config: Config) -> List[str]:
    """Every resource id in load order (primitives, clones, groups)."""
    ids: List[str] = []
    for res in config.resources:
        if isinstance(res, Primitive):
            ids.append(res.id)
        elif isinstance(res, Clone):
            ids += [res.child.id, res.id]
        elif isinstance(res, Group):
            ids += [m.id for m in res.members] + [res.id]
    return ids


def find_primitive(config: Config, rid: str) -> Optional[Primitive]:
    for res in config.resources:
        for p in ([res] if isinstance(res, Primitive) else [res.child] if isinstance(res, Clone)
                  else res.members):
            if p.id == rid:
                return p
    return None


# -- the lab's values per architecture -------------------------------------------------------------

def drbd_site(layout: Layout, nodes: List[str], device: str) -> LabSite:
    """The shared disk holds the catalog and the Director's files (the snippet's layout)."""
    mnt = str(layout.mountpoint)
    etc = layout.etc
    return LabSite(nodes, {
        "drbd_device": "/dev/drbd0", "mount_point": mnt, "pgdata": f"{mnt}/pgdata",
        "pg_config": f"{mnt}/pgdata/postgresql.conf", "pg_socketdir": "/run/postgresql",
        "catalog_passfile": str(etc / "pgpass"), "console_config": str(etc / "bconsole-local.conf"),
    }, {
        "p_fs": {"device": device},
        "p_pgsql": {"logfile": "/var/log/postgresql/pgsql.log"},
        "p_catalog_check": {"write_check": "true", "connect_timeout": "3"},
        "p_director": {"address": "127.0.0.1"},
    })


def git_site(layout: Layout, nodes: List[str], url: str) -> LabSite:
    etc, local = layout.etc, layout.local
    return LabSite(nodes, {
        "git_repository": url, "config_dir": str(local / "etc"), "allowed_signers": str(etc / "allowed_signers"),
        # HAProxy on every node, towards the Patroni primary (lab/patroni.py)
        "catalog_host": "127.0.0.1", "catalog_port": str(HAPROXY_PORT), "catalog_sslmode": "disable",
        "catalog_passfile": str(etc / "pgpass"), "console_config": str(etc / "bconsole-local.conf"),
    }, {
        "p_config_pull": {"cache_dir": str(local / "cache"), "fetch_timeout": "10"},
        "p_catalog_check": {"write_check": "true", "connect_timeout": "3"},
        "p_director": {"address": "127.0.0.1"},
    })


def streaming_site(layout: Layout, nodes: List[str], url: str, repl_vip: str) -> LabSite:
    """Each node's own PostgreSQL under the node-private `local` directory."""
    etc, local = layout.etc, layout.local
    return LabSite(nodes, {
        "repl_vip": repl_vip, "pgdata": str(local / "pgdata"), "pg_config": str(local / "pgdata" / "postgresql.conf"),
        "pg_socketdir": "/run/postgresql", "git_repository": url, "config_dir": str(local / "etc"),
        "allowed_signers": str(etc / "allowed_signers"), "catalog_passfile": str(etc / "pgpass"),
        "console_config": str(etc / "bconsole-local.conf"),
    }, {
        "p_config_pull": {"cache_dir": str(local / "cache"), "fetch_timeout": "10"},
        "p_catalog_check": {"write_check": "true", "connect_timeout": "3"},
        "p_director": {"address": "127.0.0.1"},
    })
