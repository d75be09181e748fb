# SPDX-License-Identifier: GPL-2.0-or-later
"""Pacemaker node attributes: promotion scores and transient per-node values.

Thin wrappers over `crm_attribute`, bounded by the action's deadline. They
report failure instead of raising: an agent run outside a cluster (ocf-tester,
`crm_resource --force-*`) has no attribute manager to talk to.

crm_attribute gets a minimal environment: PATH, the resource instance and the few
variables Pacemaker's tools read (CIB_file for an offline CIB, the bundle target
hints), never the agent's OCF_RESKEY_* parameters or HOME.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, Mapping, Optional

from .command import run
from .deadline import Deadline
from .log import Log

CRM_ATTRIBUTE = "crm_attribute"

#: One attribute update should take milliseconds; never let it eat an action.
ATTR_TIMEOUT_S = 5.0

#: crm_attribute's exit code for "no such attribute" (CRM_EX_NOSUCH).
_NOSUCH = 105

#: Variables passed through to crm_attribute (offline CIB, bundle node target).
_PASSED = ("CIB_file", "CIB_shadow", "CIB_shadow_dir", "OCF_RESKEY_CRM_meta_container_attribute_target",
           "OCF_RESKEY_CRM_meta_physical_host")


def tool_env(instance: str = "", environ: "Optional[Mapping[str, str]]" = None) -> "Dict[str, str]":
    """The minimal environment of a Pacemaker command-line tool run by an agent."""
    source = os.environ if environ is None else environ
    env = {"PATH": source.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    env.update({k: source[k] for k in _PASSED if source.get(k)})
    if instance:
        env["OCF_RESOURCE_INSTANCE"] = instance
    return env


def _crm_attribute(args, deadline: Deadline, log: Log, instance: str,
                   environ: "Optional[Mapping[str, str]]" = None) -> Optional[str]:
    try:
        result = run([CRM_ATTRIBUTE, *args], deadline, timeout=ATTR_TIMEOUT_S,
                     env=tool_env(instance, environ), replace_env=True)
    except Exception as exc:  # not installed, timed out: the caller decides
        log.warning(f"crm_attribute {' '.join(args[:2])} failed: {exc}")
        return None
    if not result.ok:
        log.debug(f"crm_attribute {' '.join(args)}: {result.first_line()}")
        return None
    return result.stdout.strip()


def set_promotion_score(score: int, deadline: Deadline, log: Log, instance: str,
                        environ: "Optional[Mapping[str, str]]" = None) -> bool:
    """This node's promotion score for the clone `instance` belongs to (lifetime reboot)."""
    return _crm_attribute(["--promotion", "-v", str(int(score))], deadline, log, instance,
                          environ) is not None


def delete_promotion_score(deadline: Deadline, log: Log, instance: str,
                           environ: "Optional[Mapping[str, str]]" = None) -> bool:
    return _crm_attribute(["--promotion", "-D"], deadline, log, instance, environ) is not None


def get_cluster_property(name: str, deadline: Deadline, log: Log,
                         environ: "Optional[Mapping[str, str]]" = None) -> Optional[str]:
    """A cluster-wide value (crm_config) every node sees: "" when unset, None when the CIB
    could not be asked (outside a cluster)."""
    try:
        result = run([CRM_ATTRIBUTE, "--type", "crm_config", "--name", name, "--query", "--quiet"],
                     deadline, timeout=ATTR_TIMEOUT_S, env=tool_env("", environ), replace_env=True)
    except Exception as exc:
        log.warning(f"crm_attribute --query {name} failed: {exc}")
        return None
    if result.ok:
        return result.stdout.strip()
    if result.returncode == _NOSUCH:
        return ""
    log.debug(f"crm_attribute --query {name}: {result.first_line()}")
    return None


def set_cluster_property(name: str, value: str, deadline: Deadline, log: Log,
                         environ: "Optional[Mapping[str, str]]" = None) -> bool:
    return _crm_attribute(["--type", "crm_config", "--name", name, "--update", value], deadline, log,
                          "", environ) is not None


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
