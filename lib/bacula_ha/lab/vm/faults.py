# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults on the VM lab with measured times: crash of the Primary, replication-link partition, heal.

Every fault commits a catalog row on the DRBD Primary first (PostgreSQL
commit, DRBD protocol C: on both disks before the commit returns) and reads
it back afterwards wherever the catalog then runs.  The crash also runs a
real backup first (LabBackup, to the host's Storage daemon: lab/vm/client.py)
and, after the failover, restores it through the survivor's Director and
compares the files byte for byte (lab/backups.py).  Times are seconds after
the fault (t0).  Fencing times come from the PDU's event log (an "off" asked
for over the network, i.e. by a fence agent in a guest).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from .. import backups
from ..sh import LabError
from . import guest, machine
from .lab import DrbdState, VmLab

CONSTRAINT = "drbd-fence-by-handler"


@dataclass
class VmFaultResult:
    fault: str
    victim: str
    director_before: Optional[str]
    director_after: Optional[str] = None
    detected_s: Optional[float] = None
    fenced_s: Optional[float] = None
    promoted_s: Optional[float] = None
    answering_s: Optional[float] = None
    back_s: Optional[float] = None
    fence_events: List[str] = field(default_factory=list)
    drbd: Dict[str, str] = field(default_factory=dict)
    rows_ok: bool = False
    backup_jobid: Optional[int] = None
    restore_ok: Optional[bool] = None      # None: the fault does not restore
    restore_s: Optional[float] = None      # the restore's own duration
    ok: bool = False
    violations: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        def f(v):
            return "-" if v is None else f"{v:.1f}s"
        restored = "" if self.restore_ok is None else \
            f"; backup JobId {self.backup_jobid} restored byte for byte: {self.restore_ok} ({f(self.restore_s)})"
        return (f"{self.fault} of {self.victim}: detected {f(self.detected_s)}, fenced {f(self.fenced_s)}, "
                f"DRBD promoted {f(self.promoted_s)}, Director answering {f(self.answering_s)}, node back "
                f"{f(self.back_s)}; Director {self.director_before} -> {self.director_after}; row kept: "
                f"{self.rows_ok}{restored}; {'OK' if self.ok else 'FAILED: ' + '; '.join(self.violations)}")


def _other(lab: VmLab, node: str) -> str:
    return [n for n in lab.nodes if n != node][0]


def _fences_since(lab: VmLab, t0: float) -> List[dict]:
    return [e for e in lab.pdu_events() if e["event"] == "off" and e["via"] == "net" and e["t"] >= t0]


def _note_fencing(lab: VmLab, result: "VmFaultResult", t0: float, progress: Callable[[str], None]) -> None:
    """Record (once) when the PDU first powered a machine off for a fence agent since t0."""
    fences = _fences_since(lab, t0)
    if result.fenced_s is None and fences:
        result.fenced_s = fences[0]["t"] - t0
        progress(f"+{result.fenced_s:.1f}s PDU: {fences[0]['machine']} off, asked by a fence agent")


def _constraint(lab: VmLab, node: str) -> bool:
    return guest.ok(lab.spec(node), f"cibadmin -Q -o constraints | grep -q {CONSTRAINT}", timeout=30)


def wait_back(lab: VmLab, node: str, t0: float, timeout: float = 720,
              progress: Callable[[str], None] = lambda m: None) -> float:
    """Wait until `node` runs again, is online in the cluster and DRBD shows it an UpToDate,
    connected Secondary; seconds since t0."""
    spec = lab.spec(node)
    deadline = time.monotonic() + timeout
    while machine.pid(spec) is None:
        if time.monotonic() > deadline:
            raise LabError(f"{node} was not powered on again")
        time.sleep(1)
    boots = [e["t"] for e in lab.pdu_events() if e["event"] == "boot" and e["machine"] == node and e["t"] >= t0]
    progress(f"{node} powered on again by the PDU at +{boots[0] - t0:.1f}s; booting" if boots else
             f"{node} is powered on; waiting for it to answer")
    guest.wait_ready(spec, max(10.0, deadline - time.monotonic()))
    progress(f"{node} booted at +{time.time() - t0:.1f}s; waiting for the cluster and DRBD resync")
    last: DrbdState = DrbdState()
    while time.monotonic() < deadline:
        last = lab.drbd_state(node)
        st = lab.crm_status(node)
        if (st and node in st.online and last.role == "Secondary" and last.cstate == "Connected"
                and last.disk == last.peer_disk == "UpToDate"):
            return time.time() - t0
        time.sleep(2)
    raise LabError(f"{node} not back as an UpToDate Secondary after {timeout:.0f}s (DRBD {last})")


def _split_brain(lab: VmLab) -> List[str]:
    found = []
    for n in lab.powered():
        if guest.ok(lab.spec(n), "dmesg | grep -qi 'split-brain detected'", timeout=30):
            found.append(n)
    return found


def crash(lab: VmLab, progress: Callable[[str], None] = lambda m: None, timeout: float = 600,
          wait_return: bool = True) -> VmFaultResult:
    """Kill the Primary's VM; the survivor must fence it, promote DRBD and run the Director with the
    row committed before the crash, restore the backup made before it byte for byte; the victim
    must come back as an UpToDate Secondary."""
    victim = lab.director_node()
    if victim is None:
        raise LabError("no node runs the Director: nothing to crash")
    survivor = _other(lab, victim)
    result = VmFaultResult("crash", victim, victim)
    result.restore_ok = False
    result.backup_jobid = _backup_before(lab, victim, result, progress)
    label = f"before-crash-{int(time.time())}"
    lab.add_mark(victim, label)
    progress(f"committed catalog row {label!r} on {victim} (DRBD protocol C: on both disks)")
    t0 = time.time()
    lab.fail(victim)
    progress(f"{victim}'s QEMU killed (power cut) at t0")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = lab.crm_status(survivor)
        now = time.time() - t0
        if st:
            if result.detected_s is None and victim not in st.online:
                result.detected_s = now
                progress(f"+{now:.1f}s {survivor} sees {victim} gone")
            _note_fencing(lab, result, t0, progress)
            if result.promoted_s is None and st.roles.get("p_drbd", {}).get(survivor) == "Promoted":
                result.promoted_s = now
                progress(f"+{now:.1f}s DRBD Primary on {survivor}")
            if st.running_on("p_director") == [survivor]:
                where = lab.director_node(exclude=[victim])
                if where == survivor:
                    result.answering_s = time.time() - t0
                    result.director_after = survivor
                    progress(f"+{result.answering_s:.1f}s Director answers on {survivor}")
                    break
        time.sleep(1)
    result.fence_events = [f"{e['machine']} at +{e['t'] - t0:.1f}s" for e in _fences_since(lab, t0)]
    if result.director_after:
        result.rows_ok = lab.has_mark(survivor, label)
        progress(f"row {label!r} on {survivor}: {'present' if result.rows_ok else 'MISSING'}")
        if result.backup_jobid is not None:
            _restore_after(lab, survivor, result, progress)
    if wait_return and result.director_after:
        result.back_s = wait_back(lab, victim, t0, progress=progress)
        progress(f"+{result.back_s:.1f}s {victim} back: UpToDate Secondary, connected")
    result.drbd = {n: str(lab.drbd_state(n)) for n in lab.nodes}
    _judge(lab, result, expect_fenced=victim, expect_director=survivor, need_back=wait_return)
    return result


def _backup_before(lab: VmLab, node: str, result: VmFaultResult,
                   progress: Callable[[str], None]) -> Optional[int]:
    """LabBackup through the Director on `node`, waited for; its JobId when it ended T."""
    bk = lab.backups(node)
    started = time.monotonic()
    jobid = bk.run(backups.BACKUP_JOB, timeout=180)
    status = bk.wait(jobid, timeout=300)
    progress(f"backup JobId {jobid} ({backups.BACKUP_JOB}, host File daemon -> host Storage daemon) "
             f"ended {status!r} in {time.monotonic() - started:.1f}s")
    if status != "T":
        result.violations.append(f"backup JobId {jobid} before the crash ended {status!r}: {bk.daemons_now()}")
        return None
    return jobid


def _restore_after(lab: VmLab, node: str, result: VmFaultResult, progress: Callable[[str], None]) -> None:
    """Restore the backup made before the fault through the Director now on `node`; compare."""
    started = time.monotonic()
    ok, detail = lab.backups(node).restore_and_compare(result.backup_jobid, timeout=300)
    result.restore_s = time.monotonic() - started
    result.restore_ok = ok
    result.notes.append(detail)
    progress(f"restore of JobId {result.backup_jobid} through {node}'s Director: {detail} "
             f"({result.restore_s:.1f}s)")


def partition(lab: VmLab, progress: Callable[[str], None] = lambda m: None,
              timeout: float = 420) -> VmFaultResult:
    """Pull the Primary's replication/cluster cable.  Both nodes live and both still reach the
    PDU (its network is the management one); exactly one side may keep going.  The snippet's
    priority-fencing-delay is meant to make that the Primary; under emulation the Primary's
    own shot stalled (docs/lab.md) and the peer won: then the Director must come up on the
    peer with every committed row (DRBD froze the Primary's I/O at the cable pull, so the
    peer's disk is current).  Which side won is in the notes.  DRBD's fence-peer handler
    (crm-fence-peer.9.sh, from the shipped drbd-fencing.res) must have placed its constraint
    on the survivor; writes go on afterwards."""
    primary = lab.director_node()
    if primary is None:
        raise LabError("no node runs the Director")
    peer = _other(lab, primary)
    result = VmFaultResult("partition", primary, primary)
    label = f"before-partition-{int(time.time())}"
    lab.add_mark(primary, label)
    t0 = time.time()
    lab.partition(primary)
    progress(f"{primary}'s replication/cluster cable pulled at t0 (management network and PDU still reachable)")
    deadline = time.monotonic() + timeout
    fenced: List[str] = []
    while time.monotonic() < deadline:
        fenced = [e["machine"] for e in _fences_since(lab, t0)]
        st = lab.crm_status(peer if primary in fenced else primary)
        now = time.time() - t0
        if st and result.detected_s is None and (primary in fenced or peer not in st.online):
            result.detected_s = now
            progress(f"+{now:.1f}s the nodes lost each other")
        _note_fencing(lab, result, t0, progress)
        if fenced and primary not in fenced and st and st.running_on("p_director") == [primary]:
            break
        if primary in fenced:
            progress(f"+{time.time() - t0:.1f}s the Primary {primary} was the one fenced: failover to {peer}")
            break
        time.sleep(1)
    survivor = peer if primary in fenced else primary
    if survivor != primary:
        try:
            lab.wait_director(max(60.0, deadline - time.monotonic()) + 300, exclude=[primary])
        except LabError as exc:
            result.notes.append(str(exc))
    time.sleep(5)   # a second, late shot would show now
    result.fence_events = [f"{e['machine']} at +{e['t'] - t0:.1f}s" for e in _fences_since(lab, t0)]
    result.notes.append(f"surviving side: {survivor} ("
                        + ("the Primary, as priority-fencing-delay intends)" if survivor == primary else
                           "the peer: the Primary's own shot came later than the peer's delayed one)"))
    result.director_after = lab.director_node()
    if result.director_after:
        after = f"after-partition-{int(time.time())}"
        lab.add_mark(result.director_after, after)   # I/O resumed: the Primary takes writes again
        result.rows_ok = lab.has_mark(result.director_after, label) and lab.has_mark(result.director_after, after)
        result.answering_s = time.time() - t0
    handler = _constraint(lab, survivor)
    result.notes.append(f"DRBD fence-peer constraint ({CONSTRAINT}-*) in the CIB: {handler}")
    if not handler:
        result.violations.append("DRBD's fence-peer handler placed no constraint")
    progress(f"fence-peer handler constraint present: {handler}")
    result.drbd = {n: str(lab.drbd_state(n)) for n in lab.nodes}
    _judge(lab, result, expect_fenced=_other(lab, survivor), expect_director=survivor, need_back=False)
    return result


def heal(lab: VmLab, progress: Callable[[str], None] = lambda m: None, timeout: float = 720) -> VmFaultResult:
    """Plug the cables back (and power on what is off): the fenced node must rejoin as a Secondary,
    resync, the fence-peer constraint must go (after-resync-target handler), no split brain."""
    primary = lab.director_node()
    down = [n for n in lab.nodes if n != primary]
    victim = down[0] if down else "?"
    result = VmFaultResult("heal", victim, primary)
    t0 = time.time()
    for n in lab.nodes:
        lab.pdu(f"plug {n}")
    progress("cables plugged back at t0")
    result.back_s = wait_back(lab, victim, t0, timeout=timeout, progress=progress)
    progress(f"+{result.back_s:.1f}s {victim} back: UpToDate Secondary, connected")
    deadline = time.monotonic() + 60
    gone = False
    while time.monotonic() < deadline and not gone:
        gone = not _constraint(lab, primary)
        if not gone:
            time.sleep(2)
    result.notes.append(f"fence-peer constraint removed after the resync: {gone}")
    if not gone:
        result.violations.append("the fence-peer constraint is still in the CIB after the resync")
    result.director_after = lab.director_node()
    result.drbd = {n: str(lab.drbd_state(n)) for n in lab.nodes}
    if primary:
        result.rows_ok = lab.psql(primary, "SELECT count(*) > 0 FROM lab_marks;") == "t"
    _judge(lab, result, expect_fenced=None, expect_director=primary, need_back=True)
    return result


def _judge(lab: VmLab, result: VmFaultResult, expect_fenced: Optional[str], expect_director: Optional[str],
           need_back: bool) -> None:
    v = result.violations
    fenced = [e.split(" ")[0] for e in result.fence_events]
    if expect_fenced is not None and fenced != [expect_fenced]:
        v.append(f"expected exactly one fencing of {expect_fenced}, PDU saw {fenced or 'none'}")
    if expect_fenced is None and fenced:
        v.append(f"unexpected fencing: {fenced}")
    if result.director_after != expect_director:
        v.append(f"Director on {result.director_after}, expected {expect_director}")
    if not result.rows_ok:
        v.append("catalog row missing")
    if result.restore_ok is False and result.backup_jobid is not None:
        v.append(f"the backup made before the fault (JobId {result.backup_jobid}) was not restored intact")
    if need_back and result.back_s is None:
        v.append(f"{result.victim} did not come back")
    primaries = [n for n, s in result.drbd.items() if s.startswith("Primary")]
    if len(primaries) > 1:
        v.append(f"DRBD Primary on {primaries}")
    brains = _split_brain(lab)
    if brains:
        v.append(f"DRBD split brain detected on {brains}")
    result.ok = not v
