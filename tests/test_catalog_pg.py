# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-catalog-check against real PostgreSQL servers (each test makes its own)."""

import os
import signal
import time

import pytest

from support.agents import last_exit_reason
from support.catalog import CatalogServer, write_passfile
from support.net import free_port
from support.paths import agent_path
from support.runners import CatalogRunner
from bacula_ha.ocf.codes import Exit

pytestmark = [pytest.mark.daemons, pytest.mark.root]

NAME = "bacula-catalog-check"


@pytest.fixture
def catalog():
    server = CatalogServer()
    yield server
    server.close()


@pytest.fixture
def agent(catalog, tmp_path):
    runner = CatalogRunner(tmp_path, f"cat{os.getpid()}", catalog)
    yield runner
    runner.assert_no_password()


def test_lifecycle_probe_start_monitor_stop(agent, catalog):
    assert agent.probe().rc == Exit.NOT_RUNNING                       # probe before start
    assert agent.monitor().rc == Exit.NOT_RUNNING
    res = agent("start")
    assert res.rc == Exit.SUCCESS, res.stderr
    assert agent("start").rc == Exit.SUCCESS                         # idempotent
    assert agent.probe().rc == Exit.SUCCESS
    assert agent.monitor().rc == Exit.SUCCESS
    assert agent.monitor(host=catalog.pg.sockdir).rc == Exit.SUCCESS   # over the Unix socket
    rows = catalog.pg.psql("SELECT node FROM bacula_ha_heartbeat", db="bacula")
    assert rows                                           # the committed write, in the agent's own table
    assert catalog.pg.psql("SELECT count(*) FROM Version", db="bacula") == "1"
    assert agent("validate-all").rc == Exit.SUCCESS
    assert agent("stop").rc == Exit.SUCCESS
    assert agent("stop").rc == Exit.SUCCESS
    assert agent.probe().rc == Exit.NOT_RUNNING


def test_write_check_off_creates_nothing(agent, catalog):
    assert agent("start", write_check="false").rc == Exit.SUCCESS
    assert catalog.pg.psql("SELECT to_regclass('bacula_ha_heartbeat') IS NULL", db="bacula") == "t"


def test_precise_reasons(agent, catalog, tmp_path):
    wrong = write_passfile(str(tmp_path), "not-the-password", name="wrongpass")
    res = agent("start", passfile=wrong)                  # permanent: fails at once, not after the timeout
    assert res.rc == Exit.ERR_GENERIC and "authentication failed" in res.reason
    assert agent("start").rc == Exit.SUCCESS
    cases = [
        (dict(passfile=wrong), "authentication failed"),
        (dict(dbname="nosuchdb"), "'nosuchdb' does not exist"),
        (dict(expected_version=15), "VersionId is 16, expected 15"),
        (dict(expected_version=999), "VersionId is 16, expected 999"),
        (dict(port=free_port(), host="127.0.0.1"), "unreachable"),
        (dict(host=os.path.join(catalog.dir, "no-socket-here")), "unreachable"),
    ]
    for params, words in cases:
        res = agent.monitor(**params)
        assert res.rc == Exit.ERR_GENERIC, (params, res.stderr)
        assert words in res.reason, (params, res.reason)
    res = agent("start", expected_version=15)
    assert res.rc == Exit.ERR_GENERIC and "16" in res.reason and "15" in res.reason
    catalog.pg.psql("ALTER DATABASE bacula SET default_transaction_read_only = on")
    res = agent.monitor()
    assert res.rc == Exit.ERR_GENERIC and "read-only" in res.reason
    res = agent.monitor(mode="external")
    assert res.rc == Exit.DEGRADED and "read-only" in res.reason
    catalog.pg.psql("ALTER DATABASE bacula RESET default_transaction_read_only")
    assert agent.monitor().rc == Exit.SUCCESS
    agent.assert_no_password()


def test_external_mode_is_degraded(agent, catalog):
    assert agent("start", mode="external").rc == Exit.SUCCESS
    catalog.pg.stop()
    res = agent.monitor(mode="external")
    assert res.rc == Exit.DEGRADED and "unreachable" in res.reason
    res = agent.monitor(mode="local")
    assert res.rc == Exit.ERR_GENERIC and "unreachable" in res.reason
    assert agent("stop", mode="external").rc == Exit.SUCCESS
    assert agent.probe(mode="external").rc == Exit.NOT_RUNNING


def test_standby_is_not_ready_until_promoted(catalog, tmp_path):
    standby = catalog.pg.make_standby()
    try:
        assert standby.wait_ready(60)
        agent = CatalogRunner(tmp_path, f"stb{os.getpid()}", catalog)
        res = agent("start", timeout_ms=4000, port=standby.port)
        assert res.rc == Exit.ERR_GENERIC and "recovery" in res.reason, res.stderr
        assert agent.probe(port=standby.port).rc == Exit.NOT_RUNNING   # a failed start leaves no marker
        assert agent("start", port=catalog.pg.port).rc == Exit.SUCCESS  # the primary is ready
        res = agent.monitor(port=standby.port, mode="external")
        assert res.rc == Exit.DEGRADED and "recovery" in res.reason
        catalog.pg.stop()
        standby.promote()
        res = agent("start", timeout_ms=60000, port=standby.port)
        assert res.rc == Exit.SUCCESS, res.stderr
        assert agent.monitor(port=standby.port).rc == Exit.SUCCESS
        agent.assert_no_password()
    finally:
        standby.stop("immediate")


def test_hung_server_fails_within_the_timeout(agent, catalog):
    assert agent("start").rc == Exit.SUCCESS
    try:
        catalog.pg.signal(signal.SIGSTOP)
        for mode, code in (("local", Exit.ERR_GENERIC), ("external", Exit.DEGRADED)):
            began = time.monotonic()
            # connect_timeout far beyond the op timeout: only the deadline can end this monitor
            res = agent.monitor(timeout_ms=4000, connect_timeout=120, mode=mode)
            took = time.monotonic() - began
            assert res.rc == code and "timeout" in res.reason, res.stderr
            assert took < 4 + 10, took                     # generous slack for a loaded machine
    finally:
        catalog.pg.signal(signal.SIGCONT)
    assert agent.monitor().rc == Exit.SUCCESS


def test_ocf_tester(catalog):
    import subprocess
    instance = f"bhacat{os.getpid()}"
    proc = subprocess.run(["ocf-tester", "-n", instance, "-o", "host=127.0.0.1", "-o", f"port={catalog.pg.port}",
                           "-o", f"passfile={catalog.passfile}", agent_path(NAME)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert catalog.password not in proc.stdout + proc.stderr


def _superuser(catalog):
    import psycopg
    return psycopg.connect(host=catalog.pg.sockdir, port=catalog.pg.port, user="postgres", dbname="bacula",
                           connect_timeout=10)


def _backend_waiting_on_lock(watch, proc, limit=60.0):
    """The pid of the agent's backend once it waits for our lock (bounded poll)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        row = watch.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'bacula-catalog-check' "
                            "AND wait_event_type = 'Lock'").fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    return None


def test_a_blocked_write_is_bounded_by_lock_timeout_then_by_the_client_guard(agent, catalog):
    """Server side: lock_timeout ends a write that waits for a lock. Client side: with the backend
    itself frozen mid-statement (no server timeout can fire), the guard still ends the monitor."""
    import subprocess
    assert agent("start").rc == Exit.SUCCESS
    holder, watch = _superuser(catalog), _superuser(catalog)
    watch.autocommit = True
    frozen = None
    try:
        holder.execute("LOCK TABLE bacula_ha_heartbeat IN ACCESS EXCLUSIVE MODE")  # held until rollback
        res = agent.monitor(timeout_ms=4000)
        assert res.rc == Exit.ERR_GENERIC and "lock timeout during write check" in res.reason, res.stderr

        env = agent.env("monitor", timeout_ms=14000)
        proc = subprocess.Popen([agent_path(NAME), "monitor"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            frozen = _backend_waiting_on_lock(watch, proc)
            assert frozen, "the agent's write never waited for the lock"
            os.kill(frozen, signal.SIGSTOP)  # now only the client guard can end the monitor
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        reason = last_exit_reason(err)
        assert proc.returncode == Exit.ERR_GENERIC and "no answer" in reason and "write check" in reason, err
        agent.assert_no_password(out + err)
    finally:
        if frozen:
            os.kill(frozen, signal.SIGCONT)
        holder.rollback()
        holder.close()
        watch.close()
    assert agent.monitor().rc == Exit.SUCCESS


def test_a_commit_waiting_for_a_missing_synchronous_standby_is_not_ready(agent, catalog):
    assert agent("start").rc == Exit.SUCCESS
    catalog.pg.psql("ALTER SYSTEM SET synchronous_standby_names = 'bha_missing_standby'")
    catalog.pg.psql("SELECT pg_reload_conf()")
    try:
        res = agent.monitor(timeout_ms=4000)
        assert res.rc == Exit.ERR_GENERIC and "synchronous standby" in res.reason, res.stderr
        assert agent.monitor(timeout_ms=4000, write_check="false").rc == Exit.SUCCESS
    finally:
        catalog.pg.psql("ALTER SYSTEM RESET synchronous_standby_names")
        catalog.pg.psql("SELECT pg_reload_conf()")
    assert agent.monitor().rc == Exit.SUCCESS


def test_local_start_does_not_wait_for_a_dead_server_but_external_does(agent, catalog):
    """mode=local: pgsql is ordered before us, so a dead server at our start means waiting would only
    hold up the transition that restarts it. mode=external: the catalog may be failing over; wait."""
    closed = dict(port=free_port(), host="127.0.0.1")
    began = time.monotonic()
    res = agent("start", timeout_ms=40000, **closed)
    local_took = time.monotonic() - began
    assert res.rc == Exit.ERR_GENERIC and "unreachable" in res.reason and "mode=local" in res.reason
    began = time.monotonic()
    res = agent("start", timeout_ms=12000, mode="external", **closed)
    external_took = time.monotonic() - began
    assert res.rc == Exit.ERR_GENERIC and "unreachable" in res.reason and "attempts" in res.reason
    # Behaviour, not speed: local gave up well before its budget; external used most of its own.
    assert local_took < 30
    assert external_took > 8
