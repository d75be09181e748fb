# SPDX-License-Identifier: GPL-2.0-or-later
"""Pacemaker's own tools on offline CIB files: load crm/pcs configurations,
verify, simulate transitions and read the transition graph.

Nothing here talks to a cluster: every command works on a CIB file in a
directory the caller owns (CIB_file / -x / -f), so tests can run side by side.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

TIMEOUT = 300  # generous: a pcs script runs ~16 pcs commands of ~1.5 s each, slower on a loaded machine
SCRIPT_TIMEOUT = 900  # a whole pcs script, several run in parallel
#: warnings an offline CIB always produces (no nodes up, nodes not yet in <nodes>)
BENIGN = (
    re.compile(r"lack of quorum"),
    re.compile(r"referenced node \S+ does not exist"),
    re.compile(r"Validation for node existence in the cluster will be skipped"),
    re.compile(r"Defaults do not apply to resources which override them"),
    re.compile(r"^Adding \S+ \S+ \(kind: "),
)


def _env(cib: Optional[str] = None) -> Dict[str, str]:
    env = dict(os.environ, LC_ALL="C", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    if cib is not None:
        env["CIB_file"] = os.path.abspath(cib)
    return env


def run(argv: Sequence[str], cib: Optional[str] = None, check: bool = True,
        timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=_env(cib))
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def unexpected(output: str) -> List[str]:
    """Lines mentioning a warning or an error that an offline CIB does not explain."""
    lines = []
    for line in output.splitlines():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if not plain or any(p.search(plain) for p in BENIGN):
            continue
        if re.search(r"warn|error|invalid|not exist|unknown|deprecat", plain, re.I):
            lines.append(plain)
    return lines


def empty_cib(path: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(run(["cibadmin", "--empty"]).stdout)
    return path


def crm_load(cib: str, snippet: str) -> subprocess.CompletedProcess:
    """`crm configure load update` into an offline CIB (crmsh checks agents' meta-data)."""
    return run(["crm", "configure", "load", "update", os.path.abspath(snippet)], cib=cib)


def pcs_load(cib: str, script: str) -> subprocess.CompletedProcess:
    """Run a pcs snippet script against a CIB file (it calls `pcs -f CIB ...`): ~20 pcs runs
    of ~0.5 s each when idle, several seconds each on a loaded CI machine."""
    return run(["/bin/sh", os.path.abspath(script), os.path.abspath(cib)], timeout=SCRIPT_TIMEOUT)


def verify_errors(cib: str) -> List[str]:
    result = run(["crm_verify", "-V", "-x", cib], check=False)
    return [l for l in (result.stdout + result.stderr).splitlines()
            if re.search(r"\berror\b", l, re.I) and not re.search(r"lack of quorum", l)]


def simulate(state: str, out: str, graph: Optional[str] = None, node_up: Iterable[str] = (),
             node_fail: Iterable[str] = (), op_inject: Iterable[str] = (), quorum: bool = True,
             execute: bool = True) -> str:
    """One scheduler run on `state`; writes the resulting state to `out`, the graph to `graph`."""
    argv = ["crm_simulate", "-x", state, "-O", out]
    if quorum:
        argv += ["-q", "true"]
    for node in node_up:
        argv += ["--node-up", node]
    for node in node_fail:
        argv += ["--node-fail", node]
    for spec in op_inject:
        argv += ["--op-inject", spec]
    if execute:
        argv.append("-S")
    if graph:
        argv += ["-G", graph]
    return run(argv).stdout


def set_node_attr(cib: str, node: str, name: str, value: str) -> None:
    """A transient (status section) node attribute, e.g. a promotion score."""
    run(["crm_attribute", "-N", node, "-n", name, "-l", "reboot", "-v", value], cib=cib)


# ---------------------------------------------------------------- transition graph

@dataclass(frozen=True)
class Action:
    id: str
    kind: str            # rsc_op, pseudo_event, crm_event
    operation: str       # start, stop, promote, monitor, stonith, ...
    key: str             # operation_key, e.g. p_fs_start_0 / stonith-node1-reboot
    node: str            # on_node ('' for pseudo events)
    rsc: str             # primitive id without clone instance suffix ('' if none)
    interval: int        # ms, for recurring monitors


@dataclass
class Graph:
    actions: Dict[str, Action] = field(default_factory=dict)
    inputs: Dict[str, Set[str]] = field(default_factory=dict)   # action id -> ids it waits for

    @classmethod
    def load(cls, path: str) -> "Graph":
        graph = cls()
        root = ET.parse(path).getroot()
        for synapse in root.iter("synapse"):
            own = [cls._action(e) for e in synapse.find("action_set")]
            waits = {cls._action(e).id for t in synapse.iter("trigger") for e in t}
            for action in own:
                graph.actions[action.id] = action
                graph.inputs.setdefault(action.id, set()).update(waits)
        return graph

    @staticmethod
    def _action(elem: ET.Element) -> Action:
        primitive = elem.find("primitive")
        rsc = primitive.get("long-id") or primitive.get("id") if primitive is not None else ""
        rsc = (rsc or "").split(":")[0]
        attrs = elem.find("attributes")
        interval = int(attrs.get("CRM_meta_interval", "0")) if attrs is not None else 0
        return Action(elem.get("id"), elem.tag, elem.get("operation", ""), elem.get("operation_key", ""),
                      elem.get("on_node", ""), rsc, interval)

    def find(self, operation: str, rsc: Optional[str] = None, node: Optional[str] = None,
             kind: Optional[str] = None, recurring: bool = False) -> List[Action]:
        return [a for a in self.actions.values()
                if a.operation == operation and (rsc is None or a.rsc == rsc)
                and (node is None or a.node == node) and (kind is None or a.kind == kind)
                and (a.interval > 0) == recurring]

    def one(self, operation: str, rsc: Optional[str] = None, node: Optional[str] = None,
            kind: Optional[str] = None) -> Action:
        found = self.find(operation, rsc, node, kind)
        assert len(found) == 1, f"expected one {operation} {rsc or ''} on {node or 'any node'}, got {found}"
        return found[0]

    def before(self, first: Action, then: Action) -> bool:
        """True if `then` (transitively) waits for `first` in this graph."""
        seen: Set[str] = set()
        todo = [then.id]
        while todo:
            current = todo.pop()
            for dep in self.inputs.get(current, ()):
                if dep == first.id:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False

    def rsc_actions(self, rscs: Iterable[str]) -> List[Action]:
        wanted = set(rscs)
        return [a for a in self.actions.values() if a.kind == "rsc_op" and a.rsc in wanted]


# ---------------------------------------------------------------- placement

def placement(cib: str) -> Dict[str, List[Tuple[str, str]]]:
    """resource (primitive) id -> [(node, role)] for every active instance, from crm_mon."""
    root = ET.fromstring(run(["crm_mon", "-1", "--output-as=xml", "--inactive"], cib=cib).stdout)
    result: Dict[str, List[Tuple[str, str]]] = {}
    for res in root.iter("resource"):
        rid = res.get("id", "").split(":")[0]
        entries = result.setdefault(rid, [])
        if res.get("active") == "true":
            for node in res.findall("node"):
                entries.append((node.get("name"), res.get("role")))
    return result


def promoted_nodes(cib: str, primitive: str) -> Set[str]:
    return {node for node, role in placement(cib).get(primitive, []) if role in ("Promoted", "Master")}


# ---------------------------------------------------------------- structural comparison

_ROLES = {"Master": "Promoted", "Slave": "Unpromoted"}
_UNITS = {"ms": 1, "s": 1000, "": 1000, "m": 60000, "min": 60000, "h": 3600000}


def duration_ms(value: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+)\s*(ms|s|m|min|h|)\s*", value or "0")
    assert match, f"not a duration: {value!r}"
    return int(match.group(1)) * _UNITS[match.group(2)]


def _nvpairs(elem: Optional[ET.Element], tag: str) -> Dict[str, str]:
    result: Dict[str, str] = {}
    if elem is None:
        return result
    for block in elem.findall(tag):
        for pair in block.findall("nvpair"):
            result[pair.get("name")] = pair.get("value")
    return result


def _primitive(elem: ET.Element) -> dict:
    ops = []
    for op in elem.iter("op"):
        ops.append((op.get("name"), duration_ms(op.get("interval", "0")), duration_ms(op.get("timeout", "20s")),
                    _ROLES.get(op.get("role", ""), op.get("role", "")),
                    tuple(sorted(_nvpairs(op, "instance_attributes").items()))))
    return {"id": elem.get("id"), "class": elem.get("class"), "provider": elem.get("provider"),
            "type": elem.get("type"), "params": _nvpairs(elem, "instance_attributes"),
            "meta": _nvpairs(elem, "meta_attributes"), "ops": sorted(ops)}


def configuration(cib: str) -> dict:
    """The configuration section with generated ids and comments normalised away."""
    root = ET.parse(cib).getroot()
    conf = root.find("configuration")
    resources = {}
    for elem in conf.find("resources"):
        if elem.tag == "primitive":
            resources[elem.get("id")] = {"primitive": _primitive(elem)}
        elif elem.tag == "clone":
            resources[elem.get("id")] = {"clone": _primitive(elem.find("primitive")),
                                         "meta": _nvpairs(elem, "meta_attributes")}
        elif elem.tag == "group":
            resources[elem.get("id")] = {"group": [_primitive(p) for p in elem.findall("primitive")],
                                         "meta": _nvpairs(elem, "meta_attributes")}
    constraints = {}
    for elem in conf.find("constraints"):
        attrs = dict(elem.attrib)
        if elem.tag == "rsc_colocation":
            for role in ("rsc-role", "with-rsc-role"):
                attrs[role] = _ROLES.get(attrs.get(role, "Started"), attrs.get(role, "Started"))
        if elem.tag == "rsc_order":
            attrs.setdefault("first-action", "start")
            attrs.setdefault("then-action", "start")
            attrs.setdefault("kind", "Mandatory")
        constraints[(elem.tag, elem.get("id"))] = attrs
    props = _nvpairs(conf.find("crm_config"), "cluster_property_set")
    for generated in ("dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog",
                      "last-lrm-refresh"):
        props.pop(generated, None)
    return {"resources": resources, "constraints": constraints, "properties": props,
            "rsc_defaults": _nvpairs(conf.find("rsc_defaults"), "meta_attributes"),
            "op_defaults": _nvpairs(conf.find("op_defaults"), "meta_attributes")}
