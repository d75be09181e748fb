# SPDX-License-Identifier: GPL-2.0-or-later
"""agents/bacula-director against real bacula-dir 9.6 daemons and real PostgreSQL catalogs.

Each test makes its own PostgreSQL cluster and Director (free ports, temp dirs)
and stops everything at the end, whatever happened.
"""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from support.agents import last_exit_reason
from support.director import DirectorLab
from support.fake_pg import SilentPostgres
from support.net import free_port
from support.paths import agent_path
from support.pg import PgCluster
from support.procs import proc_files
from support.runners import DirectorRunner
from bacula_ha.ocf.codes import Exit

pytestmark = [pytest.mark.daemons, pytest.mark.root]

AGENT = "bacula-director"


@pytest.fixture
def pg():
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def lab(pg, tmp_path):
    director = DirectorLab(tmp_path, pg)
    yield director
    director.cleanup()


@pytest.fixture
def agent(lab, tmp_path):
    return DirectorRunner(lab, tmp_path / "rsc")


class ArgvSpy:
    """Polls /proc/*/cmdline in a thread: no process may carry a secret in its argv."""

    def __init__(self, secrets):
        self.secrets = [s.encode() for s in secrets]
        self.hits = []
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for _pid, argv in proc_files("cmdline"):
                if any(s in argv for s in self.secrets):
                    self.hits.append(argv.replace(b"\0", b" ")[:200])
            self.scans += 1
            time.sleep(0.002)   # leave CPU to the agent (2-core CI); a spawn lives far longer

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def director_answers(lab, command="version", password=None):
    """An independent check with bconsole itself (config by file, password never in argv)."""
    proc = subprocess.run(["bconsole", "-c", lab.console_config], input=command + "\n",
                          capture_output=True, text=True, timeout=60)
    return proc.returncode == 0 and "1000 OK" in proc.stdout, proc.stdout


def test_lifecycle_is_idempotent_and_keeps_secrets_out_of_argv(lab, agent):
    with ArgvSpy([lab.console_password, lab.db_password, lab.mon_password]) as spy:
        assert agent("stop").rc == Exit.SUCCESS                      # stop before any start
        assert agent.probe().rc == Exit.NOT_RUNNING
        first = agent("start")
        assert first.rc == Exit.SUCCESS, first.stderr
        pid = lab.pid()
        assert pid is not None
        assert agent("start").rc == Exit.SUCCESS                     # start twice
        assert lab.pid() == pid
        for level in (0, 10, 20):
            result = agent.monitor(level)
            assert result.rc == Exit.SUCCESS, (level, result.stderr)
        assert agent("reload").rc == Exit.SUCCESS
        assert agent("stop").rc == Exit.SUCCESS
        assert agent("stop").rc == Exit.SUCCESS                      # stop twice
        assert agent.probe().rc == Exit.NOT_RUNNING
        assert agent.monitor(10).rc == Exit.NOT_RUNNING
    assert spy.scans > 0
    assert spy.hits == []
    assert not os.path.exists(lab.pidfile)
    assert lab.pid() is None
    assert lab.console_password not in first.stderr


def test_director_runs_as_bacula_and_answers_bconsole(lab, agent):
    assert agent("start").rc == Exit.SUCCESS
    with open(f"/proc/{lab.pid()}/status") as fh:
        uid_line = next(line for line in fh if line.startswith("Uid:"))
    assert int(uid_line.split()[1]) == __import__("pwd").getpwnam("bacula").pw_uid
    ok, out = director_answers(lab)
    assert ok, out
    assert agent("stop").rc == Exit.SUCCESS


def test_kill9_leaves_stale_pidfile_monitor_fails_then_restart(lab, agent):
    assert agent("start").rc == Exit.SUCCESS
    pid = lab.pid()
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if lab.pid() is None:
            break
        time.sleep(0.05)
    assert os.path.exists(lab.pidfile)                    # bacula-dir leaves it behind
    recurring = agent.monitor(0)
    assert recurring.rc == Exit.ERR_GENERIC
    assert "died" in recurring.reason
    assert agent.probe().rc == Exit.NOT_RUNNING                          # nothing else left: a probe says stopped
    restart = agent("start")
    assert restart.rc == Exit.SUCCESS, restart.stderr
    assert lab.pid() not in (None, pid)
    assert agent.monitor(10).rc == Exit.SUCCESS
    assert agent("stop").rc == Exit.SUCCESS


def test_sigstop_fails_level10_monitor_inside_its_timeout_and_stop_still_works(lab, agent):
    assert agent("start").rc == Exit.SUCCESS
    pid = lab.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        result = agent.monitor(10, timeout_ms=10000)
        elapsed = time.monotonic() - began
        assert result.rc == Exit.ERR_GENERIC
        assert "stopped" in result.reason
        assert elapsed < 10, elapsed                      # never left for Pacemaker to kill
        stop = agent("stop")                              # a stopped Director is continued and terminated
        assert stop.rc == Exit.SUCCESS, stop.stderr
        assert lab.pid() is None
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert agent.probe().rc == Exit.NOT_RUNNING


def test_port_taken_by_another_process_fails_start_with_reason(lab, agent):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", lab.port))
        squatter.listen(5)
        result = agent("start")
        assert result.rc == Exit.ERR_GENERIC
        assert f"0.0.0.0:{lab.port} is already in use" in result.reason
        assert f"pid {os.getpid()}" in result.reason
    assert lab.pid() is None


def test_broken_config_is_refused_with_the_directors_error(lab, agent):
    keyword = lab.break_config()
    result = agent("start")
    assert result.rc == Exit.ERR_GENERIC
    assert keyword in result.reason
    assert lab.config in result.reason
    assert lab.pid() is None


def test_catalog_on_read_only_standby_fails_start_with_reason(lab, agent, pg):
    standby = pg.make_standby()
    try:
        lab.write_config(catalog_port=standby.port)
        result = agent("start", timeout_ms=40000)
        assert result.rc == Exit.ERR_GENERIC
        assert "exited during start-up" in result.reason
        assert "read-only" in result.reason or "Could not update" in result.reason, result.reason
        assert lab.pid() is None
        assert not os.path.exists(lab.pidfile)            # no stale pid file left behind
        assert agent("stop").rc == Exit.SUCCESS
    finally:
        standby.stop("immediate")


def test_catalog_unreachable_at_start_fails_fast_with_reason(lab, agent):
    lab.write_config(catalog_port=free_port())
    result = agent("start")
    assert result.rc == Exit.ERR_GENERIC
    assert result.reason.startswith("catalog unreachable")
    assert lab.pid() is None


def test_wrong_catalog_password_fails_start_fast_with_reason(lab, agent):
    """bacula-dir -t would retry for 30 s and only say "Unable to connect"."""
    good = lab.db_password
    lab.db_password = "wrong-" + good[-6:]
    lab.write_config()
    result = agent("start", timeout_ms=20000)             # less than -t's 30 s of retries
    assert result.rc == Exit.ERR_GENERIC
    assert "password authentication failed" in result.reason
    assert lab.db_password not in result.stderr
    assert lab.pid() is None


def test_catalog_down_while_running_is_degraded_at_level20(lab, agent, pg):
    assert agent("start").rc == Exit.SUCCESS
    pg.stop("immediate")
    degraded = agent.monitor(20)
    assert degraded.rc == Exit.DEGRADED, degraded.stderr
    assert "catalog unreachable" in degraded.reason
    assert agent.monitor(10).rc == Exit.SUCCESS                      # the Director itself is fine
    assert agent("stop").rc == Exit.SUCCESS


def test_catalog_that_logs_in_and_never_answers_is_degraded_inside_the_timeout(lab, agent):
    """issue 12.7: a server that accepts the login and never answers a query once hung the depth-20
    monitor until Pacemaker killed it. The shared catalog probe gives up at the deadline: 190."""
    assert agent("start").rc == Exit.SUCCESS
    real_port = lab.catalog_port
    with SilentPostgres() as silent:
        lab.write_config(catalog_port=silent.port)        # the running Director keeps its own session
        began = time.monotonic()
        degraded = agent.monitor(20, timeout_ms=4000)
        took = time.monotonic() - began
        assert degraded.rc == Exit.DEGRADED, degraded.stderr
        assert "no answer" in degraded.reason and lab.db_password not in degraded.stderr
        assert silent.queries >= 1                         # it got as far as asking
        assert took < 4 + 10, took                         # ended by the agent, not by a kill
        assert agent.monitor(10).rc == Exit.SUCCESS        # the Director itself is fine
    lab.write_config(catalog_port=real_port)
    assert agent.monitor(20).rc == Exit.SUCCESS
    assert agent("stop").rc == Exit.SUCCESS


def test_probe_and_stop_work_without_the_config_directory(lab, agent):
    hidden = lab.etc + ".unmounted"
    os.rename(lab.etc, hidden)
    try:
        assert agent.probe().rc == Exit.NOT_RUNNING
        assert agent("stop").rc == Exit.SUCCESS
    finally:
        os.rename(hidden, lab.etc)
    assert agent("start").rc == Exit.SUCCESS
    os.rename(lab.etc, hidden)
    try:
        assert agent.probe().rc == Exit.SUCCESS                      # found from the state of the last start
        assert agent("stop").rc == Exit.SUCCESS
        assert lab.pid() is None
        assert agent.probe().rc == Exit.NOT_RUNNING
    finally:
        os.rename(hidden, lab.etc)


def test_reload_applies_a_good_config_and_refuses_a_bad_one(lab, agent):
    assert agent("start").rc == Exit.SUCCESS
    pid = lab.pid()
    lab.write_config(extra=f"""Client {{
  Name = extra-fd
  Address = 127.0.0.1
  Catalog = MyCatalog
  Password = "x"
}}
""")
    with ArgvSpy([lab.console_password, lab.db_password]) as spy:
        good = agent("reload")
    assert good.rc == Exit.SUCCESS, good.stderr
    assert spy.hits == []
    ok, out = director_answers(lab, "show clients")
    assert ok and "extra-fd" in out
    keyword = lab.break_config()
    bad = agent("reload")
    assert bad.rc == Exit.ERR_GENERIC
    assert "left unchanged" in bad.reason and keyword in bad.reason
    assert lab.pid() == pid
    assert agent.monitor(10).rc == Exit.SUCCESS
    ok, out = director_answers(lab, "show clients")
    assert ok and "extra-fd" in out                       # still the last good configuration
    # a new console password reaches the Director only by the reload itself (SIGHUP fallback)
    lab.console_password = "cons-new-" + lab.console_password[-8:]
    lab.write_config()
    changed = agent("reload")
    assert changed.rc == Exit.SUCCESS, changed.stderr
    assert "SIGHUP" in changed.stderr
    assert lab.pid() == pid
    assert agent.monitor(10).rc == Exit.SUCCESS
    assert agent("stop").rc == Exit.SUCCESS


def test_wrong_console_password_fails_start_with_reason(lab, agent, tmp_path):
    wrong = tmp_path / "bconsole-wrong.conf"
    wrong.write_text(f'Director {{ Name = {lab.name}; DIRport = {lab.port}; address = 127.0.0.1; '
                     f'Password = "not-the-password" }}\n')
    result = agent("start", console_config=str(wrong))
    assert result.rc == Exit.ERR_GENERIC
    assert "refused console" in result.reason
    assert "not-the-password" not in result.stderr
    assert lab.pid() is None


def test_validate_all(lab, agent):
    assert agent("validate-all").rc == Exit.SUCCESS
    assert agent("validate-all", binary="/nonexistent/bacula-dir").rc == Exit.ERR_INSTALLED
    assert agent("validate-all", user="no-such-user-bha").rc == Exit.ERR_ARGS
    assert agent("validate-all", console_config=lab.console_config + ".missing").rc == Exit.ERR_INSTALLED
    relative = agent("validate-all", config="bacula-dir.conf")
    assert relative.rc == Exit.ERR_CONFIGURED and "absolute" in relative.reason
    # bacula-dir -t accepts a WorkingDirectory the run user cannot write; the start must not
    os.chown(lab.workdir, 0, 0)
    os.chmod(lab.workdir, 0o755)
    unwritable = agent("start")
    assert unwritable.rc == Exit.ERR_ARGS
    assert "not writable by bacula" in unwritable.reason
    assert lab.pid() is None


@pytest.mark.parametrize("listen", ["127.0.0.1", "localhost"])
def test_loopback_diraddress_is_refused_by_validate_and_start(lab, agent, listen):
    lab.listen = listen
    lab.write_config()
    for action in ("validate-all", "start"):
        result = agent(action)
        assert result.rc == Exit.ERR_ARGS, (action, result.stderr)
        assert f"DirAddress {listen} is a loopback address" in result.reason
    assert lab.pid() is None


def test_diraddress_not_on_this_node_warns_in_validate_and_fails_start(lab, agent):
    lab.listen = "198.51.100.77"      # a floating IP the group starts after the Director
    lab.write_config()
    result = agent("validate-all")
    assert result.rc == Exit.SUCCESS
    assert "DirAddress 198.51.100.77 is not an address of this node" in result.stderr
    result = agent("start")
    assert result.rc == Exit.ERR_ARGS
    assert "the Director starts before it" in result.reason
    assert lab.pid() is None


@pytest.mark.compliance
def test_ocf_tester_passes(lab, tmp_path):
    env = {**os.environ, "HA_RSCTMP": str(tmp_path / "rsc")}
    proc = subprocess.run(["ocf-tester", "-n", f"t{lab.port}", "-o", f"config={lab.config}",
                           "-o", f"console_config={lab.console_config}", agent_path(AGENT)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed all tests" in proc.stdout + proc.stderr
    assert lab.pid() is None


HUNG_DIRECTOR = """
import ctypes, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)              # and ignores SIGTERM: stop must escalate
ctypes.CDLL(None).prctl(15, b"bacula-dir", 0, 0, 0)      # PR_SET_NAME: comm is what the agent checks
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
with open(sys.argv[2], "w") as fh:
    fh.write("%d\\n" % __import__("os").getpid())
held = []
while True:                                                # accepts, never answers: a deadlock
    conn, _ = server.accept()
    held.append(conn)
"""


def test_hung_director_fails_level10_inside_its_timeout_and_stop_escalates_to_sigkill(lab, agent, tmp_path):
    """A Director that accepts TCP but never answers (deadlocked, state S, not T)."""
    script = tmp_path / "hung.py"
    script.write_text(HUNG_DIRECTOR)
    hung = subprocess.Popen(["/usr/bin/python3", str(script), str(lab.port), lab.pidfile])
    try:
        for _ in range(200):
            if os.path.exists(lab.pidfile) and os.path.getsize(lab.pidfile):
                break
            time.sleep(0.05)
        assert agent.monitor(0).rc == Exit.SUCCESS                   # pid, comm, state and port all look fine
        result = agent.monitor(10, timeout_ms=4000)
        assert result.rc == Exit.ERR_GENERIC
        # the agent's own deadline fired (a kill from outside would leave no reason)
        assert "did not answer in time" in result.reason
        stop = agent("stop", timeout_ms=4000)
        assert stop.rc == Exit.SUCCESS, stop.stderr
        assert "SIGKILL" in stop.stderr
        assert hung.wait(10) == -signal.SIGKILL
        assert not os.path.exists(lab.pidfile)
    finally:
        hung.kill()
        hung.wait(10)


def test_flooding_director_fails_level10_cleanly_with_bounded_memory(lab, agent):
    """issue 12.8: a peer that passes authentication and then streams 16 MiB packets once drove the
    monitor to 1 GB and a MemoryError. The console caps what one request may read."""
    fake = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "support",
                                                              "fake_director.py"), str(lab.port), lab.pidfile],
                            env={"FAKE_DIRECTOR_PASSWORD": lab.console_password, "PATH": "/usr/bin:/bin"})
    try:
        for _ in range(200):
            if os.path.exists(lab.pidfile) and os.path.getsize(lab.pidfile):
                break
            time.sleep(0.05)
        env = agent.env("monitor", check_level=10, timeout_ms=20000)
        monitor = subprocess.Popen([agent_path(AGENT), "monitor"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        err = monitor.stderr.read().decode()
        _, status, usage = os.wait4(monitor.pid, 0)          # this child's own peak memory
        monitor.returncode = os.waitstatus_to_exitcode(status)
        assert monitor.returncode == Exit.ERR_GENERIC, err
        reason = last_exit_reason(err)
        assert "more than" in reason and "MemoryError" not in err and "Traceback" not in err
        assert usage.ru_maxrss < 100 * 1024, usage.ru_maxrss   # KiB: tens of MB, not the 1 GB of before
    finally:
        fake.kill()
        fake.wait(10)


def test_probe_finds_a_director_started_outside_the_cluster(lab, agent):
    """No start record on this node (HA_RSCTMP cleared), yet a bacula-dir runs: the probe must say
    so, or Pacemaker would start a second Director elsewhere while this one keeps running."""
    assert agent.probe().rc == Exit.NOT_RUNNING
    pid = lab.start_direct()
    assert pid
    result = agent.probe()
    assert result.rc == Exit.SUCCESS, result.stderr
    result = agent("stop")
    assert result.rc == Exit.SUCCESS, result.stderr
    assert lab.director_pids() == []
    assert agent.probe().rc == Exit.NOT_RUNNING
