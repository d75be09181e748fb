# SPDX-License-Identifier: GPL-2.0-or-later
"""Read the parts of a CIB the checks need (lxml, loaded lazily by the caller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


class NotACib(ValueError):
    """The XML is well-formed but is not a Pacemaker CIB (checking it would report nonsense)."""


@dataclass
class Primitive:
    id: str
    standard: str
    provider: str
    type: str
    params: Dict[str, str]
    ops: List[Dict[str, str]]                # op attributes plus its instance attributes (OCF_CHECK_LEVEL)
    parent_group: Optional[str] = None
    parent_clone: Optional[str] = None
    promotable: bool = False
    meta: Dict[str, str] = field(default_factory=dict)

    @property
    def agent(self) -> str:
        return ":".join(x for x in (self.standard, self.provider, self.type) if x)


@dataclass
class Cib:
    properties: Dict[str, str]
    primitives: Dict[str, Primitive]
    groups: Dict[str, List[str]]             # group id -> member primitive ids, in order
    clones: Dict[str, Tuple[str, bool]]      # clone id -> (child id, promotable)
    colocations: List[Dict[str, str]]
    orders: List[Dict[str, str]]
    node_count: int
    raw: object = field(repr=False, default=None)
    nodes: List[str] = field(default_factory=list)
    node_attributes: Dict[str, Dict[str, str]] = field(default_factory=dict)
    metas: Dict[str, Dict[str, str]] = field(default_factory=dict)     # group/clone id -> meta attributes
    rsc_defaults: Dict[str, str] = field(default_factory=dict)
    op_defaults: Dict[str, str] = field(default_factory=dict)

    def container_of(self, prim_id: str) -> str:
        """The top-level resource a primitive is placed by (its clone or group, else itself)."""
        prim = self.primitives[prim_id]
        if prim.parent_clone:
            return prim.parent_clone
        if prim.parent_group:
            for clone_id, (child, _) in self.clones.items():
                if child == prim.parent_group:
                    return clone_id
            return prim.parent_group
        return prim_id

    def chain(self, prim_id: str) -> List[str]:
        """The primitive, its group and its clone: every element whose meta attributes apply."""
        prim = self.primitives[prim_id]
        return [x for x in (prim_id, prim.parent_group, prim.parent_clone) if x]

    def meta_of(self, rsc_id: str) -> Dict[str, str]:
        return self.primitives[rsc_id].meta if rsc_id in self.primitives else self.metas.get(rsc_id, {})

    def by_agent(self, agent: str) -> List[Primitive]:
        return [p for p in self.primitives.values() if p.agent == agent]


def _nvpairs(element, tag: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for block in element.findall(tag):
        for nv in block.iter("nvpair"):
            out[nv.get("name")] = nv.get("value", "")
    return out


def parse_cib(xml_bytes: bytes) -> Cib:
    from ...ocf.thirdparty import load
    etree = load("lxml.etree")
    root = etree.fromstring(xml_bytes)
    if root.tag != "cib":
        raise NotACib(f"not a Pacemaker CIB: the root element is <{root.tag}>, not <cib> "
                      "(cibadmin -Q writes one; crm configure load needs CIB_file=... to make one)")
    config = root.find("configuration")
    if config is None or config.find("resources") is None:
        raise NotACib("not a Pacemaker CIB: <cib> has no <configuration> with <resources>")
    props: Dict[str, str] = {}
    crm_config = config.find("crm_config")
    if crm_config is not None:
        for nv in crm_config.iter("nvpair"):
            props[nv.get("name")] = nv.get("value", "")
    resources = config.find("resources")
    prims: Dict[str, Primitive] = {}
    groups: Dict[str, List[str]] = {}
    clones: Dict[str, Tuple[str, bool]] = {}
    metas: Dict[str, Dict[str, str]] = {}

    def add_primitive(el, group=None, clone=None, promotable=False) -> None:
        ops = []
        for op in el.findall("operations/op"):
            entry = dict(op.attrib)
            entry.update(_nvpairs(op, "instance_attributes"))
            ops.append(entry)
        prims[el.get("id")] = Primitive(el.get("id"), el.get("class", ""), el.get("provider", ""),
                                        el.get("type", ""), _nvpairs(el, "instance_attributes"), ops,
                                        group, clone, promotable, _nvpairs(el, "meta_attributes"))

    def add_group(el, clone=None, promotable=False) -> None:
        groups[el.get("id")] = [p.get("id") for p in el.findall("primitive")]
        metas[el.get("id")] = _nvpairs(el, "meta_attributes")
        for p in el.findall("primitive"):
            add_primitive(p, group=el.get("id"), clone=clone, promotable=promotable)

    for el in resources:
        if el.tag == "primitive":
            add_primitive(el)
        elif el.tag == "group":
            add_group(el)
        elif el.tag in ("clone", "master"):
            meta = _nvpairs(el, "meta_attributes")
            metas[el.get("id")] = meta
            promotable = el.tag == "master" or meta.get("promotable", "").lower() in ("true", "1", "yes")
            child = el.find("primitive")
            if child is None:
                child = el.find("group")
                if child is not None:
                    add_group(child, clone=el.get("id"), promotable=promotable)
            else:
                add_primitive(child, clone=el.get("id"), promotable=promotable)
            if child is not None:
                clones[el.get("id")] = (child.get("id"), promotable)
    constraints = config.find("constraints")
    colocations = [dict(c.attrib) for c in constraints.findall("rsc_colocation")] if constraints is not None else []
    orders = [dict(c.attrib) for c in constraints.findall("rsc_order")] if constraints is not None else []
    nodes_el = config.find("nodes")
    node_els = [n for n in nodes_el.findall("node") if n.get("type", "member") in ("member", "normal")] \
        if nodes_el is not None else []
    nodes = [n.get("uname") or n.get("id") for n in node_els]
    node_attributes = {n.get("uname") or n.get("id"): _nvpairs(n, "instance_attributes") for n in node_els}

    def defaults(tag: str) -> Dict[str, str]:
        el = config.find(tag)
        return _nvpairs(el, "meta_attributes") if el is not None else {}

    return Cib(props, prims, groups, clones, colocations, orders, len(nodes), root, nodes, node_attributes,
               metas, defaults("rsc_defaults"), defaults("op_defaults"))
