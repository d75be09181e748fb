# SPDX-License-Identifier: GPL-2.0-or-later
"""What Pacemaker tells an agent through its environment, parsed once."""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs ~2 ms at start-up; type checkers still see the import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, Mapping

CHECK_LEVELS = (0, 10, 20)


def process_environ() -> Dict[str, str]:
    """This process's environment as text, the way `os.environ` decodes it.

    Read from `posix`: importing `os` costs a probe about a quarter of the
    interpreter's own start (its `_collections_abc`), and no probe needs it.
    """
    from posix import environ
    return {key.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
            for key, value in environ.items()}


def _int(raw: str, default: int = 0) -> int:
    try:
        return int(raw.strip())
    except (ValueError, AttributeError):
        return default


def effective_check_level(raw: str) -> int:
    """OCF: an unimplemented depth falls back to the next lower one (0, 10, 20)."""
    wanted = _int(raw, 0)
    return max((lvl for lvl in CHECK_LEVELS if lvl <= wanted), default=0)


class OcfEnv:
    """The action's context: who we are and how Pacemaker runs us.

    A plain class (no dataclass): `dataclasses` costs ~10 ms to import on every probe.
    """

    __slots__ = ("action", "instance", "resource_type", "interval_ms", "timeout_ms", "check_level",
                 "role", "node", "rsctmp", "ocf_root")

    def __init__(self, action: str, instance: str, resource_type: str, interval_ms: int, timeout_ms: int,
                 check_level: int, role: str, node: str, rsctmp: str, ocf_root: str) -> None:
        self.action = action
        self.instance = instance
        self.resource_type = resource_type
        self.interval_ms = interval_ms
        self.timeout_ms = timeout_ms
        self.check_level = check_level
        self.role = role
        self.node = node
        self.rsctmp = rsctmp
        self.ocf_root = ocf_root

    @classmethod
    def from_environ(cls, action: str, environ: "Mapping[str, str]", agent_name: str) -> "OcfEnv":
        get = environ.get
        return cls(
            action=action,
            instance=get("OCF_RESOURCE_INSTANCE", "") or agent_name,
            resource_type=get("OCF_RESOURCE_TYPE", "") or agent_name,
            interval_ms=_int(get("OCF_RESKEY_CRM_meta_interval", "0")),
            timeout_ms=_int(get("OCF_RESKEY_CRM_meta_timeout", "0")),
            check_level=effective_check_level(get("OCF_CHECK_LEVEL", "0")),
            role=get("OCF_RESKEY_CRM_meta_role", ""),
            node=get("OCF_RESKEY_CRM_meta_on_node", ""),
            rsctmp=get("HA_RSCTMP", "") or "/run/resource-agents",
            ocf_root=get("OCF_ROOT", "") or "/usr/lib/ocf",
        )

    @property
    def is_probe(self) -> bool:
        """A one-shot monitor (interval 0): Pacemaker asks "is it running here?"."""
        return self.action == "monitor" and self.interval_ms == 0

    @property
    def monitors_promoted(self) -> bool:
        """The recurring monitor configured for the Promoted role."""
        return self.role in ("Promoted", "Master")

    @property
    def clone_free_instance(self) -> str:
        """Instance name without a clone suffix (`p_cfg:1` -> `p_cfg`)."""
        return self.instance.split(":", 1)[0]
