# SPDX-License-Identifier: GPL-2.0-or-later
"""Driving backups on a test Director: console commands and catalog reads.

The console is the agent's own in-process client (bacula_ha.agents.director.console),
bounded; the catalog is read with psql as the PostgreSQL superuser (tests/support/pg.py).
"""

from __future__ import annotations

import re
import time
from typing import Dict, List, Optional

from bacula_ha.agents.director.console import DirectorConsole
from bacula_ha.ocf.deadline import Deadline


def console(lab, command: str, timeout: float = 30.0) -> str:
    """One console command on `lab` (a tests/support/director.DirectorLab); its output."""
    with DirectorConsole(lab.address, lab.port, "*UserAgent*", lab.console_password,
                         Deadline(timeout)) as cons:
        return "\n".join(cons.packets(command))


def run_job(lab, command: str) -> int:
    """`run ... yes` (or `restore ... yes`); the queued JobId."""
    out = console(lab, command)
    found = re.search(r"JobId=(\d+)", out)
    if not found:
        raise AssertionError(f"{command!r} queued nothing: {out}")
    return int(found.group(1))


def jobs(pg) -> Dict[int, Dict[str, str]]:
    """Every Job row: {jobid: {type, level, status, name, comment, pool, client}}."""
    rows = pg.psql("SELECT j.JobId, j.Type, j.Level, j.JobStatus, j.Name, coalesce(j.Comment, ''), "
                   "coalesce(p.Name, ''), coalesce(c.Name, '') FROM Job j LEFT JOIN Pool p USING (PoolId) "
                   "LEFT JOIN Client c USING (ClientId) ORDER BY j.JobId", db="bacula")
    out = {}
    for line in rows.splitlines():
        jobid, typ, level, status, name, comment, pool, client = line.split("|")
        out[int(jobid)] = {"type": typ, "level": level, "status": status, "name": name,
                           "comment": comment, "pool": pool, "client": client}
    return out


def records(pg) -> Dict[int, Dict[str, str]]:
    """The agent's table: {jobid: {state, rerun, source}} ({} when it does not exist)."""
    exists = pg.psql("SELECT to_regclass('bacula_ha_interrupted_jobs') IS NOT NULL", db="bacula")
    if exists != "t":
        return {}
    rows = pg.psql("SELECT jobid, state, coalesce(rerun_jobid::text, ''), source FROM "
                   "bacula_ha_interrupted_jobs ORDER BY jobid", db="bacula")
    out = {}
    for line in rows.splitlines():
        jobid, state, rerun, source = line.split("|")
        out[int(jobid)] = {"state": state, "rerun": int(rerun) if rerun else None, "source": source}
    return out


def wait_status(pg, jobid: int, statuses: str, timeout: float = 90.0) -> str:
    """Wait until Job `jobid` has one of `statuses`; returns it (AssertionError on timeout)."""
    end = time.monotonic() + timeout
    status = None
    while time.monotonic() < end:
        status = jobs(pg).get(jobid, {}).get("status")
        if status and status in statuses:
            return status
        time.sleep(0.3)
    raise AssertionError(f"JobId {jobid} still {status!r} after {timeout:.0f}s (wanted one of {statuses!r})")


def daemon_jobs(lab, what: str) -> List[int]:
    """JobIds the File (`client`) or Storage (`storage`) daemon says it is running."""
    out = console(lab, f"status {what}")
    running = out.split("Running Jobs:", 1)[1].split("====", 1)[0] if "Running Jobs:" in out else ""
    return sorted({int(m) for m in re.findall(r"JobId[ =](\d+)", running)})


def wait_daemons_idle(lab, jobid: int, timeout: float = 20.0) -> Optional[str]:
    """None once neither daemon runs `jobid`, else which one still does."""
    end = time.monotonic() + timeout
    while True:
        busy = [w for w in ("client", "storage") if jobid in daemon_jobs(lab, w)]
        if not busy or time.monotonic() > end:
            return None if not busy else ", ".join(busy)
        time.sleep(0.5)


def daemon_terminated(lab, what: str) -> Dict[int, str]:
    """The File (`client`) or Storage (`storage`) daemon's list of ended jobs: {jobid: status}
    (status as the daemon prints it: OK, Cancel, Error, ...)."""
    out = console(lab, f"status {what}")
    ended = out.split("Terminated Jobs:", 1)[1].split("Device status", 1)[0] if "Terminated Jobs:" in out else ""
    found = {}
    for line in ended.splitlines():
        row = re.match(r"\s*(\d+)\s.*?\s(OK|Cancel|Error|Fatal|Diffs|Incomplete|Created|Other)\s", line)
        if row:
            found[int(row.group(1))] = row.group(2)
    return found
