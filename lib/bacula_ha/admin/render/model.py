# SPDX-License-Identifier: GPL-2.0-or-later
"""A tiny model of the Pacemaker configuration we ship.

One model, two emitters (crm shell and pcs): writing each architecture once
keeps the crm snippet and its pcs twin equivalent by construction; the tests
still prove it by loading both into CIB files and comparing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

Pairs = Sequence[Tuple[str, str]]


@dataclass(frozen=True)
class Op:
    name: str
    interval: str
    timeout: str
    role: Optional[str] = None          # "Promoted" / "Unpromoted"
    check_level: Optional[int] = None   # OCF_CHECK_LEVEL (monitor depth)

    def words(self) -> str:
        """The op as both crm shell and pcs write it: `op NAME interval=.. timeout=.. [role=..]`."""
        words = [f"op {self.name}", f"interval={self.interval}", f"timeout={self.timeout}"]
        if self.role:
            words.append(f"role={self.role}")
        if self.check_level is not None:
            words.append(f"OCF_CHECK_LEVEL={self.check_level}")
        return " ".join(words)


def comment_lines(text: str) -> List[str]:
    """`# ` comment lines for a snippet (crm shell and sh share the syntax)."""
    return [f"# {line}".rstrip() for line in text.splitlines()] if text else []


@dataclass
class Primitive:
    id: str
    agent: str                          # "ocf:heartbeat:IPaddr2", "stonith:fence_ipmilan"
    params: Pairs = ()
    ops: Sequence[Op] = ()
    meta: Pairs = ()
    comment: str = ""

    @property
    def is_stonith(self) -> bool:
        return self.agent.startswith("stonith:")


@dataclass
class Clone:
    """A clone of one primitive (promotable when its meta says promotable=true)."""
    id: str
    child: Primitive
    meta: Pairs = ()
    comment: str = ""


@dataclass
class Group:
    id: str
    members: List[Primitive]
    meta: Pairs = ()
    comment: str = ""


@dataclass(frozen=True)
class Colocation:
    id: str
    rsc: str
    with_rsc: str
    with_role: Optional[str] = None
    score: str = "INFINITY"
    rsc_role: Optional[str] = None      # e.g. one Promoted role with another
    comment: str = ""


@dataclass(frozen=True)
class Order:
    id: str
    first: str
    first_action: str
    then: str
    then_action: str
    kind: str = "Mandatory"
    comment: str = ""


@dataclass(frozen=True)
class Location:
    id: str
    rsc: str
    node: str
    score: str                          # "-INFINITY", "100"
    comment: str = ""
    rule: str = ""                      # instead of `node`: a rule expression ("not_defined ATTR")
    role: Optional[str] = None          # with `rule`: the role it applies to


Resource = Union[Primitive, Clone, Group]
Constraint = Union[Colocation, Order, Location]


@dataclass
class Config:
    """Everything one architecture puts into the CIB, in load order."""
    title: str
    header: List[str] = field(default_factory=list)     # comment lines at the top
    resources: List[Resource] = field(default_factory=list)
    constraints: List[Constraint] = field(default_factory=list)
    properties: Pairs = ()
    rsc_defaults: Pairs = ()
    properties_comment: str = ""
    defaults_comment: str = ""
