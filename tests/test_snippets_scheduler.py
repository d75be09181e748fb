# SPDX-License-Identifier: GPL-2.0-or-later
"""The shipped crm-snippets (and renderings with other site values) proven by
Pacemaker's own tools, offline: crmsh and pcs load them into CIB files, the
two CIBs are compared structurally, crm_verify finds no error, and
crm_simulate computes transitions whose graphs we read (ordering edges, not
just final placement).

Everything runs on CIB files in pytest's temp directories; no cluster is
touched. crmsh checks every primitive against its agent's meta-data, so the
agents must be installed (`make install`: ocf:bacula:*; drbd-utils:
ocf:linbit:drbd).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

import pytest

from bacula_ha.admin.render import render
from bacula_ha.ocf.codes import Exit
from support.paths import ROOT
from support.scheduler import (Graph, configuration, crm_load, empty_cib, pcs_load, placement,
                               promoted_nodes, set_node_attr, simulate, unexpected, verify_errors)

pytestmark = pytest.mark.scheduler

SNIPPETS = os.path.join(ROOT, "crm-snippets")
ARCHES = ("drbd", "git", "shared", "streaming", "dfs")
LOCAL_GROUP = ["p_fs", "p_pgsql", "p_catalog_check", "p_director", "p_vip"]
REMOTE_GROUP = ["p_catalog_check", "p_director", "p_vip"]
MEMBERS = {"drbd": LOCAL_GROUP, "shared": LOCAL_GROUP, "git": REMOTE_GROUP, "streaming": REMOTE_GROUP,
           "dfs": REMOTE_GROUP}
#: every promotable clone the group needs Promoted on its node, the leading one first: (clone, primitive)
PROMOTABLE = {"drbd": [("ms_drbd", "p_drbd")], "git": [("ms_config_pull", "p_config_pull")], "shared": [],
              "streaming": [("ms_pgsql", "p_pgsql"), ("ms_config_pull", "p_config_pull")], "dfs": []}
#: the promotable clone the group follows (its lead): (clone id, primitive id)
FOLLOWS = {arch: (clones[0] if clones else None) for arch, clones in PROMOTABLE.items()}
LEADS = [arch for arch in ARCHES if FOLLOWS[arch]]

#: site values different from every example, one fencing method each
SITE: Dict[str, Dict[str, str]] = {
    "drbd": {"nodes": "alpha, beta", "vip": "203.0.113.50", "vip_cidr": "25", "vip_nic": "bond0",
             "fencing": "sbd", "sbd_devices": "/dev/disk/by-id/wwn-0x1,/dev/disk/by-id/wwn-0x2",
             "fence_delay": "random", "fence_delay_seconds": "20", "drbd_resource": "catalog",
             "drbd_device": "/dev/drbd1", "fstype": "xfs", "mount_point": "/srv/catalog",
             "pgdata": "/srv/catalog/pg/main", "migration_threshold": "2", "failure_timeout": "30min",
             "catalog_passfile": "/etc/bacula-ha/catalog.pgpass"},
    "git": {"nodes": "dir-a,dir-b,dir-c", "vip": "198.51.100.20", "vip_cidr": "24", "fencing": "virsh",
            "virsh_host": "198.51.100.1", "virsh_domain.dir-a": "vagrant_dir-a",
            "virsh_domain.dir-b": "vagrant_dir-b", "git_repository": "https://git.example.org/bacula/dir.git",
            "git_branch": "production", "allowed_signers": "/etc/bacula-ha/allowed_signers",
            "catalog_host": "198.51.100.30", "catalog_sslmode": "require", "stickiness": "500"},
    "shared": {"nodes": "n1.example.net,n2.example.net", "vip": "198.51.100.77", "vip_cidr": "26",
               "ipmi_address.n1.example.net": "198.51.100.201", "ipmi_address.n2.example.net": "bmc2.example.net",
               "ipmi_user": "stonith", "ipmi_password_script": "/usr/local/sbin/bmc-pass", "ipmi_lanplus": "no",
               "fstype": "nfs4", "fs_device": "nfs.example.net:/export/bacula", "fs_options": "vers=4.2,hard",
               "mount_point": "/srv/bacula"},
    "streaming": {"nodes": "pg-a,pg-b,pg-c", "vip": "203.0.113.60", "vip_cidr": "24", "repl_vip": "203.0.113.61",
                  "fencing": "sbd", "sbd_devices": "/dev/disk/by-id/wwn-0x3", "pg_bindir": "/usr/lib/postgresql/16/bin",
                  "pgdata": "/data/pg16", "pg_config": "/etc/postgresql/16/main/postgresql.conf",
                  "pg_socketdir": "/run/postgresql", "catalog_port": "5433",
                  "git_repository": "https://git.example.org/bacula/dir.git", "fence_delay": "random"},
    "dfs": {"nodes": "d1,d2", "vip": "198.51.100.90", "vip_cidr": "24", "fencing": "virsh",
            "virsh_host": "198.51.100.1", "catalog_host": "pg.example.org", "dfs_device": "mon1,mon2:/bacula",
            "dfs_fstype": "ceph", "dfs_options": "name=bacula", "mount_point": "/mnt/cephfs/bacula"},
}
VARIANTS = [(arch, variant) for arch in ARCHES for variant in ("shipped", "site")]


def _nodes(variant: str, arch: str) -> List[str]:
    if variant == "shipped":
        return ["node1", "node2"]
    return [n.strip() for n in SITE[arch]["nodes"].split(",")]


class Loaded:
    """Each snippet is loaded once per module; tests copy the CIB before changing it."""

    def __init__(self, base: str):
        self.base = base
        self.cache: Dict[Tuple[str, str, str], Tuple[str, str]] = {}

    def snippet(self, arch: str, variant: str, fmt: str) -> str:
        if variant == "shipped":
            return os.path.join(SNIPPETS, f"{arch}.{fmt}")
        path = os.path.join(self.base, f"{arch}-site.{fmt}")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(render(arch, fmt, SITE[arch]))
        return path

    def _load(self, arch: str, variant: str, fmt: str):
        try:
            cib = empty_cib(os.path.join(self.base, f"{arch}-{variant}-{fmt}.xml"))
            loader = crm_load if fmt == "crm" else pcs_load
            result = loader(cib, self.snippet(arch, variant, fmt))
            return (cib, result.stdout + result.stderr)
        except Exception as exc:   # re-raised by the test that asks for this snippet
            return exc

    def load(self, arch: str, variant: str, fmt: str) -> Tuple[str, str]:
        """(CIB file, tool output) for this snippet.

        The first request for a format loads every snippet of that format in
        parallel (a pcs script is ~15 pcs runs of ~0.5 s each); each test still
        checks only its own result."""
        key = (arch, variant, fmt)
        if key not in self.cache:
            todo = [(a, v, fmt) for a, v in VARIANTS if (a, v, fmt) not in self.cache]
            for arch_variant in todo:   # render first: not thread-safe to share files
                self.snippet(arch_variant[0], arch_variant[1], fmt)
            with ThreadPoolExecutor(max_workers=3) as pool:
                for todo_key, result in zip(todo, pool.map(lambda k: self._load(*k), todo)):
                    self.cache[todo_key] = result
        result = self.cache[key]
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Loaded:
    return Loaded(str(tmp_path_factory.mktemp("snippets")))


@pytest.mark.parametrize("arch,variant", VARIANTS)
def test_crm_snippet_loads_and_verifies(loaded, arch, variant):
    cib, output = loaded.load(arch, variant, "crm")
    assert unexpected(output) == [], output
    assert verify_errors(cib) == []
    conf = configuration(cib)
    assert conf["properties"]["stonith-enabled"] == "true"
    assert "g_bacula" in conf["resources"]


@pytest.mark.parametrize("arch,variant", VARIANTS)
def test_pcs_twin_builds_the_same_cib(loaded, arch, variant):
    crm_cib, _ = loaded.load(arch, variant, "crm")
    pcs_cib, output = loaded.load(arch, variant, "pcs")
    assert unexpected(output) == [], output
    assert verify_errors(pcs_cib) == []
    assert configuration(pcs_cib) == configuration(crm_cib)


def test_site_values_reach_the_cib(loaded):
    """The rendered snippets carry the site's values, not the examples."""
    conf = configuration(loaded.load("drbd", "site", "crm")[0])
    group = {p["id"]: p for p in conf["resources"]["g_bacula"]["group"]}
    assert group["p_vip"]["params"] == {"ip": "203.0.113.50", "cidr_netmask": "25", "nic": "bond0"}
    assert group["p_fs"]["params"]["device"] == "/dev/drbd1"
    assert conf["resources"]["ms_drbd"]["clone"]["params"] == {"drbd_resource": "catalog"}
    assert conf["resources"]["fence_sbd"]["primitive"]["params"]["pcmk_delay_max"] == "20s"
    assert "priority-fencing-delay" not in conf["properties"]
    assert conf["rsc_defaults"]["migration-threshold"] == "2"
    conf = configuration(loaded.load("git", "site", "crm")[0])
    plugs = {rid: r["primitive"]["params"]["plug"] for rid, r in conf["resources"].items() if rid.startswith("fence_")}
    assert plugs == {"fence_dir-a": "vagrant_dir-a", "fence_dir-b": "vagrant_dir-b", "fence_dir-c": "dir-c"}
    assert "clone-max" not in conf["resources"]["ms_config_pull"]["meta"]   # one instance per node
    conf = configuration(loaded.load("shared", "site", "crm")[0])
    fs = conf["resources"]["g_bacula"]["group"][0]
    assert fs["params"] == {"device": "nfs.example.net:/export/bacula", "directory": "/srv/bacula",
                            "fstype": "nfs4", "options": "vers=4.2,hard"}
    conf = configuration(loaded.load("streaming", "site", "crm")[0])
    assert conf["resources"]["ms_pgsql"]["clone"]["params"] == {
        "bindir": "/usr/lib/postgresql/16/bin", "pgdata": "/etc/postgresql/16/main", "datadir": "/data/pg16",
        "pghost": "/run/postgresql", "pgport": "5433"}
    assert conf["resources"]["p_vip_repl"]["primitive"]["params"]["ip"] == "203.0.113.61"
    group = {p["id"]: p for p in conf["resources"]["g_bacula"]["group"]}
    assert group["p_catalog_check"]["params"]["host"] == "/run/postgresql"
    assert group["p_catalog_check"]["params"]["port"] == "5433"
    conf = configuration(loaded.load("dfs", "site", "crm")[0])
    assert conf["resources"]["cl_dfs"]["clone"]["params"] == {
        "device": "mon1,mon2:/bacula", "directory": "/mnt/cephfs/bacula", "fstype": "ceph", "options": "name=bacula"}
    group = {p["id"]: p for p in conf["resources"]["g_bacula"]["group"]}
    assert group["p_director"]["params"]["config"] == "/mnt/cephfs/bacula/etc/bacula-dir.conf"


# ---------------------------------------------------------------- scheduler scenarios

def _copy(src: str, dst_dir: str, name: str) -> str:
    dst = os.path.join(dst_dir, name)
    shutil.copyfile(src, dst)
    return dst


def _start(tmp_path, cib: str, arch: str, nodes: List[str], scores=True) -> Tuple[str, Graph]:
    """Bring every node up; the first node gets the highest promotion score (of every
    promotable clone; `scores` may name the primitives that get one)."""
    up = str(tmp_path / "up.xml")
    simulate(_copy(cib, str(tmp_path), "config.xml"), up, node_up=nodes, execute=False)
    for _, primitive in PROMOTABLE[arch]:
        if scores is True or (scores and primitive in scores):
            for rank, node in enumerate(nodes):
                set_node_attr(up, node, f"master-{primitive}", str(100 - 10 * rank))
    state, graph = str(tmp_path / "started.xml"), str(tmp_path / "started.graph.xml")
    simulate(up, state, graph)
    return state, Graph.load(graph)


def _group_nodes(state: str, arch: str) -> Dict[str, List[str]]:
    where = placement(state)
    return {rsc: [node for node, _ in where.get(rsc, [])] for rsc in MEMBERS[arch]}


def _assert_group_together_on_promoted(state: str, arch: str) -> str:
    """Every member on one and the same node, and (drbd, git) that node is the Promoted one."""
    nodes = _group_nodes(state, arch)
    assert all(len(on) == 1 for on in nodes.values()), nodes
    (node,) = {on[0] for on in nodes.values()}
    for _, primitive in PROMOTABLE[arch]:
        assert promoted_nodes(state, primitive) == {node}, primitive
    return node


def _assert_chain(graph: Graph, arch: str, node: str) -> None:
    """Each group member starts after the previous one, all on `node`."""
    starts = [graph.one("start", rsc, node=node) for rsc in MEMBERS[arch]]
    for first, then in zip(starts, starts[1:]):
        assert graph.before(first, then), f"{first.key} does not precede {then.key}"
    for _, primitive in PROMOTABLE[arch]:
        promote = graph.one("promote", primitive, node=node)
        assert graph.before(promote, starts[0]), f"{promote.key} on {node} does not precede {starts[0].key}"
        assert graph.before(promote, graph.one("start", "p_director", node=node))


@pytest.mark.parametrize("arch,variant", VARIANTS)
def test_first_start_order(loaded, tmp_path, arch, variant):
    nodes = _nodes(variant, arch)
    state, graph = _start(tmp_path, loaded.load(arch, variant, "crm")[0], arch, nodes)
    _assert_chain(graph, arch, nodes[0])
    assert _assert_group_together_on_promoted(state, arch) == nodes[0]
    # no member start anywhere else, and the promotable clone is promoted exactly once
    assert all(a.node == nodes[0] for a in graph.find("start") if a.rsc in MEMBERS[arch])
    for _, primitive in PROMOTABLE[arch]:
        assert [a.node for a in graph.find("promote", primitive)] == [nodes[0]]
        assert {n for n, _ in placement(state)[primitive]} == set(nodes)   # a clone on every node


@pytest.mark.parametrize("arch", LEADS)
def test_without_promotion_the_group_stays_stopped(loaded, tmp_path, arch):
    """No node may be promoted (no DRBD UpToDate / no validated config): nothing of the group runs."""
    state, graph = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, ["node1", "node2"],
                          scores=False)
    assert [a for a in graph.find("start") if a.rsc in MEMBERS[arch]] == []
    assert graph.find("promote") == []
    assert all(on == [] for on in _group_nodes(state, arch).values())


@pytest.mark.parametrize("arch", ARCHES)
def test_active_node_failure_fences_before_recovery(loaded, tmp_path, arch):
    nodes = ["node1", "node2"]
    state, _ = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, nodes)
    after, graph_file = str(tmp_path / "failed.xml"), str(tmp_path / "failed.graph.xml")
    simulate(state, after, graph_file, node_fail=["node1"])
    graph = Graph.load(graph_file)
    fence = graph.one("stonith", node="node1", kind="crm_event")
    # priority-fencing-delay: the lost node ran the Director, so fencing it waits and it wins a race
    assert fence.key == "stonith-node1-reboot"
    assert _fence_delay(graph_file, fence.id) == "15"
    _assert_chain(graph, arch, "node2")
    for rsc in MEMBERS[arch]:
        assert graph.before(fence, graph.one("start", rsc, node="node2")), f"{rsc} starts before fencing"
    for _, primitive in PROMOTABLE[arch]:
        assert graph.before(fence, graph.one("promote", primitive, node="node2"))
    assert not [a for a in graph.rsc_actions(MEMBERS[arch]) if a.node == "node1"]   # node1 is gone
    assert _assert_group_together_on_promoted(after, arch) == "node2"


def _fence_delay(graph_file: str, action_id: str) -> str:
    import xml.etree.ElementTree as ET
    for event in ET.parse(graph_file).getroot().iter("crm_event"):
        attrs = event.find("attributes")
        if event.get("id") == action_id and attrs is not None:
            return attrs.get("CRM_meta_priority_fencing_delay", "")
    return ""


#: The shipped depth-0 monitor of p_director (admin/render/architectures.py): a failure is injected on it.
DEPTH0_MS = 10000


def _fail_director(state: str, out: str, graph: str, node: str, interval_ms: int = DEPTH0_MS) -> Graph:
    simulate(state, out, graph, op_inject=[f"p_director_monitor_{interval_ms}@{node}=7"])
    return Graph.load(graph)


@pytest.mark.parametrize("arch,interval_ms", [(arch, DEPTH0_MS) for arch in ARCHES] + [("drbd", 60000)])
def test_director_monitor_failure_restarts_in_place(loaded, tmp_path, arch, interval_ms):
    """depth 0 (every 20 s) or depth 10 (every 60 s) fails once: restart on the same node."""
    state, _ = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, ["node1", "node2"])
    after = str(tmp_path / "recovered.xml")
    graph = _fail_director(state, after, str(tmp_path / "recovered.graph.xml"), "node1", interval_ms)
    stop, start = graph.one("stop", "p_director", node="node1"), graph.one("start", "p_director", node="node1")
    assert graph.before(stop, start)
    members = MEMBERS[arch]
    below = members[:members.index("p_director")]
    moved = [a for a in graph.rsc_actions(members) if a.node != "node1" and a.operation in ("start", "stop")]
    assert moved == []
    assert [a for a in graph.rsc_actions(below) if a.operation in ("start", "stop")] == []   # catalog untouched
    assert graph.find("stonith") == [] and graph.find("promote") == [] and graph.find("demote") == []
    assert _assert_group_together_on_promoted(after, arch) == "node1"


@pytest.mark.parametrize("arch", ARCHES)
def test_migration_threshold_failures_move_the_group(loaded, tmp_path, arch):
    state, _ = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, ["node1", "node2"])
    threshold = int(configuration(state)["rsc_defaults"]["migration-threshold"])
    for attempt in range(1, threshold + 1):
        after, graph_file = str(tmp_path / f"fail{attempt}.xml"), str(tmp_path / f"fail{attempt}.graph.xml")
        graph = _fail_director(state, after, graph_file, "node1")
        state = after
        expected = "node1" if attempt < threshold else "node2"
        assert _assert_group_together_on_promoted(state, arch) == expected, f"after failure {attempt}"
    # the move: everything leaves node1 before anything starts on node2
    _assert_chain(graph, arch, "node2")
    last_stop = graph.one("stop", MEMBERS[arch][0], node="node1")
    for rsc in MEMBERS[arch]:
        assert graph.before(graph.one("stop", rsc, node="node1"), last_stop) or rsc == MEMBERS[arch][0]
        assert graph.before(last_stop, graph.one("start", rsc, node="node2"))
    for _, primitive in PROMOTABLE[arch]:
        demote, promote = graph.one("demote", primitive, node="node1"), graph.one("promote", primitive, node="node2")
        assert graph.before(last_stop, demote) and graph.before(demote, promote)


@pytest.mark.parametrize("arch", LEADS)
def test_group_follows_the_promotion(loaded, tmp_path, arch):
    """node1 can no longer be promoted (DRBD Outdated, config-pull failing): the group follows to node2."""
    state, _ = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, ["node1", "node2"])
    primitive = FOLLOWS[arch][1]
    set_node_attr(state, "node1", f"master-{primitive}", "-INFINITY")
    after, graph_file = str(tmp_path / "followed.xml"), str(tmp_path / "followed.graph.xml")
    simulate(state, after, graph_file)
    graph = Graph.load(graph_file)
    demote, promote = graph.one("demote", primitive, node="node1"), graph.one("promote", primitive, node="node2")
    for rsc in MEMBERS[arch]:
        stop, start = graph.one("stop", rsc, node="node1"), graph.one("start", rsc, node="node2")
        assert graph.before(stop, demote), f"{rsc} still running on node1 when it is demoted"
        assert graph.before(promote, start), f"{rsc} starts on node2 before the promotion"
        for _, other in PROMOTABLE[arch][1:]:   # streaming: the configuration follows the catalog
            assert graph.before(graph.one("promote", other, node="node2"), start)
    assert _assert_group_together_on_promoted(after, arch) == "node2"


# ---------------------------------------------------------------- agents' meta-data

PACEMAKER_DEFAULT_TIMEOUT_MS = 20000   # what Pacemaker uses for an action without an <op>
_ROLE = {"Master": "Promoted", "Slave": "Unpromoted"}


def _metadata_xml(cls: str, provider: str, kind: str) -> str:
    """Read at test time: other helpers may add parameters while these tests exist."""
    from support.agents import run_agent
    from support.scheduler import run
    if cls == "ocf" and provider == "bacula":
        result = run_agent(kind, "meta-data")
        assert result.rc == Exit.SUCCESS, result.stderr
        return result.stdout
    agent = f"{cls}:{provider}:{kind}" if provider else f"{cls}:{kind}"
    return run(["crm_resource", "--show-metadata", agent]).stdout


def _metadata(cls: str, provider: str, kind: str, cache: dict = {}) -> dict:   # noqa: B006 (memo)
    import xml.etree.ElementTree as ET
    from support.scheduler import duration_ms, run
    key = (cls, provider, kind)
    if key not in cache:
        root = ET.fromstring(_metadata_xml(cls, provider, kind).encode())
        # a deprecated alias (fence agents' ipaddr/login) is never required: its successor is
        params = {p.get("name"): p.get("required") == "1" and p.get("deprecated") != "1"
                  for p in root.iter("parameter")}
        if cls == "stonith":   # Pacemaker's own fencing parameters (pcmk_host_list, pcmk_delay_max ...)
            fenced = ET.fromstring(run(["/usr/lib/pacemaker/pacemaker-fenced", "metadata"]).stdout.encode())
            params.update({p.get("name"): False for p in fenced.iter("parameter")})
        actions = [(a.get("name"), duration_ms(a.get("timeout")) if a.get("timeout") else 0,
                    _ROLE.get(a.get("role", ""), a.get("role", "")), a.get("depth", "0"))
                   for a in root.iter("action")]
        cache[key] = {"params": params, "actions": actions}
    return cache[key]


def _primitives(conf: dict):
    for rid, res in conf["resources"].items():
        if "primitive" in res:
            yield res["primitive"], {}
        elif "clone" in res:
            yield res["clone"], res["meta"]
        else:
            for member in res["group"]:
                yield member, {}


@pytest.mark.parametrize("arch,variant", VARIANTS)
def test_primitives_match_their_agents_metadata(loaded, arch, variant):
    """Parameters exist and required ones are set; every op timeout is at least the agent's
    advertised one; every action whose advertised timeout exceeds Pacemaker's 20 s default
    is configured explicitly (Pacemaker does not take timeouts from meta-data)."""
    conf = configuration(loaded.load(arch, variant, "crm")[0])
    problems = []
    for prim, clone_meta in _primitives(conf):
        md = _metadata(prim["class"], prim["provider"] or "", prim["type"])
        name = prim["id"]
        problems += [f"{name}: unknown parameter {p}" for p in prim["params"] if p not in md["params"]]
        problems += [f"{name}: required parameter {p} not set" for p, req in md["params"].items()
                     if req and p not in prim["params"] and p not in ("action", "port", "plug")]
        if prim["class"] == "stonith":
            if not any(op[0] == "monitor" and op[1] > 0 for op in prim["ops"]):
                problems.append(f"{name}: no recurring monitor")
            continue
        configured = {op[0] for op in prim["ops"]}
        needed = {"start", "stop", "monitor"}
        if clone_meta.get("promotable") == "true":
            needed |= {"promote", "demote"}
        if clone_meta.get("notify") == "true":
            needed.add("notify")
        for action, timeout, _, _ in md["actions"]:
            if action in needed and timeout > PACEMAKER_DEFAULT_TIMEOUT_MS and action not in configured:
                problems.append(f"{name}: {action} advertises {timeout} ms but has no <op>")
        for op_name, interval, timeout, role, attrs in prim["ops"]:
            depth = dict(attrs).get("OCF_CHECK_LEVEL", "0")
            candidates = [a for a in md["actions"] if a[0] == op_name]
            if op_name == "monitor":
                candidates = ([a for a in candidates if a[2] == role and a[3] == depth]
                              or [a for a in candidates if a[3] == depth] or candidates)
            advertised = max((a[1] for a in candidates), default=0)
            if timeout < advertised:
                problems.append(f"{name}: {op_name} timeout {timeout} ms < advertised {advertised} ms")
        monitors = [(op[3], op[1]) for op in prim["ops"] if op[0] == "monitor" and op[1] > 0]
        if not monitors:
            problems.append(f"{name}: no recurring monitor")
        if len({interval for _, interval in monitors}) != len(monitors):
            problems.append(f"{name}: recurring monitors share an interval")
        if clone_meta.get("promotable") == "true" and {r for r, _ in monitors} != {"Promoted", "Unpromoted"}:
            problems.append(f"{name}: promotable, needs a monitor for each role")
    assert problems == []


def test_cluster_properties_are_known_to_pacemaker(loaded):
    import xml.etree.ElementTree as ET
    from support.scheduler import run
    known = set()
    for daemon in ("pacemaker-schedulerd", "pacemaker-controld", "pacemaker-fenced"):
        root = ET.fromstring(run([f"/usr/lib/pacemaker/{daemon}", "metadata"]).stdout.encode())
        known |= {p.get("name") for p in root.iter("parameter")}
    for arch, variant in VARIANTS:
        conf = configuration(loaded.load(arch, variant, "crm")[0])
        assert set(conf["properties"]) <= known, (arch, variant)
        assert {"resource-stickiness", "migration-threshold", "failure-timeout"} <= set(conf["rsc_defaults"])


def test_drbd_fence_peer_constraint_keeps_an_outdated_peer_unpromoted(loaded, tmp_path):
    """drbd-fencing.res: when replication breaks, crm-fence-peer.9.sh (on the Primary) places
    this constraint; if the Primary then dies, it is fenced and the Outdated peer is NOT
    promoted, so the group stays stopped rather than run on stale data."""
    from support.scheduler import run
    state, _ = _start(tmp_path, loaded.load("drbd", "shipped", "crm")[0], "drbd", ["node1", "node2"])
    # the constraint exactly as crm-fence-peer.9.sh writes it (id_prefix-master_id, #uname ne self)
    run(["cibadmin", "-C", "-o", "constraints", "-X",
         '<rsc_location rsc="ms_drbd" id="drbd-fence-by-handler-ms_drbd">'
         '<rule role="Promoted" score="-INFINITY" id="drbd-fence-by-handler-rule-ms_drbd">'
         '<expression attribute="#uname" operation="ne" value="node1" id="drbd-fence-by-handler-expr-ms_drbd"/>'
         '</rule></rsc_location>'], cib=state)
    after, graph_file = str(tmp_path / "outdated.xml"), str(tmp_path / "outdated.graph.xml")
    simulate(state, after, graph_file, node_fail=["node1"])
    graph = Graph.load(graph_file)
    graph.one("stonith", node="node1", kind="crm_event")
    assert graph.find("promote") == []
    assert [a for a in graph.find("start") if a.rsc in MEMBERS["drbd"]] == []
    assert promoted_nodes(after, "p_drbd") == set()
    assert all(on == [] for on in _group_nodes(after, "drbd").values())


@pytest.mark.parametrize("arch", ARCHES)
def test_failed_node_returning_does_not_pull_the_group_back(loaded, tmp_path, arch):
    """resource-stickiness: after failover, node1 rejoins, even preferred by the administrator
    (location 50) and with the better promotion score again; the group stays put (a move
    would interrupt running jobs)."""
    from support.scheduler import run
    state, _ = _start(tmp_path, loaded.load(arch, "shipped", "crm")[0], arch, ["node1", "node2"])
    failed = str(tmp_path / "failed.xml")
    simulate(state, failed, node_fail=["node1"])
    assert _assert_group_together_on_promoted(failed, arch) == "node2"
    rejoined = str(tmp_path / "rejoined.xml")
    simulate(failed, rejoined, node_up=["node1"], execute=False)
    run(["cibadmin", "-C", "-o", "constraints", "-X",
         '<rsc_location id="l_prefer_node1" rsc="g_bacula" node="node1" score="50"/>'], cib=rejoined)
    for _, primitive in PROMOTABLE[arch]:
        set_node_attr(rejoined, "node1", f"master-{primitive}", "100")
        set_node_attr(rejoined, "node2", f"master-{primitive}", "90")
    back, graph_file = str(tmp_path / "back.xml"), str(tmp_path / "back.graph.xml")
    simulate(rejoined, back, graph_file)
    graph = Graph.load(graph_file)
    assert [a for a in graph.rsc_actions(MEMBERS[arch]) if a.operation in ("start", "stop")] == []
    assert graph.find("demote") == [] and graph.find("stonith") == []
    assert _assert_group_together_on_promoted(back, arch) == "node2"


def test_crm_load_update_is_repeatable(loaded, tmp_path):
    """Loading the same snippet again (e.g. after editing a value) is an update, not a conflict."""
    cib = _copy(loaded.load("drbd", "shipped", "crm")[0], str(tmp_path), "again.xml")
    before = configuration(cib)
    result = crm_load(cib, os.path.join(SNIPPETS, "drbd.crm"))
    assert unexpected(result.stdout + result.stderr) == []
    assert configuration(cib) == before


# ---------------------------------------------------------------- streaming and dfs specifics

def test_streaming_without_a_deployable_configuration_no_director_runs(loaded, tmp_path):
    """The catalog is promoted, but no node could validate the configuration: PostgreSQL and its
    replication address run, the Director does not (it would run an unknown configuration)."""
    state, graph = _start(tmp_path, loaded.load("streaming", "shipped", "crm")[0], "streaming",
                          ["node1", "node2"], scores=("p_pgsql",))
    assert [a.node for a in graph.find("promote", "p_pgsql")] == ["node1"]
    assert [a.node for a in graph.find("start", "p_vip_repl")] == ["node1"]
    assert graph.find("promote", "p_config_pull") == []
    assert all(on == [] for on in _group_nodes(state, "streaming").values())


def test_streaming_replication_address_follows_the_primary_not_the_director(loaded, tmp_path):
    """A Director failing for good on node1 moves the Director, the catalog primary and the
    replication address together; the replication address starts after the new promotion."""
    state, _ = _start(tmp_path, loaded.load("streaming", "shipped", "crm")[0], "streaming", ["node1", "node2"])
    assert [n for n, _ in placement(state)["p_vip_repl"]] == ["node1"]
    set_node_attr(state, "node1", "master-p_pgsql", "-INFINITY")
    after, graph_file = str(tmp_path / "moved.xml"), str(tmp_path / "moved.graph.xml")
    simulate(state, after, graph_file)
    graph = Graph.load(graph_file)
    promote = graph.one("promote", "p_pgsql", node="node2")
    assert graph.before(graph.one("stop", "p_vip_repl", node="node1"), graph.one("demote", "p_pgsql", node="node1"))
    assert graph.before(promote, graph.one("start", "p_vip_repl", node="node2"))
    assert [n for n, _ in placement(after)["p_vip_repl"]] == ["node2"]
    # the Director stops while the standbys still reach the primary (its last writes commit
    # synchronously) and the catalog check's write starts once they can reach the new one
    assert graph.before(graph.one("stop", "p_director", node="node1"), graph.one("stop", "p_vip_repl", node="node1"))
    assert graph.before(graph.one("start", "p_vip_repl", node="node2"),
                        graph.one("start", "p_catalog_check", node="node2"))


def _forget_history(cib: str, node: str, rsc: str) -> None:
    """What `crm_resource --cleanup` does to the status section: the resource's history on the
    node is deleted, so its state there is unknown until a probe answers."""
    import xml.etree.ElementTree as ET
    tree = ET.parse(cib)
    for state in tree.getroot().iter("node_state"):
        if state.get("uname") != node:
            continue
        for resources in state.iter("lrm_resources"):
            for entry in list(resources):
                if entry.get("id", "").split(":")[0] == rsc:
                    resources.remove(entry)
    tree.write(cib)


def test_streaming_cleanup_of_the_primary_stops_the_director_before_the_replication_address(loaded, tmp_path):
    """A cleanup of ms_pgsql on the primary's node (what a user does after a failed monitor, and
    what the lab does between faults): Pacemaker 2.1 plans the instance Stopped -> Promoted until
    its probe answers and restarts what is ordered after the promotion, the replication address
    and the group, without waiting for that probe (measured in the lab: PAF's probe is slower
    than the restart). The Director must then stop first: with the replication address gone the
    standbys disconnect and every synchronous commit waits (measured: a Director stop of 47 s,
    its running backup ended f)."""
    state, _ = _start(tmp_path, loaded.load("streaming", "shipped", "crm")[0], "streaming", ["node1", "node2"])
    _forget_history(state, "node1", "p_pgsql")
    after, graph_file = str(tmp_path / "cleaned.xml"), str(tmp_path / "cleaned.graph.xml")
    simulate(state, after, graph_file, execute=False)
    graph = Graph.load(graph_file)
    graph.one("monitor", "p_pgsql", node="node1")   # the re-probe
    stops = {rsc: graph.find("stop", rsc, node="node1") for rsc in ("p_director", "p_vip_repl")}
    assert all(stops.values()), ("Pacemaker no longer restarts the replication address and the Director on a "
                                 f"cleanup of the primary (docs: crm-snippets/README.md): {stops}")
    assert graph.before(stops["p_director"][0], stops["p_vip_repl"][0])


@pytest.mark.parametrize("variant", ["shipped", "site"])
def test_dfs_is_mounted_everywhere_and_never_switched(loaded, tmp_path, variant):
    """dfs: the file system stays mounted on the survivor through a failover (no ownership
    switch): the only actions on node2 are the fencing and the group's starts."""
    nodes = _nodes(variant, "dfs")
    cib = loaded.load("dfs", variant, "crm")[0]
    managed = "cl_dfs" in configuration(cib)["resources"]
    state, graph = _start(tmp_path, cib, "dfs", nodes)
    if managed:
        assert {n for n, _ in placement(state)["p_dfs"]} == set(nodes)
        assert graph.before(graph.one("start", "p_dfs", node=nodes[0]), graph.one("start", "p_director", node=nodes[0]))
    after, graph_file = str(tmp_path / "failed.xml"), str(tmp_path / "failed.graph.xml")
    simulate(state, after, graph_file, node_fail=[nodes[0]])
    graph = Graph.load(graph_file)
    assert [a for a in graph.rsc_actions(["p_dfs"]) if a.operation in ("start", "stop")] == []
    assert _assert_group_together_on_promoted(after, "dfs") == nodes[1]
