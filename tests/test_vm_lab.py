# SPDX-License-Identifier: GPL-2.0-or-later
"""The DRBD architecture on two QEMU VMs with real DRBD, corosync and Pacemaker: crash, partition, heal.

One lab for the module (booting two emulated VMs costs minutes); the image is
built once and cached in /var/cache/bacula-ha-lab/vm.  The tests run in file
order on that lab: up -> crash of the Primary -> partition -> heal.  The
machine-wide VM lock (/tmp/bacula-ha-vm.lock) is held for the whole module.
Deselect with `-m 'not vm'`.
"""

import fcntl
import json
import os

import pytest

from bacula_ha.lab.vm import faults, guest
from bacula_ha.lab.vm.demo import leftovers
from bacula_ha.lab.vm.lab import VmLab

# one emulated boot of two VMs can take many minutes on a busy machine (and the first run builds the image)
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.timeout(3600)]

RESULTS = os.environ.get("BACULA_HA_VM_RESULTS")


def _record(result):
    if RESULTS:
        with open(RESULTS, "a") as f:
            f.write(json.dumps(result.__dict__) + "\n")


@pytest.fixture(scope="module")
def vm_lab():
    if os.geteuid() != 0:
        pytest.fail("the VM lab needs root (CI runs as root)")
    with open("/tmp/bacula-ha-vm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab = VmLab("bhtest-vm", say=lambda m: print(m, flush=True))
        try:
            lab.up(boot_delay=10)
            yield lab
        finally:
            lab.down(quiet=True)
            assert leftovers(lab) == []


def test_up_replicates_with_the_shipped_configuration(vm_lab):
    primary = vm_lab.director_node()
    assert primary in vm_lab.nodes
    states = {n: vm_lab.drbd_state(n) for n in vm_lab.nodes}
    for n, st in states.items():
        assert st.cstate == "Connected" and st.disk == st.peer_disk == "UpToDate", (n, st)
    assert states[primary].role == "Primary"
    assert [n for n, st in states.items() if st.role == "Primary"] == [primary]
    # the DRBD resource in use is the shipped one (8.4 form) with its fencing policy and handlers
    spec = vm_lab.spec(primary)
    # crmsh and drbdadm are slow on an emulated CPU of a busy host (crm configure show took > 60 s)
    dump = guest.out(spec, "drbdadm dump r0", timeout=300)
    assert "resource-and-stonith" in dump and "crm-fence-peer.9.sh" in dump
    # the CIB is the rendered snippet, fenced through the lab's PDU, with the raised token
    cib = guest.out(spec, "crm configure show", timeout=300)
    assert "stonith:fence_bhlab" in cib and "ocf:linbit:drbd" in cib and "ocf:bacula:bacula-director" in cib
    assert "token: 8000" in guest.out(spec, "cat /etc/corosync/corosync.conf", timeout=300) or vm_lab.state.accel == "kvm"
    # the Director in the guest reaches the host's File and Storage daemon (QEMU's 10.0.2.2)
    bk = vm_lab.backups(primary)
    answered, out = bk.console("status client=lab-fd")
    assert answered and "lab-fd Version: 9.6" in out, out
    answered, out = bk.console("status storage=File1")
    assert answered and "lab-sd Version: 9.6" in out, out
    # protocol C: a committed row is on the Secondary's disk too (read there after a switch below)
    vm_lab.add_mark(primary, "up")
    assert vm_lab.has_mark(primary, "up")


def test_crash_of_the_primary_fails_over_with_the_row_and_the_node_returns(vm_lab):
    result = faults.crash(vm_lab, progress=lambda m: print(m, flush=True))
    _record(result)
    print(result.summary())
    assert result.ok, result.summary()
    assert result.rows_ok and result.director_after != result.director_before
    # a backup made before the crash restores afterwards, through the survivor's Director, byte for byte
    assert result.backup_jobid and result.restore_ok, result.notes
    assert result.drbd[result.victim].startswith("Secondary/Primary Connected UpToDate/UpToDate")


def test_partition_of_the_replication_link_keeps_exactly_one_side(vm_lab):
    result = faults.partition(vm_lab, progress=lambda m: print(m, flush=True))
    _record(result)
    print(result.summary())
    assert result.ok, result.summary()
    assert len(result.fence_events) == 1                 # exactly one side keeps going
    fenced = result.fence_events[0].split(" ")[0]
    assert result.director_after == [n for n in vm_lab.nodes if n != fenced][0]


def test_heal_brings_the_fenced_node_back_as_secondary_without_split_brain(vm_lab):
    result = faults.heal(vm_lab, progress=lambda m: print(m, flush=True))
    _record(result)
    print(result.summary())
    assert result.ok, result.summary()
    for n in vm_lab.nodes:
        st = vm_lab.drbd_state(n)
        assert st.cstate == "Connected" and st.disk == st.peer_disk == "UpToDate", (n, st)
    assert [n for n in vm_lab.nodes if vm_lab.drbd_state(n).role == "Primary"] == [result.director_after]
    # the rows of every fault are still there
    for prefix in ("up", "before-crash-", "before-partition-", "after-partition-"):
        assert vm_lab.psql(result.director_after,
                           f"SELECT count(*) FROM lab_marks WHERE label LIKE '{prefix}%';") != "0", prefix
