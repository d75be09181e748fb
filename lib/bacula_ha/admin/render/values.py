# SPDX-License-Identifier: GPL-2.0-or-later
"""Site values for `bacula-ha render`: declaration, file format, validation.

The values file is plain `key = value` lines (an optional `[bacula-ha]`
section header, `#` or `;` comments); no YAML, nothing to install. Site
specific keys (nodes, VIP, devices, fencing) have no default: a rendered
configuration never silently carries an example address. `--example` fills
them with the documented example values the shipped snippets use.
Per-node keys are written `key.NODE` (e.g. `ipmi_address.node1 = ...`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import validators as checks

ARCHITECTURES = ("drbd", "git", "shared", "streaming", "dfs")
DIRECTOR, CATALOG, CONFIG_PULL = "bacula-director", "bacula-catalog-check", "bacula-config-pull"
FENCING = ("ipmilan", "sbd", "virsh")
ALL = frozenset(ARCHITECTURES)
#: catalog and Director files on one file system that follows the Director (DRBD, SAN/NFS)
LOCAL = frozenset(("drbd", "shared"))
#: the Director's files on a mounted file system (LOCAL, or a distributed one on every node)
MOUNTED = LOCAL | {"dfs"}
#: PostgreSQL run by this cluster (LOCAL: one instance that moves; streaming: one per node)
OWN_PG = LOCAL | {"streaming"}
#: the catalog is someone else's HA service
EXTERNAL = frozenset(("git", "dfs"))
#: the Director configuration comes from Git through bacula-config-pull
GIT = frozenset(("git", "streaming"))
#: distributed file systems the dfs architecture mounts on every node at once
DFS_TYPES = ("glusterfs", "ceph", "nfs4", "nfs")


class RenderError(ValueError):
    """Invalid or missing site values; `problems` lists every one found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Field:
    key: str
    help: str
    check: Callable[[str], str] = checks.plain
    default: Optional[str] = None        # None: site value, required
    example: Optional[str] = None        # the documented example (shipped snippets)
    arches: frozenset = ALL
    fencing: Optional[str] = None        # only needed with this fencing method
    per_node: bool = False               # written key.NODE
    param: Optional[Tuple[str, str]] = None   # (agent, parameter) the value becomes: its checks apply

    def applies(self, arch: str, fencing: str) -> bool:
        return arch in self.arches and (self.fencing is None or self.fencing == fencing)


FIELDS: Tuple[Field, ...] = (
    Field("nodes", "cluster node names as corosync knows them, comma separated (drbd: exactly 2)",
          checks.plain, example="node1,node2"),
    Field("vip", "IPv4 or IPv6 address clients and File/Storage daemons use for the Director",
          checks.ip_host, example="192.0.2.10"),
    Field("vip_cidr", "prefix length of the VIP's network", checks.cidr, example="24"),
    Field("vip_nic", "interface for the VIP (empty: the one whose network contains it)",
          checks.iface, default=""),
    Field("fencing", "fencing method: " + ", ".join(FENCING), checks.choice(*FENCING), default="ipmilan"),
    Field("ipmi_address", "BMC address of each node (ipmi_address.NODE)", checks.host,
          fencing="ipmilan", per_node=True),
    Field("ipmi_user", "BMC user", checks.name, example="fence", fencing="ipmilan"),
    Field("ipmi_password_script", "script printing the BMC password (keeps it out of the CIB)",
          checks.abs_path, example="/etc/bacula-ha/ipmi-password", fencing="ipmilan"),
    Field("ipmi_lanplus", "use IPMI v2.0 lanplus", checks.boolean, default="true", fencing="ipmilan"),
    Field("sbd_devices", "shared SBD disk(s), comma separated, 1 to 3", checks.plain,
          example="/dev/disk/by-id/wwn-0x6001405abcdef0123456789abcdef012", fencing="sbd"),
    Field("virsh_host", "hypervisor that runs the node VMs (fence_virsh logs in there)", checks.host,
          example="192.0.2.1", fencing="virsh"),
    Field("virsh_user", "user on the hypervisor", checks.name, default="root", fencing="virsh"),
    Field("virsh_identity_file", "SSH key for the hypervisor", checks.abs_path,
          default="/root/.ssh/id_rsa", fencing="virsh"),
    Field("virsh_domain", "libvirt domain of each node (virsh_domain.NODE; default: the node name)",
          checks.name, default="", fencing="virsh", per_node=True),
    Field("fence_delay", "two-node fencing race: priority (priority-fencing-delay, the node running "
          "the Director wins) or random (pcmk_delay_max)", checks.choice("priority", "random"),
          default="priority"),
    Field("fence_delay_seconds", "the delay", checks.integer(1, 600), default="15"),
    Field("stickiness", "resource-stickiness (avoid moving back after recovery)", checks.score,
          default="100"),
    Field("migration_threshold", "failures on one node before the group moves", checks.integer(1, 1000),
          default="3"),
    Field("failure_timeout", "forget failures after this long", checks.duration, default="10min"),
    Field("director_config", "bacula-dir.conf on the replicated/shared/distributed file system "
          "(empty: MOUNT_POINT/etc/bacula-dir.conf)", checks.optional_path, default="", arches=MOUNTED,
          param=(DIRECTOR, "config")),
    Field("console_config", "bconsole.conf used for the Director's deep monitor (empty: "
          "MOUNT_POINT/etc/bconsole.conf for drbd/shared/dfs, /etc/bacula/bconsole.conf otherwise)",
          checks.optional_path, default="", param=(DIRECTOR, "console_config")),
    Field("catalog_dbname", "catalog database", checks.name, default="bacula", param=(CATALOG, "dbname")),
    Field("catalog_user", "catalog user the checks connect as", checks.name, default="bacula",
          param=(CATALOG, "user")),
    Field("catalog_passfile", "libpq password file for the checks (empty: none)", checks.optional_path,
          default="", param=(CATALOG, "passfile")),
    Field("catalog_port", "PostgreSQL port", checks.integer(1, 65535), default="5432", param=(CATALOG, "port")),
    Field("catalog_host", "external catalog server (git, dfs), or 127.0.0.1: a proxy on every node",
          checks.catalog_address, example="catalog.example.net",
          arches=EXTERNAL, param=(CATALOG, "host")),
    Field("catalog_sslmode", "libpq sslmode for the external catalog", checks.plain,
          default="verify-full", arches=EXTERNAL, param=(CATALOG, "sslmode")),
    Field("pg_socketdir", "PostgreSQL socket directory", checks.abs_path, default="/var/run/postgresql",
          arches=OWN_PG, param=(CATALOG, "host")),
    Field("drbd_resource", "DRBD resource name (drbd.conf)", checks.name, default="r0",
          arches=frozenset(("drbd",))),
    Field("drbd_device", "DRBD device", checks.drbd_device, example="/dev/drbd0",
          arches=frozenset(("drbd",))),
    Field("fs_device", "shared LUN (/dev/disk/by-id/...) or NFS export (server:/path)", checks.plain,
          example="/dev/disk/by-id/wwn-0x600a0b80005ad1d70000025b4f5d3c1e-part1",
          arches=frozenset(("shared",))),
    Field("fstype", "file system type (drbd: ext4/xfs; shared: ext4/xfs/nfs/nfs4)",
          checks.choice("ext4", "xfs", "nfs", "nfs4"), default="ext4", arches=LOCAL),
    Field("fs_options", "mount options (empty: none)", checks.word, default="", arches=LOCAL),
    Field("dfs_device", "distributed file system to mount on every node (glusterfs server:/volume, "
          "ceph mon1,mon2:/path, nfs server:/path)", checks.word, example="gluster.example.net:/bacula",
          arches=frozenset(("dfs",))),
    Field("dfs_fstype", "distributed file system type: " + ", ".join(DFS_TYPES), checks.choice(*DFS_TYPES),
          default="glusterfs", arches=frozenset(("dfs",))),
    Field("dfs_options", "mount options of the distributed file system (empty: none)", checks.word,
          default="", arches=frozenset(("dfs",))),
    Field("dfs_managed", "true: Pacemaker mounts it on every node (a Filesystem clone); false: the "
          "system mounts it (fstab/systemd) before Pacemaker starts", checks.boolean, default="true",
          arches=frozenset(("dfs",))),
    Field("mount_point", "where the replicated/shared/distributed file system is mounted", checks.abs_path,
          default="/srv/bacula", arches=MOUNTED),
    Field("pg_bindir", "PostgreSQL binaries (pg_ctl, psql)", checks.abs_path,
          default="/usr/lib/postgresql/15/bin", arches=OWN_PG),
    Field("pgdata", "PostgreSQL data directory (empty: MOUNT_POINT/postgresql/15/main on drbd/shared, "
          "/var/lib/postgresql/15/main, each node's own, on streaming)", checks.optional_path, default="",
          arches=OWN_PG),
    Field("pg_config", "postgresql.conf (identical on every node)", checks.abs_path,
          default="/etc/postgresql/15/main/postgresql.conf", arches=OWN_PG),
    Field("repl_vip", "streaming: address of the PostgreSQL primary the standbys replicate from "
          "(primary_conninfo host); follows the Promoted catalog", checks.ip_host, example="192.0.2.11",
          arches=frozenset(("streaming",))),
    Field("git_repository", "configuration repository URL", checks.word,
          example="ssh://git@git.example.net/bacula/director-config.git", arches=GIT,
          param=(CONFIG_PULL, "repository")),
    Field("git_branch", "branch to deploy", checks.word, default="main", arches=GIT,
          param=(CONFIG_PULL, "branch")),
    Field("config_dir", "directory the Director reads its configuration from", checks.abs_path,
          default="/etc/bacula", arches=GIT, param=(CONFIG_PULL, "config_dir")),
    Field("main_config", "Director configuration file inside the repository", checks.word,
          default="bacula-dir.conf", arches=GIT, param=(CONFIG_PULL, "main_config")),
    Field("allowed_signers", "SSH allowed-signers file; only signed commits deploy (empty: off)",
          checks.optional_path, default="", arches=GIT, param=(CONFIG_PULL, "allowed_signers")),
    Field("ssh_key", "SSH key for ssh:// repositories (empty: none)", checks.optional_path, default="",
          arches=GIT, param=(CONFIG_PULL, "ssh_key")),
    Field("known_hosts", "known_hosts for ssh:// repositories (empty: none)", checks.optional_path,
          default="", arches=GIT, param=(CONFIG_PULL, "known_hosts")),
)
BY_KEY: Dict[str, Field] = {f.key: f for f in FIELDS}
EXAMPLE_PER_NODE = {"ipmi_address": ("192.0.2.101", "192.0.2.102", "192.0.2.103")}


@dataclass
class SiteValues:
    """Validated values: `get(key)` and `node(key, node)`."""
    arch: str
    nodes: List[str]
    flat: Dict[str, str]
    per_node: Dict[str, Dict[str, str]]
    warnings: List[str] = field(default_factory=list)   # given keys this architecture does not use

    def get(self, key: str) -> str:
        return self.flat[key]

    def node(self, key: str, node: str) -> str:
        return self.per_node[key][node]

    def __getattr__(self, key: str) -> str:
        try:
            return self.__dict__["flat"][key]
        except KeyError:
            raise AttributeError(key) from None


def parse_file(text: str, source: str = "values file") -> Dict[str, str]:
    """`key = value` lines; one optional [bacula-ha] header; # and ; comments."""
    result: Dict[str, str] = {}
    problems: List[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            if line[1:-1].strip() != "bacula-ha":
                problems.append(f"{source}:{number}: unknown section {line} (only [bacula-ha] is allowed)")
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            problems.append(f"{source}:{number}: expected key = value, got {raw.strip()!r}")
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in result:
            problems.append(f"{source}:{number}: {key} given twice")
        result[key] = value
    if problems:
        raise RenderError(problems)
    return result


def parse_assignments(items: Iterable[str]) -> Dict[str, str]:
    """--set key=value options."""
    result: Dict[str, str] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"--set {item!r}: expected key=value")
            continue
        result[key.strip()] = value.strip()
    if problems:
        raise RenderError(problems)
    return result


def _unknown(key: str) -> str:
    base = key.split(".", 1)[0]
    hint = difflib.get_close_matches(base, list(BY_KEY), n=1)
    return f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")


def resolve(arch: str, given: Mapping[str, str], example: bool = False) -> SiteValues:
    """Check every value for `arch`; raise RenderError listing all problems."""
    if arch not in ARCHITECTURES:
        raise RenderError([f"unknown architecture {arch!r} (one of: {', '.join(ARCHITECTURES)})"])
    problems: List[str] = []
    flat_given: Dict[str, str] = {}
    node_given: Dict[str, Dict[str, str]] = {}
    for key, value in given.items():
        base, dot, node = key.partition(".")
        field = BY_KEY.get(base)
        if field is None or bool(dot) != field.per_node:
            if field is not None and field.per_node:
                problems.append(f"{key}: per-node key, write it as {base}.NODE")
            elif field is not None:
                problems.append(f"{key}: not a per-node key, write it as {base}")
            else:
                problems.append(_unknown(key))
            continue
        if dot:
            node_given.setdefault(base, {})[node] = value
        else:
            flat_given[key] = value

    def raw(field: Field) -> Optional[str]:
        if field.key in flat_given:
            return flat_given[field.key]
        if field.default is not None:
            return field.default
        return field.example if example else None

    # nodes first: per-node keys and the node count depend on them
    nodes: List[str] = []
    node_raw = raw(BY_KEY["nodes"])
    if node_raw is None or not node_raw.strip():
        problems.append("nodes: missing (" + BY_KEY["nodes"].help + ")")
    else:
        try:
            nodes = checks.node_list(node_raw, 2, 2) if arch == "drbd" else checks.node_list(node_raw)
        except ValueError as exc:
            problems.append(f"nodes: {exc}")
    fencing = flat_given.get("fencing", BY_KEY["fencing"].default or "")
    flat: Dict[str, str] = {"nodes": ",".join(nodes)}
    per_node: Dict[str, Dict[str, str]] = {}
    for field in FIELDS:
        if field.key == "nodes":
            continue
        if not field.applies(arch, fencing) and field.key != "fencing":
            continue
        if field.per_node:
            given_nodes = node_given.get(field.key, {})
            for stray in sorted(set(given_nodes) - set(nodes)):
                if nodes:
                    problems.append(f"{field.key}.{stray}: {stray!r} is not in nodes ({', '.join(nodes)})")
            per_node[field.key] = {}
            for index, node in enumerate(nodes):
                value = given_nodes.get(node)
                if value is None and example and field.key in EXAMPLE_PER_NODE:
                    value = EXAMPLE_PER_NODE[field.key][index % len(EXAMPLE_PER_NODE[field.key])]
                if value is None and field.default is not None:
                    value = field.default
                if value is None or (value == "" and field.default is None):
                    problems.append(f"{field.key}.{node}: missing ({field.help})")
                    continue
                try:
                    per_node[field.key][node] = _checked(field, value)
                except ValueError as exc:
                    problems.append(f"{field.key}.{node}: {exc}")
            continue
        value = raw(field)
        if value is None or (value == "" and field.default is None):
            problems.append(f"{field.key}: missing ({field.help})")
            continue
        try:
            flat[field.key] = _checked(field, value)
        except ValueError as exc:
            problems.append(f"{field.key}: {exc}")
    problems += _cross_checks(arch, flat)
    problems += _distinct(nodes, flat, per_node)
    if problems:
        raise RenderError(problems)
    return SiteValues(arch, nodes, flat, per_node, _unused(arch, fencing, flat_given, node_given))


def _unused(arch: str, fencing: str, flat_given: Mapping[str, str],
            node_given: Mapping[str, Mapping[str, str]]) -> List[str]:
    """Given keys that do not reach the output: a typo-free key of another architecture or
    fencing method is accepted (one values file may serve several), but said."""
    warnings = []
    for key in sorted(set(flat_given) | set(node_given)):
        spec = BY_KEY[key]
        if spec.applies(arch, fencing) or key == "fencing":
            continue
        why = (f"architecture {arch}" if arch not in spec.arches
               else f"fencing {fencing} (it is for {spec.fencing})")
        shown = key + (".NODE" if spec.per_node else "")
        warnings.append(f"{shown} is not used by {why}: ignored")
    return warnings


def _distinct(nodes: List[str], flat: Mapping[str, str], per_node: Mapping[str, Mapping[str, str]]) -> List[str]:
    """Addresses and names that must differ: a VIP on a fencing device's address would move
    with the Director (fencing a node through the address it just lost), two nodes behind one
    BMC or one libvirt domain fence each other. Names compare case-insensitively."""
    problems = []
    addresses: List[Tuple[str, str]] = []          # (key, value) of every address-like value
    if flat.get("vip"):
        addresses.append(("vip", flat["vip"]))
    for node in nodes:
        value = per_node.get("ipmi_address", {}).get(node)
        if value:
            addresses.append((f"ipmi_address.{node}", value))
    for key in ("virsh_host", "catalog_host"):
        if flat.get(key):
            addresses.append((key, flat[key]))
    for i, (key_a, a) in enumerate(addresses):
        for key_b, b in addresses[i + 1:]:
            if not checks.same_host(a, b):
                continue
            if key_a == "vip":
                fencing = key_b.startswith(("ipmi_", "virsh_"))
                problems.append(f"vip: {a} is also {key_b}" + (
                    ": the VIP moves with the Director, a fencing device's address must not" if fencing
                    else ": the VIP must be an address of its own"))
            else:
                problems.append(f"{key_b}: {b} is also {key_a}: each must be a distinct address")
    domains: Dict[str, str] = {}
    for node in nodes:
        domain = per_node.get("virsh_domain", {}).get(node) or node
        other = domains.setdefault(domain.lower(), node)
        if other != node:
            problems.append(f"virsh_domain.{node}: {domain} is also the domain of {other} "
                            "(fencing one node would power off the other)")
    return problems


def _checked(field: Field, value: str) -> str:
    """The field's own check (crm/sh safety, site syntax), then the agent's for its parameter."""
    if not value:
        return value
    value = field.check(checks.plain(value))
    if field.param is not None:
        agent_param(*field.param)(value)
    return value


def agent_param(agent: str, name: str) -> Callable[[str], str]:
    """A check raising ValueError when `agent` would refuse `value` for parameter `name`.

    The agents' own declarations (agents/bacula-*), not a copy: render, check and the
    agents accept the same values.
    """
    from ...ocf.params import ParamProblem
    from ..cibcheck.sources import agent_declarations
    spec = next(p for p in agent_declarations()[agent].params if p.name == name)

    def check(value: str) -> str:
        try:
            spec.validate(value)
        except ParamProblem as problem:
            raise ValueError(f"{agent} refuses it: {problem}") from None
        return value
    return check


def _cross_checks(arch: str, flat: Dict[str, str]) -> List[str]:
    """Checks that involve more than one value."""
    problems = []
    if "vip" in flat and "vip_cidr" in flat:
        try:
            checks.vip_in_network(flat["vip"], flat["vip_cidr"])
        except ValueError as exc:
            problems.append(f"vip: {exc}")
    if "sbd_devices" in flat:
        devices = [d for d in flat["sbd_devices"].split(",") if d.strip()]
        if not 1 <= len(devices) <= 3:
            problems.append("sbd_devices: give 1 to 3 devices")
        for device in devices:
            try:
                checks.block_device(device.strip())
            except ValueError as exc:
                problems.append(f"sbd_devices: {exc}")
        flat["sbd_devices"] = ",".join(d.strip() for d in devices)
    fstype = flat.get("fstype", "")
    if arch == "drbd" and fstype.startswith("nfs"):
        problems.append(f"fstype: {fstype} makes no sense on a DRBD device (use ext4 or xfs)")
    if arch == "shared" and "fs_device" in flat:
        try:
            (checks.nfs_export if fstype.startswith("nfs") else checks.block_device)(flat["fs_device"])
        except ValueError as exc:
            problems.append(f"fs_device: {exc} (fstype {fstype})")
    _derive(arch, flat)
    if "mount_point" in flat:
        mount = flat["mount_point"].rstrip("/") + "/"
        for key in ("pgdata", "director_config") if arch in LOCAL else ("director_config",):
            if key in flat and not flat[key].startswith(mount):
                problems.append(f"{key}: {flat[key]} is not on the replicated/shared/distributed file system "
                                f"mounted at {flat['mount_point']}")
    if arch == "streaming" and flat.get("repl_vip") and checks.same_host(flat["repl_vip"], flat.get("vip", "")):
        problems.append("repl_vip: must differ from vip (the replication address follows the catalog "
                        "primary, vip the Director)")
    return problems


def _derive(arch: str, flat: Dict[str, str]) -> None:
    """Fill the empty path defaults that depend on the architecture and mount point: the
    Director's configuration lives on the file system that follows it (drbd, shared) or is
    mounted everywhere (dfs); the local /etc/bacula only points there."""
    mount = flat.get("mount_point", "").rstrip("/")
    if arch in MOUNTED and mount:
        if not flat.get("director_config"):
            flat["director_config"] = f"{mount}/etc/bacula-dir.conf"
        if not flat.get("console_config"):
            flat["console_config"] = f"{mount}/etc/bconsole.conf"
    elif not flat.get("console_config"):
        flat["console_config"] = "/etc/bacula/bconsole.conf"
    if arch in OWN_PG and not flat.get("pgdata"):
        flat["pgdata"] = f"{mount}/postgresql/15/main" if arch in LOCAL and mount else \
            "/var/lib/postgresql/15/main"
