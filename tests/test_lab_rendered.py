# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab runs the shipped snippet: `bacula-ha render` with lab values, and nothing differs
but the documented overrides (bacula_ha.lab.rendered.OVERRIDES).

test_render.py proves the shipped files are `render --example`; this proves the lab's
configuration is `render` with the lab's values, changed only where an override says so.
Pure Python: no lab is started (the lab tests run this text on a real cluster).
"""

from __future__ import annotations

import pytest

from bacula_ha.admin.render.architectures import BUILDERS
from bacula_ha.admin.render.model import Clone, Colocation, Config, Group, Location, Order, Primitive
from bacula_ha.admin.render.values import resolve
from bacula_ha.lab.layout import VIP, Layout
from bacula_ha.lab.rendered import (MONITORS, OVERRIDES, LabSite, drbd_site, find_primitive, git_site,
                                    lab_config, lab_crm, primitive_ids, streaming_site)

LAYOUT = Layout("bhtest", "/var/lib/bacula-ha-lab-test")


def _sites():
    yield "drbd", drbd_site(LAYOUT, ["node1", "node2"], "/dev/loop7")
    yield "drbd", drbd_site(LAYOUT, ["node1", "node2", "node3"], "/dev/loop7")
    yield "git", git_site(LAYOUT, ["node1", "node2"], "git://198.51.100.21/bacula-config.git")
    yield "streaming", streaming_site(LAYOUT, ["node1", "node2", "node3"], "git://198.51.100.21/bacula-config.git",
                                      "198.51.100.101")


def _snippet(arch: str, site: LabSite) -> Config:
    """The shipped snippet's structure filled with the lab's values (what a user would paste)."""
    nodes = site.nodes[:2] if arch == "drbd" else site.nodes
    values = {"nodes": ",".join(nodes), "vip": VIP, "vip_cidr": "24", "vip_nic": "eth0", "fencing": "sbd",
              "sbd_devices": "/dev/sdx", **site.values}
    return BUILDERS[arch](resolve(arch, values))


def _constraints(config: Config):
    return [c for c in config.constraints if not (isinstance(c, Location) and c.rsc.startswith("fence_"))]


@pytest.mark.parametrize("arch,site", list(_sites()))
def test_same_resources_groups_and_constraints(arch, site):
    lab, shipped = lab_config(arch, site), _snippet(arch, site)
    assert primitive_ids(lab) == [i for i in primitive_ids(shipped) if not i.startswith("fence_")]
    assert _constraints(lab) == _constraints(shipped)
    assert [c for c in lab.constraints if isinstance(c, (Colocation, Order))]   # not vacuous
    groups = {r.id: [m.id for m in r.members] for r in lab.resources if isinstance(r, Group)}
    assert groups == {r.id: [m.id for m in r.members] for r in shipped.resources if isinstance(r, Group)}


@pytest.mark.parametrize("arch,site", list(_sites()))
def test_only_documented_overrides_differ(arch, site):
    lab, shipped = lab_config(arch, site), _snippet(arch, site)
    for rid in primitive_ids(lab):
        mine, theirs = find_primitive(lab, rid), find_primitive(shipped, rid)
        if theirs is None:      # a clone or group id
            continue
        if theirs.agent == "ocf:linbit:drbd":                       # override: Stateful stands in
            assert mine.agent == "ocf:pacemaker:Stateful" and dict(mine.params) == {}
        else:
            assert mine.agent == theirs.agent
            assert dict(mine.params) == {**dict(theirs.params), **site.params.get(rid, {})}, rid
        mine_ops = {(o.name, o.role, o.check_level): o for o in mine.ops}
        for op in theirs.ops:
            if op.name == "notify" and theirs.agent == "ocf:linbit:drbd":
                continue
            lab_op = mine_ops[(op.name, op.role, op.check_level)]
            assert lab_op.timeout == op.timeout, (rid, op)
            if lab_op.interval != op.interval:                      # override: shorter monitors
                key = op.role or ("" if op.check_level is None else str(op.check_level))
                assert lab_op.interval in (MONITORS.get((rid, key)), MONITORS.get((rid, key or "0"))), (rid, op)
    for res in lab.resources:
        assert not (isinstance(res, Primitive) and res.is_stonith)    # override: the lab's PDU fencing
        if isinstance(res, Clone) and res.child.agent == "ocf:pacemaker:Stateful":
            assert ("clone-max", str(len(site.nodes))) in tuple(res.meta)
    assert len(OVERRIDES) >= 5 and all(o.what and o.why for o in OVERRIDES)


def test_director_files_on_the_lab_disk_and_lab_values_in_the_text():
    text = lab_crm("drbd", drbd_site(LAYOUT, ["node1", "node2"], "/dev/loop7"))
    mnt = str(LAYOUT.mountpoint)
    assert f"config={mnt}/etc/bacula-dir.conf" in text          # step 3's layout, also in the lab
    assert "device=/dev/loop7" in text and f"ip={VIP}" in text
    assert "primitive p_drbd ocf:pacemaker:Stateful" in text and "primitive fence_" not in text
    assert "colocation col_bacula_on_drbd_primary INFINITY: g_bacula ms_drbd:Promoted" in text
