"""The rules: fencing, agent parameters and timeouts, and where the Director may run."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional

from .cib import Cib, Primitive
from .findings import ERROR, WARNING, Finding

DIRECTOR = "ocf:bacula:bacula-director"
CATALOG_CHECK = "ocf:bacula:bacula-catalog-check"
CONFIG_PULL = "ocf:bacula:bacula-config-pull"
DRBD = "ocf:linbit:drbd"
PAF = "ocf:heartbeat:pgsqlms"
VIP_AGENTS = ("ocf:heartbeat:IPaddr2", "ocf:heartbeat:IPaddr")
PROMOTED_ROLES = ("Promoted", "Master")
TRUE = ("true", "yes", "1", "on", "y")

AgentSpecs = Dict[str, object]   # agent type -> declared Agent (from the agent executables)


def _is_true(value: Optional[str], default: bool) -> bool:
    return default if value is None else value.strip().lower() in TRUE


def _seconds(text: str) -> Optional[float]:
    """Pacemaker durations: 30, 30s, 2min, 1m, 1h, 500ms."""
    text = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("msec", 0.001), ("min", 60), ("m", 60), ("h", 3600),
                           ("hr", 3600), ("s", 1), ("sec", 1)):
        if text.endswith(suffix) and text[: -len(suffix)].strip().replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text) if text.replace(".", "", 1).isdigit() else None


def check_fencing(cib: Cib) -> List[Finding]:
    found: List[Finding] = []
    enabled = cib.properties.get("fencing-enabled", cib.properties.get("stonith-enabled"))
    if not _is_true(enabled, True):
        found.append(Finding(ERROR, "stonith-enabled", "fencing is disabled: a lost node or a failed stop "
                                                       "cannot be recovered without risking two Directors"))
    devices = [p for p in cib.primitives.values() if p.standard == "stonith"]
    if not devices:
        found.append(Finding(ERROR, "fencing", "no fencing device is configured"))
    if cib.properties.get("no-quorum-policy", "stop") == "ignore":
        found.append(Finding(WARNING, "no-quorum-policy", "'ignore' lets a partition without quorum run the Director"))
    if cib.node_count in (0, 2):
        delayed = "priority-fencing-delay" in cib.properties or any(
            "pcmk_delay_max" in p.params or "pcmk_delay_base" in p.params for p in devices)
        if devices and not delayed:
            found.append(Finding(WARNING, "fencing", "two-node cluster without priority-fencing-delay or "
                                                     "pcmk_delay_max: both nodes may shoot each other"))
    return found


def check_parameters(cib: Cib, specs: AgentSpecs) -> List[Finding]:
    """Our primitives against the agents' own declarations."""
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
            found.append(Finding(WARNING, prim.id, f"unknown parameter {name}"))
        for spec in agent.params:
            raw = prim.params.get(spec.name)
            if raw is None:
                if spec.required:
                    found.append(Finding(ERROR, prim.id, f"required parameter {spec.name} is not set"))
                continue
            try:
                spec.validate(raw)
            except ParamProblem as problem:
                found.append(Finding(ERROR, prim.id, str(problem)))
        found.extend(_check_ops(prim, agent))
    return found


def _check_ops(prim: Primitive, agent) -> List[Finding]:
    found: List[Finding] = []
    declared = {a.name: a.timeout for a in agent.actions}
    has_monitor = False
    for op in prim.ops:
        name = op.get("name", "")
        has_monitor = has_monitor or (name == "monitor" and _seconds(op.get("interval", "0")) not in (0, None))
        timeout = _seconds(op.get("timeout", "")) if op.get("timeout") else None
        if name in declared and timeout is not None and timeout < declared[name]:
            found.append(Finding(WARNING, prim.id, f"{name} timeout {op['timeout']} is below the agent's "
                                                   f"advised {declared[name]}s"))
    if not has_monitor:
        found.append(Finding(WARNING, prim.id, "no recurring monitor: failures will never be detected"))
    return found


def _colocated(cib: Cib, rsc: str, with_rsc: str, promoted: bool) -> bool:
    for c in cib.colocations:
        if c.get("rsc") == rsc and c.get("with-rsc") == with_rsc and c.get("score", "") in ("INFINITY", "+INFINITY", "inf"):
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


def check_placement(cib: Cib) -> List[Finding]:
    found: List[Finding] = []
    directors = cib.by_agent(DIRECTOR)
    if len(directors) > 1:
        found.append(Finding(ERROR, directors[1].id, "more than one bacula-director resource"))
    for director in directors:
        if director.parent_clone:
            found.append(Finding(ERROR, director.id, "the Director must not be cloned: one Director at a time"))
        rules = [(p, False, "catalog-check") for p in cib.by_agent(CATALOG_CHECK)]
        rules += [(p, True, "the promoted config-pull") for p in cib.by_agent(CONFIG_PULL)]
        rules += [(p, True, "the DRBD Promoted role") for p in cib.by_agent(DRBD)]
        rules += [(p, True, "the PostgreSQL primary (PAF)") for p in cib.by_agent(PAF)]
        for dependency, promoted, label in rules:
            if not _runs_with_and_after(cib, director, dependency, promoted):
                found.append(Finding(ERROR, director.id, f"not colocated with and ordered after {label} ({dependency.id})"))
        primaries = [cib.container_of(p.id) for p in cib.by_agent(PAF)]
        for vip in (p for p in cib.primitives.values() if p.agent in VIP_AGENTS
                    # streaming's replication address follows the PostgreSQL primary, not the Director
                    and not any(_colocated(cib, cib.container_of(p.id), m, True) for m in primaries)):
            if not (_runs_with_and_after(cib, vip, director, False)
                    or _colocated(cib, cib.container_of(vip.id), cib.container_of(director.id), False)):
                found.append(Finding(WARNING, vip.id, f"floating IP not kept with the Director ({director.id})"))
    if cib.raw is not None and cib.raw.find(".//resource_set") is not None:
        found.append(Finding(WARNING, "constraints", "resource sets are not analysed; placement findings may be incomplete"))
    return found


def check_all(cib: Cib, specs: AgentSpecs) -> List[Finding]:
    checks: Iterable[Callable[[], List[Finding]]] = (
        lambda: check_fencing(cib), lambda: check_parameters(cib, specs), lambda: check_placement(cib))
    return [f for check in checks for f in check()]
