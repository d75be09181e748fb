# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault injection with measured recovery times, and the results file bench/ reads.

A fault is injected at t0 while a DirectorWatch samples, every 0.2 s, how
many nodes run a live bacula-dir.  Then the lab polls crm_mon on a surviving
node and the Director's console through the VIP until the Director answers
again.  A catalog row is committed through the VIP before the fault and
must be there after it.

Results file (JSON; path: $BACULA_HA_LAB_RESULTS, else <lab root>/fault-results.json):
    {"format": 1, "results": [RECORD, ...]}        (records are appended)
RECORD:
    fault            "director-kill9" | "director-sigstop" | "postgres-kill9" | "node-crash"
                     | "partition" | "git-bad-commit" | "git-unsigned-commit" | "git-server-down-failover"
                     | "patroni-switchover" | "patroni-primary-crash"
    arch, nodes, agents   the lab ("drbd"|"git", 2|3, "ours"|"stock")
    victim           the node (or process' node) the fault hit
    director_before, director_after   node running the Director before / after
    injected_at      epoch seconds of t0
    detected_s       s after t0 when the cluster showed the fault (failed operation, or the
                     victim no longer online), null if it never did (e.g. no outage at all)
    fenced_s         s after t0 when the PDU powered the victim off at a fence agent's
                     request, null without fencing
    started_s        s after t0 when crm_mon showed the Director resource started again
    answering_s      s after t0 when the Director answered a console request through the VIP
    max_directors    most nodes seen running a live Director at one sample (must be <= 1)
    samples          number of DirectorWatch samples
    rows_ok          the row committed before the fault was read back after it
    console_failures console requests through the VIP that failed during a fault that must
                     cause no outage (git-bad-commit, git-unsigned-commit); 0 otherwise
    backup_before    JobId of a backup that ended T before the fault
    restore_ok       that backup restored after the fault, byte-identical to its data
    backup_after_ok  a new backup after the fault ended T
    interrupted_jobid  the long backup running when the fault hit (faults with a running
                     backup: node crash, partition), else null
    rerun_jobid      the agent's rerun of it (null: never rerun, as with the stock agents)
    reruns           how many reruns of it were queued (must be 1 with our agents)
    rerun_running_s, rerun_done_s   s after t0 when the rerun started / ended (catalog times)
    rerun_status     the rerun's final JobStatus ("T" expected)
    overlap          the File daemon ran the interrupted job and its rerun at the same time
    catalog_checks   Patroni faults: [s after t0 when the check ended, exit code] of the
                     bacula-catalog-check monitors run back to back (crm_resource --force-check)
                     on the Director's node during the switch, else []
    catalog_degraded_s, catalog_ready_s   s after t0 when the first degraded (190) check ended and
                     when the first of two ready (0) checks after it ended, null if not seen
    ok               all expectations of the fault held
    note             free text (e.g. the reason crm_mon showed)
Durations: detection = detected_s; fencing = fenced_s - detected_s; start = started_s - max(fenced_s,
detected_s); service back = answering_s.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from . import backups, node, patroni
from .observe import DirectorWatch, add_mark, console_request, director_nodes, marks
from .lab import Lab
from .sh import LabError, run
from .stacks import load_secrets

DIRECTOR_RSC = "p_director"


@dataclass
class FaultResult:
    fault: str
    arch: str
    nodes: int
    agents: str
    victim: str
    director_before: Optional[str]
    director_after: Optional[str] = None
    injected_at: float = 0.0
    detected_s: Optional[float] = None
    fenced_s: Optional[float] = None
    started_s: Optional[float] = None
    answering_s: Optional[float] = None
    max_directors: int = 0
    samples: int = 0
    rows_ok: bool = False
    console_failures: int = 0
    backup_before: Optional[int] = None
    restore_ok: bool = False
    backup_after_ok: bool = False
    interrupted_jobid: Optional[int] = None
    rerun_jobid: Optional[int] = None
    reruns: int = 0
    rerun_running_s: Optional[float] = None
    rerun_done_s: Optional[float] = None
    rerun_status: Optional[str] = None
    overlap: bool = False
    catalog_checks: List[List[float]] = field(default_factory=list)
    catalog_degraded_s: Optional[float] = None
    catalog_ready_s: Optional[float] = None
    ok: bool = False
    note: str = ""
    violations: List[str] = field(default_factory=list)

    def summary(self) -> str:
        def f(v):
            return "-" if v is None else f"{v:.1f}s"
        return (f"{self.fault}: detected {f(self.detected_s)}, fenced {f(self.fenced_s)}, "
                f"started {f(self.started_s)}, answering {f(self.answering_s)}; Director "
                f"{self.director_before} -> {self.director_after}; max Directors at once "
                f"{self.max_directors}; catalog row {'kept' if self.rows_ok else 'LOST'}; pre-fault "
                f"backup {'restored identical' if self.restore_ok else 'NOT restored'}; backup after "
                f"{'OK' if self.backup_after_ok else 'FAILED'}"
                + (f"; interrupted JobId {self.interrupted_jobid} rerun as {self.rerun_jobid} "
                   f"({self.reruns} rerun(s), ended {self.rerun_status}, running {f(self.rerun_running_s)}, "
                   f"done {f(self.rerun_done_s)})" if self.interrupted_jobid else ""))


def results_path(lab: Lab) -> Path:
    return Path(os.environ.get("BACULA_HA_LAB_RESULTS") or Path(lab.layout.root) / "fault-results.json")


def record(lab: Lab, result: FaultResult) -> None:
    path = results_path(lab)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {"format": 1, "results": []}
    entry = asdict(result)
    entry.pop("violations")
    data["results"].append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _tell(progress: Optional[Callable[[str], None]], message: str) -> None:
    if progress:
        progress(message)


def fence_offs(lab: Lab, victim: str, since: float) -> List[float]:
    """Times the PDU powered victim off at a fence agent's request (via the network)."""
    times = []
    try:
        lines = lab.layout.pdu_events.read_text().splitlines()
    except OSError:
        return times
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "off" and ev.get("via") == "net" and ev.get("machine") == victim \
                and ev["t"] >= since:
            times.append(ev["t"])
    return times


def membership_left(lab: Lab, observer: str, victim: str, since: float) -> Optional[float]:
    """Epoch time the observer's corosync formed a membership without victim (from its log).

    More precise than polling crm_mon: this is the moment the survivors learn of the loss."""
    from datetime import datetime
    log = node.private_dir(lab.layout, observer, "/var/log/corosync") / "corosync.log"
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    nodeid = victim[4:]
    year = datetime.now().year
    for line in lines:
        if "Members left:" not in line:
            continue
        if nodeid not in line.split("Members left:", 1)[1].split():
            continue
        try:
            stamp = datetime.strptime(f"{year} {line[:19]}", "%Y %b %d %H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        if stamp >= since:
            return stamp
    return None


def signal_director(lab: Lab, where: str, sig: int) -> None:
    pids = node.processes(lab.layout, where, "bacula-dir")
    if not pids:
        raise LabError(f"no bacula-dir on {where}")
    for pid in pids:
        os.kill(pid, sig)


def signal_postgres(lab: Lab, where: str, sig: int) -> None:
    """Signal the postmaster (the oldest postgres process) of the node."""
    pids = node.processes(lab.layout, where, "postgres")
    if not pids:
        raise LabError(f"no postgres on {where}")
    os.kill(min(pids, key=_start_ticks), sig)


def _start_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except OSError:
        return 1 << 62


def measure(lab: Lab, fault: str, inject: Callable[[], None], victim: str, *, fenced: bool,
            watch_resources: Optional[List[str]] = None, expect_outage: bool = True,
            timeout: float = 120, poll: float = 0.3, during_backup: bool = False,
            progress: Optional[Callable[[str], None]] = None,
            recovered: Optional[Callable[[FaultResult], bool]] = None) -> FaultResult:
    """Inject a fault and time the recovery until the Director answers through the VIP again.

    Around it, the backups a user cares about: one made before the fault is restored after it
    (byte-identical), a new one must succeed after it; with `during_backup` the fault hits a
    long backup, which the agent must run again, once, on the survivor. `recovered`, when
    given, waits for the end of a fault the Director does not see (the catalog's switch) before
    the catalog is read and the restore runs, fills its fields in, and says if they held."""
    cfg = lab.config
    bk = lab.backups()
    if not bk.wait_idle():
        _tell(progress, "jobs of an earlier fault still running: " + bk.daemons_now())
    pre = bk.run()
    pre_status = bk.wait(pre, timeout=180)
    _tell(progress, f"backup JobId {pre} before the fault: {pre_status}")
    pre_note = "" if pre_status == "T" else f"backup JobId {pre} before the fault ended {pre_status!r}: " \
        + bk.daemons_now()
    interrupted = None
    if during_backup:
        interrupted = bk.run(backups.BIG_JOB)
        if bk.wait(interrupted, "R", timeout=60) != "R":
            raise LabError(f"the long backup JobId {interrupted} never ran")
        time.sleep(2.0)
        _tell(progress, f"long backup JobId {interrupted} running (File daemon limited to {backups.BANDWIDTH})")
    before = director_nodes(lab.layout, lab.nodes)
    result = FaultResult(fault, cfg.arch, len(cfg.nodes), cfg.agents, victim, before[0] if before else None)
    catalog_host = lab.stack.catalog_host()
    label = f"{fault.replace('-', '_')}_{int(time.time() * 1000)}"
    if not add_mark(lab.layout, catalog_host, lab.db_password(), label):
        raise LabError("could not commit a catalog row before the fault")
    watched = set(watch_resources or [DIRECTOR_RSC])
    password = lab.console_password()
    old_pids = {pid for n in lab.nodes for pid in node.processes(lab.layout, n, "bacula-dir")}
    obs0 = lab.observer()
    st0 = lab.status_from(obs0) if obs0 else None
    old_failures = set(st0.failures) if st0 else set()
    with DirectorWatch(lab.layout, lab.nodes) as watch:
        t0 = time.time()
        result.injected_at = t0
        inject()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.time() - t0
            if fenced and result.fenced_s is None:
                offs = fence_offs(lab, victim, t0)
                if offs:
                    result.fenced_s = round(offs[0] - t0, 2)
                    _tell(progress, f"+{result.fenced_s:5.1f}s fenced: the PDU powered {victim} off "
                                    "at the fence agent's request")
            obs = lab.observer(exclude=[victim] if fenced else None)
            st = lab.status_from(obs) if obs else None
            if st is not None:
                if result.detected_s is None:
                    if fenced:
                        lost = victim not in st.online
                    else:
                        new = [f for f in st.failures if f not in old_failures]
                        lost = any(any(r in f for r in watched) for f in new) or \
                            DIRECTOR_RSC not in st.resources
                    if lost:
                        result.detected_s = round(now, 2)
                        _tell(progress, f"+{now:5.1f}s detected: " + (f"{victim} lost from the membership"
                                                                       if fenced else "failed monitor"))
                        new = [f for f in st.failures if f not in old_failures]
                        if new:
                            result.note = "; ".join(new)[:400]
                running = st.running_on(DIRECTOR_RSC)
                fresh = [n for n in director_nodes(lab.layout, lab.nodes)
                         if set(node.processes(lab.layout, n, "bacula-dir")) - old_pids]
                ready = result.detected_s is not None or not expect_outage
                if ready and result.started_s is None and len(running) == 1 \
                        and (fresh or not expect_outage) \
                        and (not fenced or running[0] != victim) and (not fenced or result.fenced_s):
                    result.started_s = round(time.time() - t0, 2)
                    _tell(progress, f"+{result.started_s:5.1f}s Director started on {running[0]}")
            if result.started_s is not None:
                ok, _ = console_request(lab.layout, password, "version", timeout=5)
                if ok:
                    result.answering_s = round(time.time() - t0, 2)
                    _tell(progress, f"+{result.answering_s:5.1f}s Director answers a console request "
                                    "through the VIP")
                    break
            time.sleep(poll)
        time.sleep(1.0)   # keep watching a moment after recovery: no late second Director
        own_ok = recovered(result) if recovered else True
    result.max_directors = watch.max_seen
    result.samples = watch.samples
    result.violations = watch.violations
    after = director_nodes(lab.layout, lab.nodes)
    result.director_after = after[0] if len(after) == 1 else (",".join(after) or None)
    if fenced and result.director_after and result.director_after != victim:
        left = membership_left(lab, result.director_after, victim, t0)
        if left is not None:
            result.detected_s = round(left - t0, 2)
            result.note = (result.note + " " if result.note else "") + \
                "detected_s from the survivor's corosync membership change"
    got = wait_catalog(lab, timeout=60)
    result.rows_ok = bool(got and label in got)
    result.backup_before = pre if pre_status == "T" else None
    if pre_note:
        result.note = (result.note + "; " if result.note else "") + pre_note
    if interrupted is not None:
        follow_rerun(lab, bk, result, interrupted, progress)
    if result.backup_before:
        result.restore_ok, detail = bk.restore_and_compare(pre)
        _tell(progress, detail)
        if not result.restore_ok:
            result.note = (result.note + "; " if result.note else "") + detail + "; " + bk.daemons_now()
    after = bk.run()
    result.backup_after_ok = bk.wait(after, timeout=180) == "T"
    if not result.backup_after_ok:
        result.note = (result.note + "; " if result.note else "") + f"backup {after} after: " + bk.daemons_now()
    _tell(progress, f"backup JobId {after} after the fault: {'OK' if result.backup_after_ok else 'FAILED'}")
    rerun_ok = interrupted is None or cfg.agents != "ours" or (
        result.reruns == 1 and result.rerun_status == "T" and not result.overlap)
    result.ok = (result.answering_s is not None and result.max_directors <= 1 and result.rows_ok
                 and (result.fenced_s is not None or not fenced) and result.restore_ok
                 and result.backup_after_ok and rerun_ok and own_ok)
    record(lab, result)
    return result


def follow_rerun(lab: Lab, bk: "backups.Backups", result: FaultResult, interrupted: int,
                 progress: Optional[Callable[[str], None]], timeout: float = 150) -> None:
    """Wait for the agent's rerun of `interrupted` to end (stock agents: it never comes);
    while it runs, the File daemon must not still run the interrupted job."""
    result.interrupted_jobid = interrupted
    t0 = result.injected_at
    wait_for_queue = 40 if lab.config.agents == "ours" else 25
    deadline = time.monotonic() + timeout
    queued_by = time.monotonic() + wait_for_queue
    while time.monotonic() < deadline:
        reruns = bk.reruns(interrupted)
        result.reruns = len(reruns)
        if not reruns:
            if time.monotonic() > queued_by:
                _tell(progress, f"interrupted JobId {interrupted}: never run again")
                return
            time.sleep(0.5)
            continue
        result.rerun_jobid = reruns[0]
        status = bk.status(reruns[0])
        if status == "R":
            running = bk.fd_running() or []
            if interrupted in running and reruns[0] in running:
                result.overlap = True
        if status and status in "TWEefA":
            result.rerun_status = status
            break
        time.sleep(0.5)
    if result.rerun_jobid is None:
        return
    times = bk.times(result.rerun_jobid)
    if times:
        start, end = times
        result.rerun_running_s = round(start - t0, 2) if start else None
        result.rerun_done_s = round(end - t0, 2) if end else None
    result.reruns = len(bk.reruns(interrupted))
    _tell(progress, f"interrupted JobId {interrupted} run again as JobId {result.rerun_jobid}: "
                    f"running {result.rerun_running_s} s after the fault, ended {result.rerun_status} "
                    f"{result.rerun_done_s} s after it")


# ---- the faults -----------------------------------------------------------------------------

def director_kill9(lab: Lab) -> FaultResult:
    where = director_nodes(lab.layout, lab.nodes)[0]
    return measure(lab, "director-kill9", lambda: signal_director(lab, where, signal.SIGKILL), where,
                   fenced=False)


def director_sigstop(lab: Lab) -> FaultResult:
    where = director_nodes(lab.layout, lab.nodes)[0]
    stopped = node.processes(lab.layout, where, "bacula-dir")
    try:
        return measure(lab, "director-sigstop", lambda: signal_director(lab, where, signal.SIGSTOP), where,
                       fenced=False)
    finally:
        for pid in stopped:   # if the agent did not kill it, do not leave it stopped
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def postgres_kill9(lab: Lab) -> FaultResult:
    where = director_nodes(lab.layout, lab.nodes)[0]
    return measure(lab, "postgres-kill9", lambda: signal_postgres(lab, where, signal.SIGKILL), where,
                   fenced=False, watch_resources=["p_pgsql", "p_catalog_check", DIRECTOR_RSC])


def node_crash(lab: Lab, victim: Optional[str] = None,
               progress: Optional[Callable[[str], None]] = None) -> FaultResult:
    victim = victim or director_nodes(lab.layout, lab.nodes)[0]
    return measure(lab, "node-crash", lambda: lab.fail(victim), victim, fenced=True, progress=progress,
                   during_backup=True, timeout=180)


def partition(lab: Lab, victim: Optional[str] = None) -> FaultResult:
    victim = victim or director_nodes(lab.layout, lab.nodes)[0]
    return measure(lab, "partition", lambda: lab.partition(victim), victim, fenced=True,
                   during_backup=True, timeout=180)


def wait_catalog(lab: Lab, timeout: float = 60) -> Optional[List[str]]:
    """The catalog marks, once the catalog answers through its service address (None: never)."""
    deadline = time.monotonic() + timeout
    host = lab.stack.catalog_host()
    while True:
        got = marks(lab.layout, host, lab.db_password())
        if got is not None or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def config_commit(lab: Lab, kind: str, timeout: float = 90,
                  progress: Optional[Callable[[str], None]] = None) -> FaultResult:
    """git arch: push a bad (kind="bad") or unsigned (kind="unsigned") commit to the Git server.

    Expected: no outage at all (the Director keeps answering through the VIP the whole time)
    and the refusal's reason visible in crm_mon; then a good commit restores the branch."""
    stack = lab.stack
    good = stack.good_config()
    if kind == "bad":
        text, signed = good + "\nDirector {\n  Name = broken-by-lab\n", True
    elif kind == "unsigned":
        text, signed = good + "\n# an unsigned change\n", False
    else:
        raise ValueError(kind)
    before = director_nodes(lab.layout, lab.nodes)
    last_good = stack.head()
    result = FaultResult(f"git-{kind}-commit", lab.config.arch, len(lab.nodes), lab.config.agents,
                         before[0] if before else "", before[0] if before else None)
    label = f"git_{kind}_{int(time.time() * 1000)}"
    if not add_mark(lab.layout, stack.catalog_host(), lab.db_password(), label):
        raise LabError("could not commit a catalog row before the fault")
    password = lab.console_password()
    with DirectorWatch(lab.layout, lab.nodes) as watch:
        t0 = time.time()
        result.injected_at = t0
        commit = stack.commit(text, f"lab fault: {kind} commit", signed=signed)
        _tell(progress, f"pushed {kind} commit {commit[:12]}")
        deadline = time.monotonic() + timeout
        seen_after = 0
        while time.monotonic() < deadline and seen_after < 3:
            ok, _ = console_request(lab.layout, password, "version", timeout=5)
            if not ok:
                result.console_failures += 1
            st = lab.status_from(lab.observer())
            reasons = [f for f in (st.failures if st else []) if commit[:12] in f]
            if reasons and result.detected_s is None:
                result.detected_s = round(time.time() - t0, 2)
                result.note = reasons[0][:400]
                _tell(progress, f"+{result.detected_s:5.1f}s crm_mon: {result.note}")
            if result.detected_s is not None:
                seen_after += 1
            time.sleep(0.5)
        result.answering_s = None
    result.max_directors = watch.max_seen
    result.samples = watch.samples
    result.violations = watch.violations
    after = director_nodes(lab.layout, lab.nodes)
    result.director_after = after[0] if len(after) == 1 else (",".join(after) or None)
    got = wait_catalog(lab, timeout=60)
    result.rows_ok = bool(got and label in got)
    result.ok = (result.detected_s is not None and result.console_failures == 0
                 and result.max_directors <= 1 and result.rows_ok
                 and result.director_after == result.director_before)
    record(lab, result)
    stack.commit(good, "lab: restore a good configuration", on=last_good)
    return result


def git_down_failover(lab: Lab, progress: Optional[Callable[[str], None]] = None) -> FaultResult:
    """git arch: the Git server is powered off, then the active node crashes: the survivor must
    promote from its cached, validated configuration."""
    victim = director_nodes(lab.layout, lab.nodes)[0]

    def inject() -> None:
        lab.fail("git")
        lab.fail(victim)
    return measure(lab, "git-server-down-failover", inject, victim, fenced=True, progress=progress)


class CatalogCheckWatch:
    """bacula-catalog-check's monitor, run again and again on the Director's node while the
    catalog switches (`crm_resource --force-check`: the resource's own parameters and agent,
    outside Pacemaker's schedule, whose 10 s interval could miss a short switch)."""

    def __init__(self, lab: Lab, where: str, pause: float = 0.2) -> None:
        self.lab, self.where, self.pause = lab, where, pause
        self.t0 = 0.0
        self.checks: List[List[float]] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._thread = threading.Thread(target=self._run, daemon=True, name="catalog-check-watch")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rc = run(node.enter(self.lab.layout, self.where)
                         + ["crm_resource", "--force-check", "-r", "p_catalog_check"],
                         timeout=40, check=False).returncode
            except LabError:
                rc = -1
            self.checks.append([round(time.time() - self.t0, 2), rc])
            self._stop.wait(self.pause)

    def degraded_s(self) -> Optional[float]:
        return next((t for t, rc in self.checks if rc == 190), None)

    def ready_s(self) -> Optional[float]:
        """When the first of two consecutive ready checks after the first degraded one ended."""
        first = self.degraded_s()
        if first is None:
            return None
        later = [(t, rc) for t, rc in self.checks if t > first]
        for i in range(len(later) - 1):
            if later[i][1] == 0 and later[i + 1][1] == 0:
                return later[i][0]
        return None

    def wait(self, timeout: float) -> None:
        """Until degraded then ready was seen (or the time is up); then stop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.ready_s() is None:
            time.sleep(0.2)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=45)


def catalog_switch(lab: Lab, kind: str, progress: Optional[Callable[[str], None]] = None) -> FaultResult:
    """git arch: the Patroni catalog changes its primary while the Director runs, by a switchover
    (kind="switchover", REST POST /switchover) or by a crash of the primary's host (kind="crash").

    Expected: bacula-catalog-check reports degraded (190) during the switch and ready (0) after
    it; the Director stays where it is; the row committed before is read after; the backup made
    before is restored and a backup started after the switch ends T."""
    if kind not in ("switchover", "crash"):
        raise ValueError(kind)
    layout = lab.layout
    lab.stack.catalog_ready(timeout=120)
    old = patroni.leader(layout)
    if old is None:
        raise LabError("the Patroni cluster has no leader before the fault")
    where = director_nodes(layout, lab.nodes)[0]
    watch = CatalogCheckWatch(lab, where)

    def inject() -> None:
        watch.start(time.time())
        if kind == "switchover":
            before, after = patroni.switchover(layout, load_secrets(layout)["patroni_rest"])
            _tell(progress, f"Patroni switchover {before} -> {after} accepted")
        else:
            lab.fail(old)
            _tell(progress, f"{old} (the Patroni primary) powered off")

    def recovered(result: FaultResult) -> bool:
        watch.wait(timeout=90)
        result.catalog_checks = watch.checks
        result.catalog_degraded_s = watch.degraded_s()
        result.catalog_ready_s = watch.ready_s()
        new = patroni.leader(layout)
        _tell(progress, f"catalog check degraded at +{result.catalog_degraded_s} s, ready at "
                        f"+{result.catalog_ready_s} s; Patroni primary {old} -> {new}")
        result.note = (result.note + "; " if result.note else "") + f"Patroni primary {old} -> {new}"
        here = director_nodes(layout, lab.nodes)
        return (result.catalog_degraded_s is not None and result.catalog_ready_s is not None
                and new not in (None, old) and here == [where])

    return measure(lab, f"patroni-{'switchover' if kind == 'switchover' else 'primary-crash'}", inject, old,
                   fenced=False, expect_outage=False, progress=progress, recovered=recovered)


def settle(lab: Lab, timeout: float = 180, rounds: int = 3) -> str:
    """Undo a fault: cables in, nodes on, failures cleared; wait for a full cluster with nothing
    left to do, the Director answering and the catalog reachable.

    Why the wait for an idle cluster: `crm_resource --cleanup` deletes the failed resource's
    history, and the transition that re-probes it comes only after crm_mon already shows a clean
    stack. For a promotable clone (streaming: ms_pgsql after a kill -9 of the primary) Pacemaker
    2.1 plans "Stopped -> Promoted" until the probe answers and may restart everything ordered
    after the promotion (replication address, catalog check, Director) meanwhile: the next
    fault's backup must not start before that is over. A restart can leave failures of its own
    (the catalog check's write while the standbys reconnect): they are cleaned up again, at most
    `rounds` times."""
    def complete(st) -> bool:
        """No failure, every node online, one Director and one VIP."""
        return bool(st and not st.failures and len(st.running_on(DIRECTOR_RSC)) == 1
                    and len(st.running_on("p_vip")) == 1 and sorted(st.online) == sorted(lab.nodes))

    lab.heal()
    lab.wait_formed(timeout=timeout)
    deadline = time.monotonic() + timeout
    st = None
    for done in range(rounds):
        lab.cleanup_failures()
        lab.wait_idle(max(1.0, deadline - time.monotonic()))
        # Each round gets its share of the time left: a degraded result clears by itself once the
        # resource recovers (config-pull serving its cache until the Git server answers again after
        # its back-off), a failure left by a restart needs the next round's cleanup.
        round_end = time.monotonic() + max(1.0, deadline - time.monotonic()) / (rounds - done)
        while True:   # the cleanup re-probes: wait until crm_mon shows a clean, complete stack again
            obs = lab.observer()
            st = lab.status_from(obs) if obs else None
            if complete(st):
                break
            if time.monotonic() > round_end:
                break
            time.sleep(0.5)
        if st and not st.failures and lab.wait_idle(max(1.0, deadline - time.monotonic())):
            break
        if time.monotonic() > deadline:
            break
    if not complete(st):
        raise LabError(f"cluster not clean after recovery: {st.failures if st else 'no status'}")
    where = lab.wait_director(timeout=timeout)
    lab.stack.catalog_ready(timeout=timeout)
    if wait_catalog(lab, timeout=timeout) is None:
        raise LabError("catalog not reachable after recovery")
    return where
