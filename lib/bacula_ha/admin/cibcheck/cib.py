"""Read the parts of a CIB the checks need (lxml, loaded lazily by the caller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Primitive:
    id: str
    standard: str
    provider: str
    type: str
    params: Dict[str, str]
    ops: List[Dict[str, str]]
    parent_group: Optional[str] = None
    parent_clone: Optional[str] = None
    promotable: bool = False

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
    config = root.find("configuration") if root.tag == "cib" else root
    props: Dict[str, str] = {}
    crm_config = config.find("crm_config")
    if crm_config is not None:
        for nv in crm_config.iter("nvpair"):
            props[nv.get("name")] = nv.get("value", "")
    resources = config.find("resources")
    prims: Dict[str, Primitive] = {}
    groups: Dict[str, List[str]] = {}
    clones: Dict[str, Tuple[str, bool]] = {}

    def add_primitive(el, group=None, clone=None, promotable=False) -> None:
        ops = [dict(op.attrib) for op in el.findall("operations/op")]
        prims[el.get("id")] = Primitive(el.get("id"), el.get("class", ""), el.get("provider", ""),
                                        el.get("type", ""), _nvpairs(el, "instance_attributes"), ops,
                                        group, clone, promotable)

    def add_group(el, clone=None, promotable=False) -> None:
        groups[el.get("id")] = [p.get("id") for p in el.findall("primitive")]
        for p in el.findall("primitive"):
            add_primitive(p, group=el.get("id"), clone=clone, promotable=promotable)

    if resources is not None:
        for el in resources:
            if el.tag == "primitive":
                add_primitive(el)
            elif el.tag == "group":
                add_group(el)
            elif el.tag in ("clone", "master"):
                meta = _nvpairs(el, "meta_attributes")
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
    nodes = config.find("nodes")
    node_count = len(nodes.findall("node")) if nodes is not None else 0
    return Cib(props, prims, groups, clones, colocations, orders, node_count, root)
