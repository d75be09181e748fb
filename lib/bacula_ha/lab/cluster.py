# SPDX-License-Identifier: GPL-2.0-or-later
"""Cluster configuration: corosync.conf, the seeded CIB, base properties, fencing; crm_mon status.

The seeded cib.xml carries dc-deadtime=2s: with the default 20 s every
cluster start waits that long for a DC.  corosync uses knet on the lab
subnet; two nodes get two_node (and so wait_for_all).
"""

from __future__ import annotations

import grp
import os
import pwd
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .fence import NAME as FENCE_AGENT
from .layout import DB_HOST_IP, GIT_HOST_IP, PDU_PORT, SWITCH_IP, VIP, Layout, node_ip
from .node import private_dir
from .sh import LabError, run

TOKEN_MS = 3000

SEED_CIB = """<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""


def corosync_conf(name: str, nodes: List[str], token_ms: int = TOKEN_MS) -> str:
    entries = "".join(f"    node {{\n        ring0_addr: {node_ip(n)}\n        name: {n}\n"
                      f"        nodeid: {i}\n    }}\n" for i, n in enumerate(nodes, 1))
    two_node = "    two_node: 1\n" if len(nodes) == 2 else ""
    return (f"totem {{\n    version: 2\n    cluster_name: {name}\n    transport: knet\n"
            f"    crypto_cipher: none\n    crypto_hash: none\n    token: {token_ms}\n}}\n"
            f"nodelist {{\n{entries}}}\n"
            f"quorum {{\n    provider: corosync_votequorum\n{two_node}}}\n"
            "logging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n"
            "    to_syslog: no\n    to_stderr: no\n    timestamp: hires\n}\n")


def hosts_file(nodes: List[str]) -> str:
    lines = ["127.0.0.1 localhost", f"{SWITCH_IP} switch pdu", f"{VIP} bacula-dir",
             f"{DB_HOST_IP} db", f"{GIT_HOST_IP} git"]
    lines += [f"{node_ip(n)} {n}" for n in nodes + ["pg1", "pg2", "etcd"]]
    return "\n".join(lines) + "\n"


def write_node_config(layout: Layout, nodes: List[str]) -> None:
    uid, gid = pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
    conf = corosync_conf(layout.name, nodes)
    for n in nodes:
        (private_dir(layout, n, "/etc/corosync") / "corosync.conf").write_text(conf)
        cib = private_dir(layout, n, "/var/lib/pacemaker") / "cib" / "cib.xml"
        cib.write_text(SEED_CIB)
        os.chown(cib, uid, gid)
        os.chmod(cib, 0o600)


def base_crm(nodes: List[str]) -> str:
    """Cluster properties and the fence device (crmsh syntax).

    load-threshold: every node reads the one shared kernel's load average, so a busy machine
    (other tests, other labs) would put every node into Pacemaker's "high load" throttle,
    which allows one action at a time: a Director start then waits for an unrelated monitor.
    stonith-timeout + cluster-delay bound a stalled transition: with Pacemaker 2.1.5 we saw a
    new DC's first transition (fence the old DC, cancel an Unpromoted monitor the old DC had
    started) hang until its timer fired, 120 s with the defaults, 40 s with these."""
    return (
        "property cib-bootstrap-options: stonith-enabled=true stonith-action=reboot "
        "stonith-timeout=30s cluster-delay=10s no-quorum-policy=stop cluster-recheck-interval=1min "
        "start-failure-is-fatal=false load-threshold=1000%\n"
        "rsc_defaults rsc-options: resource-stickiness=100 migration-threshold=3 failure-timeout=0\n"
        f"primitive st-pdu stonith:{FENCE_AGENT} params ipaddr={SWITCH_IP} ipport={PDU_PORT} "
        f"pcmk_host_list=\"{' '.join(nodes)}\" op monitor interval=60s timeout=20s\n")


# ---- status ----------------------------------------------------------------------------------

@dataclass
class Status:
    """What crm_mon says, seen from one node."""

    seen_from: str
    quorum: bool = False
    dc: Optional[str] = None
    online: List[str] = field(default_factory=list)
    offline: List[str] = field(default_factory=list)
    unclean: List[str] = field(default_factory=list)
    resources: Dict[str, List[str]] = field(default_factory=dict)   # id -> nodes running it
    roles: Dict[str, Dict[str, str]] = field(default_factory=dict)  # id -> node -> role
    failed: Dict[str, str] = field(default_factory=dict)            # id -> reason
    failures: List[str] = field(default_factory=list)               # failed actions, readable
    text: str = ""

    def running_on(self, rsc: str) -> List[str]:
        return self.resources.get(rsc, [])


def parse_crm_mon(xml_text: str, seen_from: str) -> Status:
    root = ET.fromstring(xml_text)
    st = Status(seen_from)
    summary = root.find("summary")
    if summary is not None:
        dc = summary.find("current_dc")
        if dc is not None:
            st.quorum = dc.get("with_quorum") == "true"
            st.dc = dc.get("name") if dc.get("present") == "true" else None
    for n in root.iter("node"):
        if n.get("online") is None:
            continue
        name = n.get("name")
        if n.get("online") == "true":
            st.online.append(name)
        else:
            st.offline.append(name)
        if n.get("unclean") == "true":
            st.unclean.append(name)
    resources = root.find("resources")
    if resources is not None:
        for r in resources.iter("resource"):
            rid = r.get("id")
            for nn in r.findall("node"):
                if r.get("active") == "true" and r.get("failed") != "true":
                    st.resources.setdefault(rid, []).append(nn.get("name"))
                    st.roles.setdefault(rid, {})[nn.get("name")] = r.get("role", "")
            if r.get("failed") == "true":
                st.failed[rid] = r.get("role", "failed")
    failures = root.find("failures")
    if failures is not None:
        for f in failures.findall("failure"):
            st.failures.append(f"{f.get('op_key')} on {f.get('node')}: {f.get('status')} "
                               f"({f.get('exitreason') or f.get('exitstatus')})")
    return st


def crm_mon(layout: Layout, node: str) -> Status:
    from .node import enter
    result = run(enter(layout, node) + ["crm_mon", "-1", "--output-as=xml"], timeout=20, check=False)
    if not result.stdout.strip().startswith("<"):
        raise LabError(f"crm_mon on {node}: {result.stderr.strip() or 'no output'}")
    return parse_crm_mon(result.stdout, node)


def crm_mon_text(layout: Layout, node: str) -> str:
    from .node import enter
    return run(enter(layout, node) + ["crm_mon", "-1", "-r", "-f"], timeout=20, check=False).stdout


def crm_load(layout: Layout, node: str, text: str) -> None:
    from .node import enter
    path = layout.workdir / "cluster.crm"
    path.write_text(text)
    run(enter(layout, node) + ["crm", "configure", "load", "update", str(path)], timeout=120)
