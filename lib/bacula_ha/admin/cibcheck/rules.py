# SPDX-License-Identifier: GPL-2.0-or-later
"""The rules: fencing, management, agent parameters and operations, where the Director may run.

Every finding names the element to add or change by its id and says how (crm shell
syntax), so that a clean run means "nothing left to do", and a finding is never
about a resource that has nothing to do with the Director stack.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional

from .cib import Cib, Primitive
from .findings import ERROR, WARNING, Finding

DIRECTOR = "ocf:bacula:bacula-director"
CATALOG_CHECK = "ocf:bacula:bacula-catalog-check"
CONFIG_PULL = "ocf:bacula:bacula-config-pull"
DRBD = "ocf:linbit:drbd"
PAF = "ocf:heartbeat:pgsqlms"
VIP_AGENTS = ("ocf:heartbeat:IPaddr2", "ocf:heartbeat:IPaddr")
PROMOTED_ROLES = ("Promoted", "Master")
UNPROMOTED_ROLES = ("Unpromoted", "Slave")
TRUE = ("true", "yes", "1", "on", "y")
INFINITY = ("INFINITY", "+INFINITY", "inf", "+inf")
#: Pacemaker's timeout for an operation no op and no op_defaults give one.
DEFAULT_OP_TIMEOUT_S = 20.0
#: The Director's deep monitor (authenticated console request); see agents/bacula-director.
DIRECTOR_DEEP_LEVEL = 10

AgentSpecs = Dict[str, object]   # agent type -> declared Agent (from the agent executables)

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "msec": 0.001, "us": 1e-6, "usec": 1e-6,
          "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}
_PLAIN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$")
_ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                  r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def seconds(text: str) -> Optional[float]:
    """Pacemaker durations (30, 30s, 2min, 500ms, 1h) and ISO 8601 ones (PT60S, PT1M30S, P1D)."""
    plain = _PLAIN.match(text.lower())
    if plain and plain.group(2) in _UNITS:
        return float(plain.group(1)) * _UNITS[plain.group(2)]
    iso = _ISO.match(text.strip().upper())
    if iso and text.strip().upper() not in ("P", "PT") and not text.strip().upper().endswith("T"):
        years, months, weeks, days, hours, minutes, secs = (float(g) if g else 0.0 for g in iso.groups())
        return (((years * 365 + months * 30 + weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + secs
    return None


def _is_true(value: Optional[str], default: bool) -> bool:
    return default if value is None else value.strip().lower() in TRUE


def _crm_seconds(value: float) -> str:
    return f"{value:g}s"


# -- fencing ----------------------------------------------------------------------
def _stopped(cib: Cib, rsc_id: str) -> Optional[str]:
    """Why a resource cannot run (target-role Stopped on it or a parent), else None."""
    for element in cib.chain(rsc_id):
        if cib.meta_of(element).get("target-role", "").lower() == "stopped":
            return element
    return None


def _host_list(device: Primitive) -> Optional[List[str]]:
    """The nodes a device declares it can fence (None: it asks the device, pcmk_host_check dynamic-list)."""
    if "pcmk_host_list" in device.params:
        return [h for h in re.split(r"[\s,;]+", device.params["pcmk_host_list"]) if h]
    if "pcmk_host_map" in device.params:
        return [entry.split(":", 1)[0].strip() for entry in re.split(r"[\s;,]+", device.params["pcmk_host_map"])
                if entry.strip() and ":" in entry]
    return None


def _watchdog_fencing(cib: Cib) -> bool:
    """sbd without a disk: nodes self-fence through the watchdog (stonith-watchdog-timeout)."""
    value = cib.properties.get("stonith-watchdog-timeout", "0").strip()
    if value.startswith("-"):
        return True       # negative: derived from SBD_WATCHDOG_TIMEOUT
    secs = seconds(value)
    return bool(secs) and cib.properties.get("have-watchdog", "true").lower() not in ("false", "no", "0")


def check_fencing(cib: Cib) -> List[Finding]:
    found: List[Finding] = []
    enabled = cib.properties.get("fencing-enabled", cib.properties.get("stonith-enabled"))
    if not _is_true(enabled, True):
        found.append(Finding(ERROR, "stonith-enabled", "fencing is disabled: a lost node or a failed stop "
                                                       "cannot be recovered without risking two Directors",
                             "crm configure property stonith-enabled=true"))
    devices = [p for p in cib.primitives.values() if p.standard == "stonith"]
    active = []
    for device in devices:
        stopped_by = _stopped(cib, device.id)
        if stopped_by:
            found.append(Finding(ERROR, device.id, f"fencing device cannot be used: target-role=Stopped on "
                                                   f"{stopped_by}", f"crm resource start {stopped_by}"))
        else:
            active.append(device)
    watchdog = _watchdog_fencing(cib)
    if not active and not watchdog:
        found.append(Finding(ERROR, "fencing", "no usable fencing device is configured" +
                             (" (every one is stopped)" if devices else ""),
                             "add a stonith primitive per node, e.g. crm configure primitive fence_NODE "
                             "stonith:fence_ipmilan params ip=BMC pcmk_host_list=NODE ...; or sbd "
                             "(stonith-watchdog-timeout) for watchdog fencing"))
    if cib.nodes and active:
        found += _coverage(cib, active, watchdog)
    if cib.properties.get("no-quorum-policy", "stop") == "ignore":
        found.append(Finding(WARNING, "no-quorum-policy", "'ignore' lets a partition without quorum run the Director",
                             "crm configure property no-quorum-policy=stop (two nodes: corosync two_node: 1)"))
    if len(cib.nodes) == 2 and active:
        found += _fence_delay(cib, active, ERROR)
    elif not cib.nodes and active:
        found += _fence_delay(cib, active, WARNING)    # node count unknown (an offline CIB without nodes)
    return found


def _coverage(cib: Cib, active: List[Primitive], watchdog: bool) -> List[Finding]:
    """Every node can be fenced by some usable device; host lists name real nodes."""
    found: List[Finding] = []
    nodes = {n.lower(): n for n in cib.nodes}
    fenceable = set()
    for device in active:
        hosts = _host_list(device)
        if hosts is None:
            fenceable.update(nodes)       # dynamic: the device is asked which nodes it can fence
            continue
        strangers = [h for h in hosts if h.lower() not in nodes]
        if strangers:
            found.append(Finding(ERROR, device.id, f"pcmk_host_list names {', '.join(strangers)}, not a node of "
                                                   f"this cluster ({', '.join(cib.nodes)})",
                                 f"crm resource param {device.id} set pcmk_host_list <the node it fences>"))
        fenceable.update(h.lower() for h in hosts if h.lower() in nodes)
    if watchdog:
        return found
    for key, node in nodes.items():
        if key not in fenceable:
            found.append(Finding(ERROR, node, "no usable fencing device can fence this node",
                                 f"add a device for it, e.g. crm configure primitive fence_{node} stonith:... "
                                 f"params pcmk_host_list={node} ..., plus location l_fence_{node}_not_on_target "
                                 f"fence_{node} -inf: {node}"))
    return found


def _priorities(cib: Cib) -> bool:
    """Some resource (or the defaults) carries a priority: priority-fencing-delay has an effect."""
    values = [cib.rsc_defaults.get("priority", "0")] + [m.get("priority", "0") for m in cib.metas.values()]
    values += [p.meta.get("priority", "0") for p in cib.primitives.values()]
    return any(v.strip().lstrip("+").isdigit() and int(v.strip().lstrip("+")) > 0 for v in values)


def _fence_delay(cib: Cib, active: List[Primitive], severity: str) -> List[Finding]:
    priority_delay = seconds(cib.properties.get("priority-fencing-delay", "0")) or 0
    if priority_delay > 0 and _priorities(cib):
        return []
    for device in active:
        for name in ("pcmk_delay_max", "pcmk_delay_base"):
            if (seconds(device.params.get(name, "0")) or 0) > 0:
                return []
    group = _director_container(cib)
    if priority_delay > 0:
        return [Finding(severity, "priority-fencing-delay", "set, but no resource has a priority, so it delays "
                                                            "nothing: both nodes may shoot each other",
                        f"crm resource meta {group or 'GROUP'} set priority 10")]
    first = active[0].id
    return [Finding(severity, "fencing", "two-node cluster without a fence delay (priority-fencing-delay with a "
                                         "resource priority, or pcmk_delay_max/pcmk_delay_base): both nodes may "
                                         "shoot each other",
                    f"crm configure property priority-fencing-delay=15s and crm resource meta "
                    f"{group or 'GROUP'} set priority 10; or crm resource param {first} set pcmk_delay_max 15s")]


def _director_container(cib: Cib) -> Optional[str]:
    directors = cib.by_agent(DIRECTOR)
    return cib.container_of(directors[0].id) if directors else None


# -- management -------------------------------------------------------------------
def check_management(cib: Cib) -> List[Finding]:
    """Pacemaker must be managing the stack: neither maintenance nor unmanaged nor stopped."""
    found: List[Finding] = []
    if _is_true(cib.properties.get("maintenance-mode"), False):
        found.append(Finding(ERROR, "maintenance-mode", "the cluster is in maintenance mode: nothing is "
                                                        "monitored, recovered or failed over",
                             "crm configure property maintenance-mode=false"))
    for node, attrs in cib.node_attributes.items():
        if _is_true(attrs.get("maintenance"), False):
            found.append(Finding(ERROR, node, "node is in maintenance: resources on it are not monitored or "
                                              "recovered", f"crm node ready {node}"))
    if not _is_true(cib.rsc_defaults.get("is-managed"), True):
        found.append(Finding(ERROR, "rsc_defaults", "is-managed=false: resources are not managed by default",
                             "crm configure rsc_defaults is-managed=true"))
    ours = [p for p in cib.primitives.values()
            if p.agent in (DIRECTOR, CATALOG_CHECK, CONFIG_PULL, DRBD) or p.standard == "stonith"
            or (p.parent_group and any(cib.primitives[m].agent == DIRECTOR for m in cib.groups[p.parent_group]))]
    reported = set()
    for prim in ours:
        for element in cib.chain(prim.id):
            if element in reported:
                continue
            meta = cib.meta_of(element)
            if not _is_true(meta.get("is-managed"), True):
                reported.add(element)
                found.append(Finding(ERROR, element, "is-managed=false: Pacemaker neither monitors nor recovers it",
                                     f"crm resource manage {element}"))
            if _is_true(meta.get("maintenance"), False):
                reported.add(element)
                found.append(Finding(ERROR, element, "maintenance=true: Pacemaker neither monitors nor recovers it",
                                     f"crm resource meta {element} delete maintenance"))
            if prim.standard != "stonith" and meta.get("target-role", "").lower() == "stopped":
                reported.add(element)
                found.append(Finding(WARNING, element, "target-role=Stopped: the Director stack is held stopped",
                                     f"crm resource start {element}"))
    return found


# -- agent parameters and operations ----------------------------------------------
def check_parameters(cib: Cib, specs: AgentSpecs) -> List[Finding]:
    """Our primitives against the agents' own declarations (the checks the agents apply)."""
    from ...ocf.params import ParamProblem
    found: List[Finding] = []
    for prim in cib.primitives.values():
        if prim.standard != "ocf" or prim.provider != "bacula":
            continue
        agent = specs.get(prim.type)
        if agent is None:
            found.append(Finding(ERROR, prim.id, f"agent {prim.agent} is not installed on this node"))
            continue
        declared = {p.name: p for p in agent.params}
        for name in sorted(set(prim.params) - set(declared)):
            found.append(Finding(WARNING, prim.id, f"unknown parameter {name}",
                                 f"crm resource param {prim.id} delete {name}"))
        for spec in agent.params:
            raw = prim.params.get(spec.name)
            if raw is None:
                if spec.required:
                    found.append(Finding(ERROR, prim.id, f"required parameter {spec.name} is not set",
                                         f"crm resource param {prim.id} set {spec.name} VALUE"))
                continue
            try:
                spec.validate(raw)
            except ParamProblem as problem:
                found.append(Finding(ERROR, prim.id, str(problem),
                                     f"crm resource param {prim.id} set {spec.name} VALUE"))
        found.extend(_check_ops(cib, prim, agent))
    return found


def _op_timeout(cib: Cib, op: Optional[Dict[str, str]]) -> "tuple[Optional[float], str]":
    """(seconds, as written) of an op's timeout, else op_defaults', else Pacemaker's 20 s."""
    for source in (op or {}, cib.op_defaults):
        if source.get("timeout"):
            return seconds(source["timeout"]), source["timeout"]
    return DEFAULT_OP_TIMEOUT_S, f"{DEFAULT_OP_TIMEOUT_S:g}s (Pacemaker's default)"


def _recurring(op: Dict[str, str]) -> bool:
    return op.get("name") == "monitor" and (seconds(op.get("interval", "0")) or 0) > 0


def _check_ops(cib: Cib, prim: Primitive, agent) -> List[Finding]:
    found: List[Finding] = []
    advised = {a.name: a for a in agent.actions}
    for op in prim.ops:
        for attr in ("timeout", "interval"):
            if op.get(attr) and seconds(op[attr]) is None:
                found.append(Finding(ERROR, prim.id, f"{op.get('name')} {attr} {op[attr]!r} is not a duration",
                                     f"write it as 60s, 2min or PT60S (op id {op.get('id', '?')})"))
    needed = ["start", "stop"] + (["promote", "demote"] if prim.promotable else [])
    for name in needed + ["monitor"]:
        if name not in advised:
            continue
        ops = [op for op in prim.ops if op.get("name") == name] or ([None] if name != "monitor" else [])
        for op in ops:
            timeout, written = _op_timeout(cib, op)
            want = advised[name].timeout
            role = f" role={op['role']}" if op and op.get("role") else ""
            if timeout is not None and timeout < want:
                where = f"op {op['id']}" if op and op.get("id") else f"no {name} op"
                found.append(Finding(ERROR, prim.id, f"{name}{role} timeout {written} is below the agent's advised "
                                                     f"{want}s ({where})",
                                     f"op {name}{role} timeout={want}s on {prim.id} (crm configure edit {prim.id})"))
    recurring = [op for op in prim.ops if _recurring(op)]
    if not recurring:
        found.append(Finding(ERROR, prim.id, "no recurring monitor: failures will never be detected",
                             "; ".join(_advised_monitors(advised["monitor"], prim.id))
                             if "monitor" in advised else f"add a monitor op to {prim.id}"))
        return found
    if prim.agent == DIRECTOR and not any(_level(op) >= DIRECTOR_DEEP_LEVEL for op in recurring):
        found.append(Finding(ERROR, prim.id, "no depth-10 monitor: a hung Director (port open, no answer) is "
                                             "never detected",
                             f"op monitor interval=60s timeout=30s OCF_CHECK_LEVEL={DIRECTOR_DEEP_LEVEL} on {prim.id}"))
    if prim.promotable:
        roles = {op.get("role", "") for op in recurring}
        for wanted, names, interval in ((PROMOTED_ROLES[0], PROMOTED_ROLES, "29s"),
                                        (UNPROMOTED_ROLES[0], UNPROMOTED_ROLES, "30s")):
            if not roles & set(names):
                found.append(Finding(ERROR, prim.id, f"no monitor for the {wanted} role: "
                                                     + ("the deployed configuration is never checked"
                                                        if wanted == "Promoted" else "a fetch is never refreshed"),
                                     f"op monitor interval={interval} role={wanted} timeout="
                                     f"{advised['monitor'].timeout if 'monitor' in advised else 60}s on {prim.id} "
                                     "(intervals of the two roles must differ)"))
    return found


def _advised_monitors(action, prim_id: str) -> List[str]:
    """The agent's advertised monitor ops (its meta-data), as crm op clauses."""
    clauses = []
    for op in action.ops or ():
        words = ["op monitor", f"interval={op.interval or 10}s", f"timeout={op.timeout or action.timeout}s"]
        if op.role:
            words.append(f"role={op.role}")
        if op.depth:
            words.append(f"OCF_CHECK_LEVEL={op.depth}")
        clauses.append(" ".join(words) + f" on {prim_id}")
    return clauses or [f"op monitor interval=10s timeout={action.timeout}s on {prim_id}"]


def _level(op: Dict[str, str]) -> int:
    value = op.get("OCF_CHECK_LEVEL", op.get("depth", "0"))
    return int(value) if value.strip().isdigit() else 0


# -- placement --------------------------------------------------------------------
def _colocated(cib: Cib, rsc: str, with_rsc: str, promoted: bool) -> bool:
    for c in cib.colocations:
        if c.get("rsc") == rsc and c.get("with-rsc") == with_rsc and c.get("score", "") in INFINITY:
            if not promoted or c.get("with-rsc-role") in PROMOTED_ROLES:
                return True
    return False


def _promoted_together(cib: Cib, rsc: str, dependency: str) -> bool:
    """`rsc` is colocated with the Promoted role of some M whose Promoted role also carries
    `dependency`'s Promoted role (streaming: the group follows the PostgreSQL primary and
    the configuration is promoted with it)."""
    for c in cib.colocations:
        anchor = c.get("with-rsc")
        if c.get("rsc") == rsc and anchor != dependency and _colocated(cib, rsc, anchor, True):
            for d in cib.colocations:
                if (d.get("rsc") == dependency and d.get("with-rsc") == anchor
                        and d.get("rsc-role") in PROMOTED_ROLES and d.get("with-rsc-role") in PROMOTED_ROLES
                        and d.get("score", "") in ("INFINITY", "+INFINITY", "inf")):
                    return True
    return False


def _ordered(cib: Cib, first: str, then: str, first_action: str) -> bool:
    for o in cib.orders:
        if o.get("first") == first and o.get("then") == then and o.get("first-action", "start") == first_action:
            if o.get("kind", "Mandatory") == "Mandatory" and o.get("score", "INFINITY") not in ("0",):
                return True
    return False


def _runs_with_and_after(cib: Cib, later: Primitive, earlier: Primitive, promoted: bool) -> bool:
    """`later` runs on the node of `earlier` (its promoted instance) and starts after it."""
    if later.parent_group and later.parent_group == earlier.parent_group and not promoted:
        members = cib.groups[later.parent_group]
        return members.index(earlier.id) < members.index(later.id)
    a, b = cib.container_of(later.id), cib.container_of(earlier.id)
    together = _colocated(cib, a, b, promoted) or (promoted and _promoted_together(cib, a, b))
    return together and _ordered(cib, b, a, "promote" if promoted else "start")


def _placement_fix(cib: Cib, later: Primitive, earlier: Primitive, promoted: bool) -> str:
    a, b = cib.container_of(later.id), cib.container_of(earlier.id)
    if not promoted and later.parent_group and later.parent_group == earlier.parent_group:
        return f"in group {later.parent_group}, put {earlier.id} before {later.id}"
    role, action = (":Promoted", ":promote") if promoted else ("", "")
    parts = []
    if not _colocated(cib, a, b, promoted):
        parts.append(f"crm configure colocation col_{a}_with_{b} inf: {a} {b}{role}")
    if not _ordered(cib, b, a, "promote" if promoted else "start"):
        parts.append(f"crm configure order o_{b}_before_{a} Mandatory: {b}{action} {a}" + (":start" if promoted else ""))
    return "; ".join(parts)


def check_placement(cib: Cib) -> List[Finding]:
    found: List[Finding] = []
    directors = cib.by_agent(DIRECTOR)
    if len(directors) > 1:
        found.append(Finding(ERROR, directors[1].id, "more than one bacula-director resource",
                             f"crm configure delete {directors[1].id}"))
    for director in directors:
        if director.parent_clone:
            found.append(Finding(ERROR, director.id, "the Director must not be cloned: one Director at a time",
                                 f"take {director.id} out of clone {director.parent_clone}"))
        rules = [(p, False, "catalog-check") for p in cib.by_agent(CATALOG_CHECK)]
        rules += [(p, True, "the promoted config-pull") for p in cib.by_agent(CONFIG_PULL)]
        rules += [(p, True, "the DRBD Promoted role") for p in cib.by_agent(DRBD)]
        rules += [(p, True, "the PostgreSQL primary (PAF)") for p in cib.by_agent(PAF)]
        for dependency, promoted, label in rules:
            if not _runs_with_and_after(cib, director, dependency, promoted):
                found.append(Finding(ERROR, director.id,
                                     f"not colocated with and ordered after {label} ({dependency.id})",
                                     _placement_fix(cib, director, dependency, promoted)))
        vips = [p for p in cib.primitives.values() if p.agent in VIP_AGENTS]
        tied = [v for v in vips if _runs_with_and_after(cib, v, director, False)
                or _colocated(cib, cib.container_of(v.id), cib.container_of(director.id), False)]
        if vips and not tied:
            # an IPaddr2 tied to nothing of ours may serve something else: say which one we mean
            container = cib.container_of(director.id)
            found.append(Finding(WARNING, director.id, "no floating IP runs with the Director: clients reach it "
                                                       f"only by a node address (IPaddr2 resources here: "
                                                       f"{', '.join(v.id for v in vips)})",
                                 f"add the VIP to group {container} after {director.id}"
                                 if container in cib.groups else
                                 f"crm configure colocation col_VIP_with_{container} inf: VIP {container}"))
        elif not vips:
            found.append(Finding(WARNING, director.id, "no floating IP (IPaddr2): clients reach the Director "
                                                       "only by a node address",
                                 "crm configure primitive p_vip IPaddr2 params ip=VIP cidr_netmask=PREFIX, "
                                 f"then add it to the Director's group after {director.id}"))
    if cib.raw is not None and cib.raw.find(".//resource_set") is not None:
        found.append(Finding(WARNING, "constraints", "resource sets are not analysed; placement findings may be incomplete"))
    return found


def check_director_address(cib: Cib, specs: AgentSpecs) -> List[Finding]:
    """The Director's DirAddress against the CIB, where its configuration is readable here.

    The agent refuses a loopback-only Director and one whose address is not on the node
    (the VIP started after it); here the same mistakes are found before any start.
    """
    from ...agents.director.conf import ConfError, parse_file
    from ...agents.director.reach import is_loopback, loopback_only
    from ...agents.director.settings import from_director_config
    found: List[Finding] = []
    agent = specs.get("bacula-director")
    default = next((p.default for p in agent.params if p.name == "config"), None) if agent else None
    for director in cib.by_agent(DIRECTOR):
        path = director.params.get("config", default)
        if not path or not path.startswith("/"):
            continue
        try:
            listen = from_director_config(parse_file(path))[3]
        except (ConfError, OSError):
            continue              # not on this machine (another node, not mounted): nothing to say
        reason = loopback_only(listen)
        if reason:
            found.append(Finding(ERROR, director.id, f"{path}: {reason}", f"remove DirAddress from {path}"))
            continue
        for vip in (p for p in cib.primitives.values() if p.agent in VIP_AGENTS):
            ip = vip.params.get("ip", "")
            if not ip or not any(addr == ip for addr, _port in listen if not is_loopback(addr)):
                continue
            if not _runs_with_and_after(cib, director, vip, False):
                group = director.parent_group
                found.append(Finding(ERROR, director.id, f"{path}: DirAddress {ip} is the address of {vip.id}, "
                                                         f"which does not start before {director.id}: the "
                                                         "Director cannot bind it",
                                     f"remove DirAddress from {path} (listen on all addresses)" +
                                     (f", or in group {group} put {vip.id} before {director.id}"
                                      if group and group == vip.parent_group else "")))
    return found


def check_all(cib: Cib, specs: AgentSpecs, local_files: bool = False) -> List[Finding]:
    """Every rule; `local_files`: also read the files the CIB names from this machine (a live
    cluster's node, not a CIB copied from elsewhere)."""
    checks: List[Callable[[], List[Finding]]] = [
        lambda: check_fencing(cib), lambda: check_management(cib), lambda: check_parameters(cib, specs),
        lambda: check_placement(cib)]
    if local_files:
        checks.append(lambda: check_director_address(cib, specs))
    return [f for check in checks for f in check()]
