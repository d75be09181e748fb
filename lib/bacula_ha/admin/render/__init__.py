# SPDX-License-Identifier: GPL-2.0-or-later
"""Render the shipped crm shell / pcs snippets with site values.

`render(arch, fmt, values)` validates the values (RenderError lists every
problem) and returns the text; `bacula-ha render` is the command line.
"""

from __future__ import annotations

from typing import Iterator, List, Mapping

from . import crm, pcs
from .architectures import BUILDERS
from .model import Clone, Config, Group, Primitive
from .values import ARCHITECTURES, RenderError, SiteValues, resolve

FORMATS = ("crm", "pcs")

TITLES = {
    "drbd": ["bacula-ha, architecture 1: catalog on DRBD.",
             "ocf:linbit:drbd (promotable) -> Filesystem -> pgsql -> bacula-catalog-check",
             "-> bacula-director -> IPaddr2, one group on the DRBD Primary, STONITH on."],
    "git": ["bacula-ha, architecture 2: configuration from Git, external catalog.",
            "bacula-config-pull (promotable, all Director nodes) -> bacula-catalog-check (external)",
            "-> bacula-director -> IPaddr2, one group on the Promoted config-pull, STONITH on."],
    "shared": ["bacula-ha, architecture 3: catalog on shared storage (SAN LUN or NFS).",
               "Filesystem -> pgsql -> bacula-catalog-check -> bacula-director -> IPaddr2,",
               "one group, STONITH on."],
    "streaming": ["bacula-ha, architecture 4: catalog by PostgreSQL streaming replication (PAF).",
                  "ocf:heartbeat:pgsqlms (promotable, one PostgreSQL per node, synchronous standby)",
                  "+ bacula-config-pull (promotable) -> bacula-catalog-check (local) -> bacula-director",
                  "-> IPaddr2, one group on the Promoted catalog, STONITH on."],
    "dfs": ["bacula-ha, architecture 5: external catalog, configuration on a distributed file system.",
            "Filesystem clone (every node, or mounted by the system) -> bacula-catalog-check (external)",
            "-> bacula-director -> IPaddr2, one group, STONITH on."],
}

__all__ = ["ARCHITECTURES", "FORMATS", "RenderError", "SiteValues", "render", "render_values", "resolve"]


def _primitives(config: Config) -> Iterator[Primitive]:
    for resource in config.resources:
        if isinstance(resource, Group):
            yield from resource.members
        elif isinstance(resource, Clone):
            yield resource.child
        else:
            yield resource


def agent_problems(config: Config) -> List[str]:
    """Every bacula agent parameter of `config` checked by the agent's own declaration.

    Most values were checked per key already; this also covers values built from
    several keys (the git Director's config = config_dir + main_config).
    """
    from ...ocf.params import ParamProblem
    from ..cibcheck.sources import agent_declarations
    specs = agent_declarations()
    problems: List[str] = []
    for prim in _primitives(config):
        _standard, provider, kind = (prim.agent.split(":") + ["", ""])[:3]
        if provider != "bacula" or kind not in specs:
            continue
        declared = {p.name: p for p in specs[kind].params}
        for name, value in prim.params:
            spec = declared.get(name)
            if spec is None:
                problems.append(f"{prim.id}: {kind} has no parameter {name}")
                continue
            try:
                spec.validate(value)
            except ParamProblem as problem:
                problems.append(f"{prim.id}: {kind} refuses {value!r}: {problem}")
    return problems


def render_values(values: SiteValues, fmt: str) -> str:
    config = BUILDERS[values.arch](values)
    problems = agent_problems(config)
    if problems:
        raise RenderError(problems)
    config.header = TITLES[values.arch] + [
        "Fencing: " + values.fencing + "; see README.md in crm-snippets for the other methods.",
    ]
    if fmt == "crm":
        config.header += ["", "Load: crm configure load update THIS_FILE"]
        return crm.emit(config)
    if fmt == "pcs":
        return pcs.emit(config)
    raise RenderError([f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})"])


def render(arch: str, fmt: str, given: Mapping[str, str], example: bool = False) -> str:
    """Validate `given` for `arch` and return the configuration text in `fmt`."""
    if fmt not in FORMATS:
        raise RenderError([f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})"])
    return render_values(resolve(arch, given, example=example), fmt)
