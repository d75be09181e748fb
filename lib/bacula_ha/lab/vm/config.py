# SPDX-License-Identifier: GPL-2.0-or-later
"""What the VM lab writes into its guests: the shipped DRBD resource and crm snippet, with lab values.

DRBD: crm-snippets/drbd-fencing.res is written for DRBD 9, but Debian 12's
kernel (the one in the image; no other can be installed offline) has DRBD
8.4.  `drbd84` turns the shipped file into the 8.4 form mechanically and
nothing else: `fencing` moves from `net` to `disk`, `unfence-peer` (a DRBD 9
handler) becomes `after-resync-target`, and `auto-promote` and `node-id`
(DRBD 9 only) go; the handler scripts stay the shipped crm-fence-peer.9.sh /
crm-unfence-peer.9.sh.  Then the lab's disk, host names and addresses replace
the example ones.

Pacemaker: `bacula-ha render drbd` with the lab's values; only the fence
devices differ, because the lab has no BMC: fence_ipmilan is replaced by the
lab's fence_bhlab talking to the host-side virtual PDU (same ids, same
"never on its own target" locations).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

from ..cluster import corosync_conf
from ..layout import LIBDIR, node_ip

SNIPPETS = Path(LIBDIR).parent / "crm-snippets"
SHIPPED_RES = SNIPPETS / "drbd-fencing.res"
DRBD_RESOURCE = "r0"
DRBD_DEVICE = "/dev/drbd0"
DRBD_BACKING = "/dev/vdb"
DRBD_PORT = 7789
VIP = "198.51.100.100"
VIP_NIC = "eth1"
PGPASS = "/etc/bacula-ha/pgpass"
#: the guests reach the host's loopback (the PDU) at QEMU's user-network gateway
PDU_ADDRESS_IN_GUEST = "10.0.2.2"
#: corosync's token under software emulation: a guest's CPU can stall for a second or more
#: when the host is busy, and a 3 s token then declares a live node dead (and fences it)
TOKEN_MS_TCG = 8000
TOKEN_MS_KVM = 3000
#: priority-fencing-delay for the lab (the snippet's default is 15 s): in a partition the node
#: without the Director shoots at once, the other waits this long and is dead before it fires.
#: Under TCG the Director's node (DRBD frozen by its fence-peer handler, PostgreSQL, the Director,
#: and its own scheduler run first) did not get its shot out within 9 s, so the peer's delayed
#: shot won: the delay must cover the busy node's whole path from detection to the PDU
FENCE_DELAY_S = 5
FENCE_DELAY_S_TCG = 20


def shipped_res() -> str:
    """The shipped resource file (checkout) or the copy installed with the library."""
    for path in (SHIPPED_RES, Path(__file__).with_name(SHIPPED_RES.name),   # checkout; installed lab
                 Path("/usr/share/doc/bacula-ha/examples/drbd-fencing.res"),
                 Path("/usr/share/doc/bacula-ha/examples/crm-snippets/drbd-fencing.res")):
        if path.is_file():
            return path.read_text()
    raise FileNotFoundError(f"drbd-fencing.res not found (looked in {SHIPPED_RES})")


def drbd84(text: str) -> str:
    """DRBD 9 resource text -> the DRBD 8.4 equivalent (see the module docstring)."""
    lines = text.splitlines()
    out: List[str] = []
    fencing = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("fencing "):
            fencing = stripped
            continue
        if stripped.startswith("auto-promote ") or stripped.startswith("node-id "):
            continue
        if stripped.startswith("unfence-peer "):
            line = line.replace("unfence-peer", "after-resync-target", 1)
        out.append(line)
    text = "\n".join(out) + "\n"
    # an options section left with comments only
    text = re.sub(r"\n    options \{\n(?:\s*#[^\n]*\n)*\s*\}\n", "\n", text)
    if fencing:
        text = text.replace("    handlers {", f"    disk {{\n        {fencing}\n    }}\n    handlers {{", 1)
    return text


def drbd_res(nodes: List[str], dialect: str = "8.4") -> str:
    """The shipped r0 resource with the lab's disk, nodes and replication addresses."""
    text = shipped_res()
    if dialect.startswith("8."):
        text = drbd84(text)
    text = re.sub(r"^\s*disk /dev/\S+;", f"    disk {DRBD_BACKING};", text, flags=re.M)
    for i, node in enumerate(nodes, 1):
        text = re.sub(rf"on node{i} {{(.*?)address [0-9.]+:(\d+);",
                      lambda m, node=node: f"on {node} {{{m.group(1)}address {node_ip(node)}:{m.group(2)};",
                      text, flags=re.S)
    return "# bacula-ha VM lab: crm-snippets/drbd-fencing.res with the lab's values" + \
        (" (DRBD 8.4 form)" if dialect.startswith("8.") else "") + "\n" + text


def corosync(name: str, nodes: List[str], accel: str) -> str:
    token = TOKEN_MS_KVM if accel == "kvm" else TOKEN_MS_TCG
    return corosync_conf(name, nodes, token)


def render_values(nodes: List[str], fence_delay_s: int = FENCE_DELAY_S) -> Dict[str, str]:
    values = {
        "nodes": ",".join(nodes), "vip": VIP, "vip_cidr": "24", "vip_nic": VIP_NIC,
        "fencing": "ipmilan", "ipmi_user": "lab", "ipmi_password_script": "/bin/true",
        "fence_delay": "priority", "fence_delay_seconds": str(fence_delay_s),
        "drbd_resource": DRBD_RESOURCE, "drbd_device": DRBD_DEVICE, "catalog_passfile": PGPASS,
        "failure_timeout": "10min",
    }
    for i, node in enumerate(nodes, 1):
        values[f"ipmi_address.{node}"] = f"10.0.2.{100 + i}"   # placeholders, replaced: no BMC here
    return values


#: operation timeouts are multiplied by this under TCG: the snippet's 20 s for a DRBD monitor is
#: for real CPUs; an emulated one on a busy host took longer than that for a probe
TIMEOUT_FACTOR_TCG = 5


#: bacula-catalog-check's connect_timeout default (its metadata): one login may take that long;
#: scaled like the timeouts, because a scram login to PostgreSQL in an emulated guest on a busy
#: host took longer than 5 s, and each attempt then failed whatever the start timeout
CATALOG_CONNECT_TIMEOUT_S = 5
CATALOG_CHECK_AGENT = "ocf:bacula:bacula-catalog-check"


def _scaled(primitive, factor: int):
    """The primitive with every operation timeout (and the catalog check's connect_timeout)
    multiplied by factor."""
    from dataclasses import replace
    if factor == 1:
        return primitive
    ops = tuple(replace(op, timeout=f"{int(op.timeout.rstrip('s')) * factor}s") for op in primitive.ops)
    params = primitive.params
    if primitive.agent == CATALOG_CHECK_AGENT and "connect_timeout" not in dict(params):
        params = tuple(params) + (("connect_timeout", str(CATALOG_CONNECT_TIMEOUT_S * factor)),)
    return replace(primitive, ops=ops, params=params)


def crm_config(nodes: List[str], pdu_port: int, timeout_factor: int = 1) -> str:
    """`bacula-ha render drbd` with the lab's values, fence_ipmilan swapped for fence_bhlab, and
    operation timeouts multiplied by timeout_factor (emulated CPUs)."""
    from ...admin.render import resolve
    from ...admin.render import crm as crm_emitter
    from ...admin.render.architectures import BUILDERS
    from ...admin.render.model import Primitive
    from ..fence import NAME as FENCE_AGENT

    values = resolve("drbd", render_values(nodes, FENCE_DELAY_S_TCG if timeout_factor > 1 else FENCE_DELAY_S))
    config = BUILDERS["drbd"](values)
    swapped: List[str] = []
    resources = []
    for rsc in config.resources:
        if isinstance(rsc, Primitive) and rsc.agent == "stonith:fence_ipmilan":
            node = dict(rsc.params)["pcmk_host_list"]
            rsc = Primitive(rsc.id, f"stonith:{FENCE_AGENT}", ops=rsc.ops,
                            params=(("ipaddr", PDU_ADDRESS_IN_GUEST), ("ipport", str(pdu_port)),
                                    ("plug", node), ("pcmk_host_list", node)),
                            comment=f"Lab: power fencing of {node} through the host-side virtual PDU "
                                    "(no BMC in the lab).")
            swapped.append(node)
        resources.append(rsc)
    from dataclasses import replace
    from ...admin.render.model import Clone, Group
    scaled = []
    for rsc in resources:
        if isinstance(rsc, Primitive):
            rsc = _scaled(rsc, timeout_factor)
        elif isinstance(rsc, Clone):
            rsc = replace(rsc, child=_scaled(rsc.child, timeout_factor))
        elif isinstance(rsc, Group):
            rsc = replace(rsc, members=[_scaled(m, timeout_factor) for m in rsc.members])
        scaled.append(rsc)
    config.resources = scaled
    if sorted(swapped) != sorted(nodes):
        raise RuntimeError("rendered drbd configuration has no fence_ipmilan device per node")
    config.header = ["bacula-ha VM lab: `bacula-ha render drbd` with the lab's values;",
                     "fence_ipmilan replaced by the lab's fence_bhlab (virtual PDU)."]
    return crm_emitter.emit(config)
