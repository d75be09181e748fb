# SPDX-License-Identifier: GPL-2.0-or-later
"""Interrupted-job recovery (interrupted_jobs) on real daemons, no cluster.

A real bacula-dir, bacula-fd, bacula-sd and PostgreSQL on loopback and free
ports. A backup is slowed by the File daemon's `Maximum Bandwidth Per Job`, the
Director is killed with SIGKILL in the middle of it, and the agent starts the
next Director the way Pacemaker does (start, then the recurring monitor).
"""

import os
import signal
import time

import pytest

from support.director import DirectorLab
from support.fdsd import BackupDaemons
from support.jobs import daemon_jobs, daemon_terminated, jobs, records, run_job, wait_daemons_idle, wait_status
from support.net import free_port
from support.pg import PgCluster
from support.runners import DirectorRunner
from bacula_ha.ocf.codes import Exit

pytestmark = [pytest.mark.daemons, pytest.mark.root]

BANDWIDTH = "2 mb/s"
BIG = 16_000_000          # ~8 s at 2 MB/s: still running when the Director is killed
COMMENT = "bacula-ha: rerun of interrupted JobId {}"


class Rig:
    """PostgreSQL, FD, SD and a Director configuration naming them; the agent on top."""

    def __init__(self, tmp_path):
        self.pg = PgCluster().init().start()
        port = free_port()
        name = f"t{port}-dir"
        self.daemons = BackupDaemons(name, bandwidth=BANDWIDTH)
        self.daemons.make_data("big.bin", BIG)
        self.daemons.start()
        self.lab = DirectorLab(tmp_path, self.pg, port=port, name=name, backup=self.daemons.backup_set())
        self.agent = DirectorRunner(self.lab, tmp_path / "rsc", instance="director", interrupted_jobs="rerun")

    def start(self):
        result = self.agent("start")
        assert result.rc == Exit.SUCCESS, result.stderr
        return result

    def monitor(self):
        """The recurring monitor Pacemaker runs right after a start (it queues the reruns)."""
        result = self.agent.monitor(interval_ms=20000)
        assert result.rc == Exit.SUCCESS, result.stderr
        return result

    def crash_during(self, command):
        """Queue `command`, wait until the catalog shows it running, SIGKILL the Director."""
        jobid = run_job(self.lab, command)
        wait_status(self.pg, jobid, "R", timeout=30)
        time.sleep(1.5)
        pid = self.lab.pid()
        os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + 10
        while self.lab.pid() and time.monotonic() < end:
            time.sleep(0.05)
        assert self.lab.pid() is None
        return jobid

    def close(self):
        self.lab.cleanup()
        self.daemons.stop()
        self.pg.destroy()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def reruns_of(pg, jobid):
    return [j for j, row in jobs(pg).items() if row["comment"] == COMMENT.format(jobid)]


def test_crash_mid_backup_is_rerun_once_and_the_orphan_is_canceled(rig):
    rig.lab.start_direct()
    # pool=Default: not the Job resource's pool, so the rerun must take the job's own
    lost = rig.crash_during("run job=LabBackup level=Full pool=Default yes")

    started = time.monotonic()
    result = rig.start()
    start_s = time.monotonic() - started
    assert f"JobId {lost}" in result.stderr and "will be run again" in result.stderr
    assert records(rig.pg)[lost]["state"] == "pending"       # recorded before bacula-dir marked it
    assert jobs(rig.pg)[lost]["status"] == "f"              # ... which the new Director then did
    assert reruns_of(rig.pg, lost) == []                    # start only answers; reruns come after
    assert start_s < 20

    result = rig.monitor()
    record = records(rig.pg)[lost]
    assert record["state"] == "rerun" and record["rerun"]
    new = record["rerun"]
    assert f"interrupted JobId {lost} (LabBackup) run again as JobId {new}" in result.stderr
    assert reruns_of(rig.pg, lost) == [new]
    # the orphan is gone from the File and Storage daemons, canceled (it did not just end):
    # never two runs of the job at once
    assert wait_daemons_idle(rig.lab, lost) is None
    assert daemon_terminated(rig.lab, "client").get(lost) == "Cancel"
    # the SD sees the FD's side end first (FD canceled before SD): Cancel or Error, never OK
    assert daemon_terminated(rig.lab, "storage").get(lost) in ("Cancel", "Error")
    assert wait_status(rig.pg, new, "TEefA") == "T"
    original, again = jobs(rig.pg)[lost], jobs(rig.pg)[new]
    assert (again["name"], again["level"], again["pool"], again["client"]) == \
        (original["name"], original["level"], "Default", original["client"])

    # a second start (in place, after a clean stop) and its monitors rerun nothing
    assert rig.agent("start").rc == Exit.SUCCESS
    assert rig.agent("stop").rc == Exit.SUCCESS
    rig.start()
    rig.monitor()
    rig.monitor()
    assert reruns_of(rig.pg, lost) == [new]
    assert len(jobs(rig.pg)) == 2


def test_a_rerun_whose_agent_died_after_queueing_it_is_not_run_twice(rig):
    rig.lab.start_direct()
    lost = rig.crash_during("run job=LabBackup level=Full yes")
    rig.start()
    rig.monitor()
    new = records(rig.pg)[lost]["rerun"]
    wait_status(rig.pg, new, "TEefA")
    # as if the node died between queueing the rerun and recording it: the row stays claimed
    rig.pg.psql(f"UPDATE bacula_ha_interrupted_jobs SET state = 'claimed', rerun_jobid = NULL "
                f"WHERE jobid = {lost}", db="bacula")
    assert rig.agent("stop").rc == Exit.SUCCESS
    rig.start()
    result = rig.monitor()
    assert records(rig.pg)[lost] == {"state": "rerun", "rerun": new, "source": "start"}
    assert f"rerun JobId {new} was queued before" in result.stderr
    assert reruns_of(rig.pg, lost) == [new]


def test_a_claimed_job_never_queued_is_run_then(rig):
    rig.lab.start_direct()
    lost = rig.crash_during("run job=LabBackup level=Full yes")
    rig.start()
    # as if the agent died after claiming, before its `run` reached the Director
    rig.pg.psql(f"UPDATE bacula_ha_interrupted_jobs SET state = 'claimed' WHERE jobid = {lost}", db="bacula")
    rig.monitor()
    new = records(rig.pg)[lost]["rerun"]
    assert reruns_of(rig.pg, lost) == [new]
    assert wait_status(rig.pg, new, "TEefA") == "T"


def test_interrupted_restore_is_reported_never_rerun(rig):
    rig.lab.start_direct()
    good = run_job(rig.lab, "run job=LabBackup level=Full yes")
    assert wait_status(rig.pg, good, "TEefA") == "T"
    # a restore that cannot finish: its File daemon is stopped
    rig.daemons.procs[0].send_signal(signal.SIGSTOP)
    try:
        restore = run_job(rig.lab, f"restore jobid={good} client={rig.daemons.fd_name} all done yes")
        wait_status(rig.pg, restore, "CR", timeout=30)
        os.kill(rig.lab.pid(), signal.SIGKILL)
        time.sleep(1)
    finally:
        rig.daemons.procs[0].send_signal(signal.SIGCONT)
    before = set(jobs(rig.pg))
    rig.start()
    result = rig.monitor()
    assert records(rig.pg)[restore]["state"] == "reported"
    assert "never rerun" in result.stderr and f"JobId {restore}" in result.stderr
    assert set(jobs(rig.pg)) == before                      # nothing new was run
    assert jobs(rig.pg)[restore]["type"] == "R"


@pytest.mark.parametrize("mode", ["report", "ignore"])
def test_report_and_ignore_leave_the_job_alone(rig, mode):
    rig.agent.base_params["interrupted_jobs"] = mode
    rig.lab.start_direct()
    lost = rig.crash_during("run job=LabBackup level=Full yes")
    result = rig.start()
    rig.monitor()
    rig.monitor()
    if mode == "report":
        assert records(rig.pg)[lost]["state"] == "reported"
        assert "interrupted_jobs=report" in result.stderr and f"JobId {lost}" in result.stderr
    else:
        assert records(rig.pg) == {}
        assert f"JobId {lost}" not in result.stderr
    assert reruns_of(rig.pg, lost) == [] and len(jobs(rig.pg)) == 1
    # neither mode cancels the orphan: the File daemon is still running it
    assert lost in daemon_jobs(rig.lab, "client")


def test_planned_stop_records_cancels_and_the_next_start_reruns(rig):
    rig.start()
    running = run_job(rig.lab, "run job=LabBackup level=Full yes")
    wait_status(rig.pg, running, "R", timeout=30)
    result = rig.agent("stop")
    assert result.rc == Exit.SUCCESS, result.stderr
    assert f"JobId {running}" in result.stderr
    assert records(rig.pg)[running]["source"] == "stop"
    assert jobs(rig.pg)[running]["status"] == "A"          # canceled, not left to SIGKILL
    rig.start()
    rig.monitor()
    new = records(rig.pg)[running]["rerun"]
    assert reruns_of(rig.pg, running) == [new]
    assert wait_status(rig.pg, new, "TEefA") == "T"


def test_catalog_unreachable_before_start_is_a_warning_not_a_failed_start(rig, tmp_path):
    rig.lab.start_direct()
    rig.crash_during("run job=LabBackup level=Full yes")
    # the agent's own table cannot be created: the recovery fails, the start does not
    rig.pg.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM bacula; "
                "ALTER DATABASE bacula OWNER TO postgres", db="bacula")
    result = rig.start()
    assert "cannot read the catalog before the start" in result.stderr
    assert rig.lab.pid() is not None
