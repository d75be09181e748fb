# SPDX-License-Identifier: GPL-2.0-or-later
"""Jobs a Director left running when it died or was stopped: found, cleaned up, run again once.

Why the agent does this: a Bacula Director that dies forgets its jobs. The next
Director marks every job it finds running in the catalog as `f` (fatal) when it
starts, nothing ever runs them again (`Reschedule On Error` only covers jobs
that fail while their Director lives), and the File and Storage daemons go on
running the orphan, writing bytes the catalog never learns of (measured on
9.6.7: docs/agents/bacula-director.md, "Jobs across a failover").

How (parameter `interrupted_jobs`, default `rerun`):
1. `before_start`, before bacula-dir starts (afterwards the jobs are `f` and look
   like ordinary failures): the jobs whose JobStatus is one of RUNNING_STATES
   are copied into the agent's own table `bacula_ha_interrupted_jobs` in the
   catalog, keyed by JobId (INSERT ... ON CONFLICT DO NOTHING: a second start
   records nothing twice). The table is the record every node sees; Bacula's
   own tables are only read.
2. `follow_up`, in the first monitors after the start (start itself returns as
   soon as the Director answers): for each recorded job, claim its row
   (pending -> claimed, one committed UPDATE), cancel its leftovers on the File
   and Storage daemons (`cancel inactive ... jobid=N`), then `run` Backup, Copy
   and Migrate jobs again with their own job, level, client, fileset, pool and
   storage and the comment RERUN_COMMENT naming the interrupted JobId; the new
   JobId goes into the row (state `rerun`). Restore, Verify, Admin jobs and the
   target side of a copy/migration (PriorJobId set) are `reported`, never rerun.
   A row left `claimed` by an agent that died is settled by looking for a job
   with that comment: found = it was queued (record it), none = it was not
   (run it now). So an interrupted JobId is run again at most once.
3. `before_stop`, when a running Director is stopped (a move, a restart in
   place): its running jobs are recorded the same way, then canceled, so the
   next start (here or on another node) runs them again.

`report` records and logs them (state `reported`, nothing canceled or run);
`ignore` does nothing (the stock behaviour). Every failure here is a warning:
the Director's start, monitor and stop never fail because of this module.
"""

from __future__ import annotations

import os
import re
import time

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, List, Optional

from ...ocf.codes import OcfError

from .settings import JOBS_MARKER as MARKER   # HA_RSCTMP: recorded jobs for the monitors to settle

TABLE = "bacula_ha_interrupted_jobs"
#: Bacula's JobStatus codes of a job that has not ended (src/jcr.h and the catalog's Status
#: table of 9.6): C created, R running, B blocked, F/S waiting for FD/SD, m/M waiting for
#: media/mount, s/j/c waiting for storage/job/client resource, d max jobs, t start time,
#: p priority, a/i attribute despooling/inserting, l/L data despooling/committing.
#: Ended: T W (OK), E e f (errors), A (canceled), D (verify differences), I (incomplete).
RUNNING_STATES = "CRBFSmMsjcdtpailL"
RERUN_TYPES = "Bcg"          # Backup, Copy, Migrate (the control job of a copy/migration)
TYPE_NAMES = {"B": "Backup", "R": "Restore", "V": "Verify", "D": "Admin", "c": "Copy", "g": "Migrate",
              "C": "Copy", "M": "Migrated", "A": "Archive", "S": "Scan", "U": "Console", "I": "System"}
LEVELS = {"F": "Full", "I": "Incremental", "D": "Differential", "f": "VirtualFull", "B": "Base"}
RERUN_COMMENT = "bacula-ha: rerun of interrupted JobId {}"
#: one catalog step (a login and a statement) gets this share of the operation timeout
#: (Deadline.part): 10 s of the start's default 60 s, 5 s of a monitor's 30 s
CATALOG_STEP_SHARE = 1 / 6
_QUEUED = re.compile(r"Job queued\. JobId=(\d+)")

SQL_CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
  jobid integer PRIMARY KEY,
  job text NOT NULL, name text NOT NULL, type char(1) NOT NULL, level char(1) NOT NULL,
  jobstatus char(1) NOT NULL, priorjobid integer NOT NULL DEFAULT 0,
  client text, fileset text, pool text, storage text,
  source text NOT NULL, recorded_by text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
  state text NOT NULL, rerun_jobid integer, note text, updated_at timestamptz NOT NULL DEFAULT now())"""

# The running jobs with the names of their client, fileset, pool and (when it wrote to a
# volume already) storage: what `run` needs, read before the Director forgets them.
SQL_RECORD = f"""INSERT INTO {TABLE} (jobid, job, name, type, level, jobstatus, priorjobid, client,
    fileset, pool, storage, source, recorded_by, state)
  SELECT j.JobId, j.Job, j.Name, j.Type, j.Level, j.JobStatus, coalesce(j.PriorJobId, 0), c.Name,
         f.FileSet, p.Name,
         (SELECT s.Name FROM JobMedia jm JOIN Media m ON m.MediaId = jm.MediaId
            JOIN Storage s ON s.StorageId = m.StorageId WHERE jm.JobId = j.JobId LIMIT 1),
         $1, $2, $3
  FROM Job j LEFT JOIN Client c ON c.ClientId = j.ClientId
       LEFT JOIN FileSet f ON f.FileSetId = j.FileSetId LEFT JOIN Pool p ON p.PoolId = j.PoolId
  WHERE j.JobStatus IN ({", ".join(f"'{c}'" for c in RUNNING_STATES)})
ON CONFLICT (jobid) DO NOTHING
RETURNING jobid, job, name, type, level, jobstatus, priorjobid, client, fileset, pool, storage"""
SQL_OUTSTANDING = (f"SELECT jobid, job, name, type, level, jobstatus, priorjobid, client, fileset, pool, "
                   f"storage, state FROM {TABLE} WHERE state IN ('pending', 'claimed') ORDER BY jobid")
SQL_CLAIM = (f"UPDATE {TABLE} SET state = 'claimed', note = $1, updated_at = now() "
             "WHERE jobid = $2 AND state = 'pending' RETURNING jobid")
SQL_SETTLE = (f"UPDATE {TABLE} SET state = $1, rerun_jobid = $2, note = $3, updated_at = now() "
              "WHERE jobid = $4 AND state IN ('pending', 'claimed')")
SQL_UNCLAIM = f"UPDATE {TABLE} SET state = 'pending', note = $1, updated_at = now() WHERE jobid = $2 AND state = 'claimed'"
SQL_FIND_RERUN = "SELECT JobId FROM Job WHERE JobId > $1 AND Comment = $2 ORDER BY JobId LIMIT 1"
UNDEFINED_TABLE = "42P01"
ALREADY_EXISTS = ("42P07", "23505")


class Job:
    """One recorded interrupted job (a row of TABLE)."""

    __slots__ = ("jobid", "job", "name", "type", "level", "status", "prior", "client", "fileset",
                 "pool", "storage", "state")

    def __init__(self, row, state: str = "pending") -> None:
        row = list(row)                      # libpq gives text values
        row[0], row[6] = int(row[0]), int(row[6] or 0)
        (self.jobid, self.job, self.name, self.type, self.level, self.status, self.prior, self.client,
         self.fileset, self.pool, self.storage) = row[:11]
        self.state = row[11] if len(row) > 11 else state

    @property
    def rerunnable(self) -> bool:
        """Backup/Copy/Migrate, and not the target side of a copy or migration."""
        return self.type in RERUN_TYPES and not (self.type == "B" and self.prior)

    def describe(self) -> str:
        kind = TYPE_NAMES.get(self.type, f"type {self.type}")
        return f"JobId {self.jobid} ({kind} job {self.name!r}, status {self.status})"


class JobsError(Exception):
    """Recovery could not proceed (catalog or console); `str()` is one line, no secret."""


# -- the catalog side ------------------------------------------------------------------
def node_name(ctx) -> str:
    return ctx.environ.get("OCF_RESKEY_CRM_meta_on_node") or os.uname().nodename


def _bounded(cat, budget: float, work):
    """work(session, end) on a fresh session with the Director's own Catalog credentials (the
    catalog probe's bounded libpq layer: agents/catalog/), all of it within `budget` seconds."""
    from ..catalog import libpq
    from ..catalog.connection import conninfo_params, open_session
    from ..catalog.errors import Target
    if budget <= 0.2:
        raise JobsError("no time left for the catalog")
    end = time.monotonic() + budget
    params = conninfo_params(Target(cat.host or cat.socket, int(cat.port or 5432), cat.dbname, cat.user),
                             "", "prefer", budget, application_name="bacula-director-jobs")
    session = None
    try:
        session = open_session(params, budget, end, password=cat.password)
        ms = max(100, int(budget * 900))
        session.query(f"SET statement_timeout = {ms}; SET lock_timeout = {max(50, ms // 2)}; "
                      "SET client_min_messages = warning",   # no NOTICE on stderr (CREATE IF NOT EXISTS)
                      end=end, step="session")
        return work(session, end)
    except libpq.NoAnswer as exc:
        raise JobsError(f"catalog did not answer within {budget:.1f}s ({exc.step})") from None
    except libpq.LibpqError as exc:
        raise JobsError(f"catalog: {_first_line(exc)}") from None
    finally:
        if session is not None:
            session.close()


def _rows(session, end: float, sql: str, args=None) -> list:
    return session.query(sql, args, end=end, step=sql.split()[0].lower())[-1]


def _ensure_table(session, end: float) -> None:
    from ..catalog import libpq
    try:
        session.query(SQL_CREATE, end=end, step="create")
    except libpq.QueryFailed as exc:
        if exc.sqlstate not in ALREADY_EXISTS:     # two nodes creating it at once
            raise


def record(cat, node: str, source: str, state: str, budget: float) -> "tuple":
    """Copy the catalog's running jobs into TABLE; (newly recorded jobs, outstanding jobs)."""
    def work(session, end):
        _ensure_table(session, end)
        new = [Job(row, state) for row in _rows(session, end, SQL_RECORD, [source, node, state])]
        return new, [Job(row) for row in _rows(session, end, SQL_OUTSTANDING)]
    return _bounded(cat, budget, work)


def outstanding(cat, budget: float) -> "List[Job]":
    from ..catalog import libpq

    def work(session, end):
        try:
            return [Job(row) for row in _rows(session, end, SQL_OUTSTANDING)]
        except libpq.QueryFailed as exc:
            if exc.sqlstate == UNDEFINED_TABLE:
                return []
            raise
    return _bounded(cat, budget, work)


def claim(cat, job: Job, node: str, budget: float) -> bool:
    """pending -> claimed (committed before anything is run); False when someone else has it."""
    return bool(_bounded(cat, budget, lambda session, end: _rows(
        session, end, SQL_CLAIM, [f"claimed by {node}", str(job.jobid)])))


def settle(cat, job: Job, state: str, budget: float, rerun: "Optional[int]" = None, note: str = "") -> None:
    _bounded(cat, budget, lambda session, end: _rows(
        session, end, SQL_SETTLE, [state, None if rerun is None else str(rerun), note[:500], str(job.jobid)]))


def unclaim(cat, job: Job, note: str, budget: float) -> None:
    """claimed -> pending: nothing was queued (the orphan was still running)."""
    _bounded(cat, budget, lambda session, end: _rows(session, end, SQL_UNCLAIM, [note[:500], str(job.jobid)]))


def find_rerun(cat, job: Job, budget: float) -> "Optional[int]":
    """The JobId of a rerun already queued for `job` (its comment names it), else None."""
    rows = _bounded(cat, budget, lambda session, end: _rows(
        session, end, SQL_FIND_RERUN, [str(job.jobid), RERUN_COMMENT.format(job.jobid)]))
    return int(rows[0][0]) if rows else None


# -- the console side ------------------------------------------------------------------
def _quote(value: str) -> str:
    if '"' in value or "\n" in value:
        raise JobsError(f"name {value!r} cannot be passed to the console")
    return f'"{value}"'


def run_command(job: Job, storage: "Optional[str]") -> str:
    """The console `run` that repeats `job` with its own parameters (measured on 9.6.7:
    `restart failed jobid=N` keeps level and pool too, but drops comment=, needs the old
    job's status keyword and prompts without it; `run` takes every parameter explicitly)."""
    words = ["run", f"job={_quote(job.name)}"]
    if job.type == "B":
        if job.level in LEVELS:
            words.append(f"level={LEVELS[job.level]}")
        if job.client:
            words.append(f"client={_quote(job.client)}")
        if job.fileset:
            words.append(f"fileset={_quote(job.fileset)}")
        if job.pool:
            words.append(f"pool={_quote(job.pool)}")
        if storage:
            words.append(f"storage={_quote(storage)}")
    words.append(f"comment={_quote(RERUN_COMMENT.format(job.jobid))}")
    words.append("yes")
    return " ".join(words)


class Session:
    """Console commands for the recovery, each on its own short connection: a command the
    Director answers with a prompt must not take the next command as its answer."""

    def __init__(self, settings, deadline) -> None:
        self.settings = settings
        self.deadline = deadline

    def packets(self, command: str, seconds: float = 10.0) -> "List[str]":
        from .console import ConsoleError, DirectorConsole
        window = self.deadline.window(seconds)
        try:
            with DirectorConsole(self.settings.address, self.settings.port, self.settings.console_name,
                                 self.settings.console_password, window) as console:
                return console.packets(command)
        except ConsoleError as exc:
            raise JobsError(str(exc)) from None

    def defaults(self, job_name: str) -> "Dict[str, str]":
        """The Job resource's defaults (`.defaults job=...`: client, storage, pool, ...)."""
        out: Dict[str, str] = {}
        for packet in self.packets(f".defaults job={_quote(job_name)}"):
            for line in packet.splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    out[key.strip()] = value.strip()
        return out


def cancel_leftovers(session: Session, job: Job, storage: "Optional[str]") -> str:
    """`cancel inactive`: the orphan of a job this Director never ran, on its FD and SD."""
    if not (job.client and storage):
        return "leftovers not canceled (client or storage unknown)"
    text = " ".join(session.packets(f"cancel inactive client={_quote(job.client)} "
                                    f"storage={_quote(storage)} jobid={job.jobid}"))
    return " ".join(text.split())[:200]


def still_running(session: Session, job: Job, what: str) -> bool:
    """Does the File (`client`) or Storage (`storage`) daemon still list `job` as running?"""
    text = "\n".join(session.packets(f"status {what}"))
    running = text.split("Running Jobs:", 1)[1].split("====", 1)[0] if "Running Jobs:" in text else ""
    return re.search(rf"JobId[ =]{job.jobid}\b", running) is not None


def wait_orphan_gone(session: Session, job: Job, seconds: float) -> bool:
    """True once the File daemon no longer runs the orphan (a cancel takes a moment: a
    bandwidth-limited job notices it between two sends). The Storage daemon is not waited
    for: its half can stay blocked on the dead Director's socket long after the File daemon
    stopped sending (docs: Known limits), and it writes nothing more without the FD."""
    if not job.client:
        return True
    end = time.monotonic() + seconds
    while True:
        if not still_running(session, job, f"client={_quote(job.client)}"):
            return True
        if time.monotonic() >= end or session.deadline.remaining() < 3.0:
            return False
        time.sleep(0.5)


def rerun(session: Session, job: Job, storage: "Optional[str]") -> "tuple":
    """(new JobId or None, the Director's answer in one line)."""
    text = " ".join(" ".join(session.packets(run_command(job, storage), seconds=20.0)).split())
    found = _QUEUED.search(text)
    return (int(found.group(1)) if found else None), text[:300]


# -- the agent's hooks -----------------------------------------------------------------
def _mode(ctx) -> str:
    return getattr(ctx.params, "interrupted_jobs", "rerun") or "rerun"


def before_start(ctx, settings) -> None:
    """Record what the previous Director left running; leave MARKER when the monitors have work."""
    mode = _mode(ctx)
    state = ctx.state()
    state.remove(MARKER)
    if mode == "ignore" or settings.catalog is None:
        return
    try:
        new, pending = record(settings.catalog, node_name(ctx), "start",
                              "pending" if mode == "rerun" else "reported", ctx.deadline.part(CATALOG_STEP_SHARE))
    except Exception as exc:     # never a failed start for this (JobsError, OcfError, a bug)
        ctx.log.warning(f"interrupted jobs: cannot read the catalog before the start, jobs a previous "
                        f"Director left running will not be run again: {_reason(exc)}")
        return
    for job in new:
        if mode == "rerun":
            ctx.log.warning(f"interrupted job found: {job.describe()}; "
                            + ("it will be run again" if job.rerunnable else "reported only (never rerun)"))
        else:
            ctx.log.warning(f"interrupted job found: {job.describe()}; interrupted_jobs=report: "
                            "left as it is (not canceled, not rerun)")
    if mode == "rerun" and pending:
        state.write(MARKER, " ".join(str(j.jobid) for j in pending) + "\n")


def follow_up(ctx) -> None:
    """Settle the recorded jobs (cancel leftovers, rerun or report), within this monitor's budget."""
    from ...ocf.lock import instance_lock
    from .settings import resolve
    state = ctx.state()
    if _mode(ctx) != "rerun":
        state.remove(MARKER)
        return
    try:
        # Two monitors (depths 0 and 10) may run at once: one settles, the other waits briefly.
        with instance_lock(state.path(MARKER + ".lock"), ctx.deadline.window(1.0)):
            settings = resolve(ctx.params, with_console=True, with_catalog=True)
            ctx.secrets.add(settings.console_password)
            if settings.catalog is None:
                state.remove(MARKER)
                return
            ctx.secrets.add(settings.catalog.password)
            if _settle_all(ctx, settings):
                state.remove(MARKER)
    except OcfError as exc:
        ctx.log.info(f"interrupted jobs: settled later ({_reason(exc)})")
    except Exception as exc:   # never fail a monitor for this: the Director itself is fine
        ctx.log.warning(f"interrupted jobs: {_reason(exc)}; retried at the next monitor")


def _settle_all(ctx, settings) -> bool:
    """True when nothing is left to do."""
    cat = settings.catalog
    node = node_name(ctx)
    session = Session(settings, ctx.deadline)
    for job in outstanding(cat, ctx.deadline.part(CATALOG_STEP_SHARE)):
        if ctx.deadline.remaining() < 3.0:
            return False
        if job.state == "claimed":
            # claimed by an agent that is gone (we hold the node's lock; only one node runs
            # the Director): did its `run` get through? The comment tells.
            done = find_rerun(cat, job, ctx.deadline.part(CATALOG_STEP_SHARE))
            if done is not None:
                settle(cat, job, "rerun", ctx.deadline.part(CATALOG_STEP_SHARE), rerun=done, note="found by its comment")
                ctx.log.info(f"interrupted JobId {job.jobid}: rerun JobId {done} was queued before")
                continue
        elif not claim(cat, job, node, ctx.deadline.part(CATALOG_STEP_SHARE)):
            continue
        _settle_one(ctx, session, cat, job)
    return True


def _settle_one(ctx, session: Session, cat, job: Job) -> None:
    storage = job.storage
    try:
        if not storage:
            storage = session.defaults(job.name).get("storage") or None
    except JobsError as exc:
        ctx.log.warning(f"interrupted JobId {job.jobid}: cannot read the defaults of job {job.name!r}: {exc}")
    try:
        answer = cancel_leftovers(session, job, storage)
        ctx.log.info(f"interrupted JobId {job.jobid}: leftovers on its File/Storage daemons: {answer}")
    except JobsError as exc:
        ctx.log.warning(f"interrupted JobId {job.jobid}: canceling its leftovers failed: {exc}")
    # never two runs at once: the rerun waits until the File daemon has let the orphan go
    try:
        gone = wait_orphan_gone(session, job, min(15.0, max(0.0, ctx.deadline.remaining() - 8.0)))
    except JobsError as exc:
        gone = False
        ctx.log.warning(f"interrupted JobId {job.jobid}: cannot ask its File daemon: {exc}")
    if not gone and job.rerunnable:
        unclaim(cat, job, "orphan still running on its File daemon", ctx.deadline.part(CATALOG_STEP_SHARE))
        ctx.log.info(f"interrupted JobId {job.jobid}: its orphan still runs on the File daemon; "
                     "rerun at the next monitor")
        raise JobsError("orphan still running")
    if not job.rerunnable:
        why = "target of a copy/migration" if job.prior else "never rerun"
        settle(cat, job, "reported", ctx.deadline.part(CATALOG_STEP_SHARE), note=why)
        ctx.log.warning(f"interrupted job not rerun ({why}): {job.describe()}; run it again by hand if needed")
        return
    try:
        new_jobid, answer = rerun(session, job, storage)
    except JobsError as exc:
        # Whether the Director queued it is unknown: the row stays claimed, and the next
        # monitor looks for the rerun's comment before running anything.
        ctx.log.warning(f"interrupted JobId {job.jobid}: rerun not confirmed ({exc}); checked again later")
        raise
    if new_jobid is None:
        settle(cat, job, "failed", ctx.deadline.part(CATALOG_STEP_SHARE), note=answer)
        ctx.log.warning(f"interrupted JobId {job.jobid}: the Director did not queue its rerun: {answer}")
        return
    settle(cat, job, "rerun", ctx.deadline.part(CATALOG_STEP_SHARE), rerun=new_jobid)
    ctx.log.info(f"interrupted JobId {job.jobid} ({job.name}) run again as JobId {new_jobid}")


def before_stop(ctx, settings) -> None:
    """A running Director is being stopped: record its running jobs, then cancel them."""
    if _mode(ctx) != "rerun" or settings.catalog is None:
        return
    budget = min(15.0, ctx.deadline.remaining() * 0.3)
    deadline = ctx.deadline.window(budget)
    try:
        new, _pending = record(settings.catalog, node_name(ctx), "stop", "pending", deadline.remaining())
    except Exception as exc:     # never a failed stop for this
        ctx.log.warning(f"interrupted jobs: cannot record the running jobs before the stop: {_reason(exc)}")
        return
    session = Session(settings, deadline)
    for job in new:
        ctx.log.warning(f"stopping with a running job: {job.describe()}; canceled now, "
                        "run again by the next start")
        try:
            session.packets(f"cancel jobid={job.jobid}", seconds=5.0)
        except JobsError as exc:
            ctx.log.warning(f"cancel of JobId {job.jobid} failed: {exc}")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__
