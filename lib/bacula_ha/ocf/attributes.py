"""Pacemaker node attributes: promotion scores and transient per-node values.

Thin wrappers over `crm_attribute`, bounded by the action's deadline. They
report failure instead of raising: an agent run outside a cluster (ocf-tester,
`crm_resource --force-*`) has no attribute manager to talk to.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

from .command import run
from .deadline import Deadline
from .log import Log

CRM_ATTRIBUTE = "crm_attribute"

#: One attribute update should take milliseconds; never let it eat an action.
ATTR_TIMEOUT_S = 5.0


def _crm_attribute(args, deadline: Deadline, log: Log, instance: str) -> Optional[str]:
    env = {"OCF_RESOURCE_INSTANCE": instance} if instance else None
    try:
        result = run([CRM_ATTRIBUTE, *args], deadline, timeout=ATTR_TIMEOUT_S, env=env)
    except Exception as exc:  # not installed, timed out: the caller decides
        log.warning(f"crm_attribute {' '.join(args[:2])} failed: {exc}")
        return None
    if not result.ok:
        log.debug(f"crm_attribute {' '.join(args)}: {result.first_line()}")
        return None
    return result.stdout.strip()


def set_promotion_score(score: int, deadline: Deadline, log: Log, instance: str) -> bool:
    """This node's promotion score for the clone `instance` belongs to (lifetime reboot)."""
    return _crm_attribute(["--promotion", "-v", str(int(score))], deadline, log, instance) is not None


def delete_promotion_score(deadline: Deadline, log: Log, instance: str) -> bool:
    return _crm_attribute(["--promotion", "-D"], deadline, log, instance) is not None


def get_promotion_score(deadline: Deadline, log: Log, instance: str) -> Optional[int]:
    out = _crm_attribute(["--promotion", "-G", "-q"], deadline, log, instance)
    try:
        return int(out) if out else None
    except ValueError:
        return None


def set_node_attribute(name: str, value: str, deadline: Deadline, log: Log,
                       node: Optional[str] = None, lifetime: str = "reboot") -> bool:
    """A transient (`reboot`) or permanent (`forever`) attribute of a node (this one by default)."""
    args = ["-n", name, "-v", value, "-l", lifetime] + (["-N", node] if node else [])
    return _crm_attribute(args, deadline, log, "") is not None


def get_node_attribute(name: str, deadline: Deadline, log: Log, node: Optional[str] = None,
                       lifetime: str = "reboot") -> Optional[str]:
    args = ["-n", name, "-G", "-q", "-l", lifetime] + (["-N", node] if node else [])
    return _crm_attribute(args, deadline, log, "")


def delete_node_attribute(name: str, deadline: Deadline, log: Log, node: Optional[str] = None,
                          lifetime: str = "reboot") -> bool:
    args = ["-n", name, "-D", "-l", lifetime] + (["-N", node] if node else [])
    return _crm_attribute(args, deadline, log, "") is not None
