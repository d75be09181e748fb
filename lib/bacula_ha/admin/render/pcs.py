# SPDX-License-Identifier: GPL-2.0-or-later
"""Emit a Config as a POSIX sh script of `pcs -f CIB_FILE ...` commands.

Working on a CIB file and pushing it once (README) makes the change atomic:
the cluster never sees a half-built group.
"""

from __future__ import annotations

from typing import List

from .model import Clone, Colocation, Config, Group, Location, Order, Pairs, Primitive, comment_lines
from .quoting import sh_word

INDENT = "    "
PCS = 'pcs -f "$cib"'


def _pairs(pairs: Pairs) -> List[str]:
    return [sh_word(f"{k}={v}") for k, v in pairs]


def _command(head: str, lines: List[str]) -> str:
    return (" \\\n" + INDENT).join([head] + [l for l in lines if l])


def _primitive(p: Primitive, group: str = "") -> List[str]:
    if p.is_stonith:
        head = f"{PCS} stonith create {p.id} {p.agent.split(':', 1)[1]}"
    else:
        head = f"{PCS} resource create {p.id} {p.agent}"
    lines = [" ".join(_pairs(p.params))]
    lines += [op.words() for op in p.ops]
    if p.meta:
        lines.append("meta " + " ".join(_pairs(p.meta)))
    tail = "" if p.is_stonith else "--no-default-ops"
    if group:
        tail += f" --group {group}"
    lines.append(tail.strip())
    return comment_lines(p.comment) + [_command(head, lines)]


def emit(config: Config) -> str:
    out: List[str] = ["#!/bin/sh", "# shellcheck disable=SC1010  # 'then' is a pcs word here, not sh syntax"]
    out += [f"# {line}".rstrip() for line in config.header]
    out += [
        "#",
        "# Usage: pcs cluster cib bacula.xml && sh THIS_FILE bacula.xml \\",
        "#        && pcs cluster cib-push bacula.xml --config",
        "set -eu",
        'cib=${1:?usage: sh THIS_FILE CIB_FILE}',
        "",
    ]
    for res in config.resources:
        if isinstance(res, Primitive):
            out += _primitive(res)
        elif isinstance(res, Clone):
            out += _primitive(res.child)
            out += comment_lines(res.comment)
            # pcs sets promotable=true itself
            kind = "promotable" if ("promotable", "true") in tuple(res.meta) else "clone"
            out.append(_command(f"{PCS} resource {kind} {res.child.id} {res.id}",
                                [" ".join(_pairs([(k, v) for k, v in res.meta if k != "promotable"]))]))
        elif isinstance(res, Group):
            for member in res.members:
                out += _primitive(member, group=res.id)
            if res.meta:
                out += comment_lines(res.comment)
                out.append(f"{PCS} resource meta {res.id} " + " ".join(_pairs(res.meta)))
        out.append("")
    for c in config.constraints:
        out += comment_lines(c.comment)
        if isinstance(c, Colocation):
            role = f"{c.with_role} " if c.with_role else ""
            own = f"{c.rsc_role} " if c.rsc_role else ""
            out.append(f"{PCS} constraint colocation add {own}{c.rsc} with {role}{c.with_rsc} {c.score} id={c.id}")
        elif isinstance(c, Order):
            out.append(f"{PCS} constraint order {c.first_action} {c.first} then {c.then_action} {c.then}"
                       f" kind={c.kind} id={c.id}")
        elif isinstance(c, Location) and c.rule:
            role = f" role={c.role}" if c.role else ""
            out.append(f"{PCS} constraint location {c.rsc} rule constraint-id={c.id}{role} score={c.score} {c.rule}")
        elif isinstance(c, Location):
            # "--": a score such as -INFINITY must not be read as an option
            out.append(f"{PCS} -- constraint location add {c.id} {c.rsc} {c.node} {c.score}")
    out.append("")
    if config.properties:
        out += comment_lines(config.properties_comment)
        out.append(f"{PCS} property set " + " ".join(_pairs(config.properties)))
    if config.rsc_defaults:
        out += comment_lines(config.defaults_comment)
        out.append(f"{PCS} resource defaults update " + " ".join(_pairs(config.rsc_defaults)))
    return "\n".join(out).rstrip("\n") + "\n"
