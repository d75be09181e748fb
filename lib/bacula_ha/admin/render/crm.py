# SPDX-License-Identifier: GPL-2.0-or-later
"""Emit a Config as crm shell text for `crm configure load update FILE`."""

from __future__ import annotations

from typing import List

from .model import Clone, Colocation, Config, Group, Location, Order, Pairs, Primitive, comment_lines
from .quoting import crm_value

INDENT = "    "


def _pairs(pairs: Pairs) -> str:
    return " ".join(f"{k}={crm_value(v)}" for k, v in pairs)


def _primitive(p: Primitive) -> List[str]:
    parts = [f"primitive {p.id} {p.agent}"]
    if p.params:
        parts.append("params " + _pairs(p.params))
    if p.meta:
        parts.append("meta " + _pairs(p.meta))
    parts.extend(op.words() for op in p.ops)
    return comment_lines(p.comment) + [(" \\\n" + INDENT).join(parts)]


def _with_meta(head: str, meta: Pairs) -> str:
    return head + (" \\\n" + INDENT + "meta " + _pairs(meta) if meta else "")


def emit(config: Config) -> str:
    out: List[str] = [f"# {line}".rstrip() for line in config.header]
    out.append("")
    for res in config.resources:
        if isinstance(res, Primitive):
            out += _primitive(res)
        elif isinstance(res, Clone):
            out += _primitive(res.child)
            out += comment_lines(res.comment) + [_with_meta(f"clone {res.id} {res.child.id}", res.meta)]
        elif isinstance(res, Group):
            for member in res.members:
                out += _primitive(member)
            members = " ".join(m.id for m in res.members)
            out += comment_lines(res.comment) + [_with_meta(f"group {res.id} {members}", res.meta)]
        out.append("")
    for c in config.constraints:
        out += comment_lines(c.comment)
        if isinstance(c, Colocation):
            target = f"{c.with_rsc}:{c.with_role}" if c.with_role else c.with_rsc
            source = f"{c.rsc}:{c.rsc_role}" if c.rsc_role else c.rsc
            out.append(f"colocation {c.id} {c.score}: {source} {target}")
        elif isinstance(c, Order):
            out.append(f"order {c.id} {c.kind}: {c.first}:{c.first_action} {c.then}:{c.then_action}")
        elif isinstance(c, Location) and c.rule:
            role = f" $role={c.role}" if c.role else ""
            out.append(f"location {c.id} {c.rsc} rule{role} {c.score}: {c.rule}")
        elif isinstance(c, Location):
            out.append(f"location {c.id} {c.rsc} {c.score}: {c.node}")
    out.append("")
    if config.properties:
        out += comment_lines(config.properties_comment)
        out.append("property " + _pairs(config.properties))
    if config.rsc_defaults:
        out += comment_lines(config.defaults_comment)
        out.append("rsc_defaults " + _pairs(config.rsc_defaults))
    return "\n".join(out).rstrip("\n") + "\n"
