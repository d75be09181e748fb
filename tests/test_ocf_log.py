# SPDX-License-Identifier: GPL-2.0-or-later
"""Logging per Pacemaker's conventions: HA_LOGFILE, HA_DEBUGLOG, HA_debug, HA_LOGFACILITY, stderr, a tty."""

import io
import re
import socket

import pytest

from bacula_ha.ocf.log import Log, Secrets


def make(env, secrets=None, **kwargs):
    err = io.StringIO()
    return Log("bacula-director", "p_dir", env, secrets=secrets, stderr=err, **kwargs), err


@pytest.fixture
def syslog_socket(tmp_path):
    """A receiving Unix datagram socket standing in for /dev/log (what journald/rsyslog listen on)."""
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0)
    received = []

    def read():
        try:
            while True:
                received.append(sock.recv(65536).decode())
        except BlockingIOError:
            return received
    yield str(path), read
    sock.close()


def test_logfile_gets_tagged_lines_and_no_debug(tmp_path):
    logfile = tmp_path / "ha.log"
    log, err = make({"HA_LOGFILE": str(logfile)})
    log.info("started")
    log.debug("hidden")
    text = logfile.read_text()
    assert "bacula-director(p_dir)[" in text and "]: INFO: started" in text
    assert "hidden" not in text
    assert err.getvalue() == ""            # a log destination is set: nothing on stderr


def test_debug_only_when_ha_debug_is_true(tmp_path):
    debuglog = tmp_path / "debug.log"
    log, _ = make({"HA_DEBUGLOG": str(debuglog), "HA_debug": "0"})
    log.debug("not with HA_debug=0")           # resource-agents' ocf.py gets this one wrong
    log, _ = make({"HA_DEBUGLOG": str(debuglog), "HA_debug": "1"})
    log.debug("with HA_debug=1")
    log.warning("a warning")
    text = debuglog.read_text()
    assert "not with HA_debug=0" not in text
    assert "DEBUG: with HA_debug=1" in text and "WARNING: a warning" in text


def test_without_destinations_lines_go_to_stderr_for_pacemaker_execd():
    log, err = make({})
    log.error("boom\nsecond line")
    assert err.getvalue().endswith("]: ERROR: boom second line\n")


def test_exit_reason_is_one_masked_line_with_pacemakers_prefix(tmp_path):
    secrets = Secrets()
    secrets.add("s3cr3t-pw")
    logfile = tmp_path / "ha.log"
    log, err = make({"HA_LOGFILE": str(logfile)}, secrets)
    log.exit_reason("login with s3cr3t-pw failed\nbecause")
    assert err.getvalue() == "ocf-exit-reason:login with ****** failed because\n"
    assert "s3cr3t-pw" not in logfile.read_text()
    log, err = make({"OCF_EXIT_REASON_PREFIX": "why:"})
    log.exit_reason("x")
    assert err.getvalue().startswith("why:x\n")


def test_syslog_facility_none_means_no_syslog(syslog_socket):
    path, read = syslog_socket
    log, err = make({"HA_LOGFACILITY": "none"}, syslog_socket=path)
    log.info("to stderr then")
    assert "INFO: to stderr then" in err.getvalue() and read() == []
    log, err = make({"HA_LOGFACILITY": "daemon"}, syslog_socket=path)
    log.info("to syslog")
    assert err.getvalue() == "" and len(read()) == 1


def test_syslog_line_carries_the_tag_once(syslog_socket):
    path, read = syslog_socket
    log, _ = make({"HA_LOGFACILITY": "local3"}, syslog_socket=path)
    log.warning("disk nearly full")
    [line] = read()
    # what `logger -t TAG -p local3.warning` sends: <PRI>timestamp TAG: message
    assert re.fullmatch(r"<156>\w{3} [ \d]\d \d\d:\d\d:\d\d bacula-director\(p_dir\)\[\d+\]: "
                        r"WARNING: disk nearly full", line), line
    assert line.count("bacula-director(p_dir)") == 1


def test_undeliverable_syslog_line_goes_to_stderr_with_one_note(tmp_path):
    log, err = make({"HA_LOGFACILITY": "daemon"}, syslog_socket=str(tmp_path / "no-syslog-here"))
    log.info("first")
    log.error("second")
    lines = err.getvalue().splitlines()
    assert len(lines) == 3
    assert "WARNING: cannot write to syslog socket" in lines[0] and "no-syslog-here" in lines[0]
    assert lines[1].endswith("INFO: first") and lines[2].endswith("ERROR: second")


def test_unwritable_log_file_line_goes_to_stderr(tmp_path, syslog_socket):
    path, read = syslog_socket
    missing = tmp_path / "no-such-dir" / "ha.log"
    log, err = make({"HA_LOGFILE": str(missing), "HA_LOGFACILITY": "daemon"}, syslog_socket=path)
    log.info("kept")
    assert len(read()) == 1                           # syslog took it ...
    assert f"cannot write to log file {missing}" in err.getvalue()
    assert err.getvalue().endswith("INFO: kept\n")  # ... and the failed file is not silent


def test_on_a_tty_lines_go_to_the_terminal_only(tmp_path, syslog_socket):
    """ocf-shellfuncs: an agent run by hand shows its lines on the terminal, not in syslog or files."""
    path, read = syslog_socket
    logfile = tmp_path / "ha.log"
    secrets = Secrets()
    secrets.add("pw-on-tty")
    log, err = make({"HA_LOGFACILITY": "daemon", "HA_LOGFILE": str(logfile), "HA_debug": "1"}, secrets,
                    tty=True, syslog_socket=path)
    log.debug("looking at pw-on-tty")
    log.info("started")
    log.exit_reason("it broke")
    lines = err.getvalue().splitlines()
    assert lines[0].endswith("DEBUG: looking at ******") and lines[1].endswith("INFO: started")
    assert lines[2:] == ["ocf-exit-reason:it broke"]      # shown once, not again as an ERROR line
    assert read() == [] and not logfile.exists()


def test_a_real_terminal_is_detected(tmp_path):
    import os
    master, slave = os.openpty()
    try:
        stream = os.fdopen(slave, "w", closefd=False)
        log = Log("bacula-director", "p_dir", {"HA_LOGFILE": str(tmp_path / "ha.log")}, stderr=stream)
        log.info("to the terminal")
        assert b"INFO: to the terminal" in os.read(master, 4096)
        assert not (tmp_path / "ha.log").exists()
    finally:
        os.close(master)
        os.close(slave)


# -- HA_debug=1: the decisions of each action, end to end through the agents -----------------

DECISIONS = {
    # agent: (parameters, action, decision lines the action may log (one is enough), exit code)
    "bacula-director": ({}, "monitor", (
        "probe: no bacula-dir process on this node; configuration not read",
        "no bacula-dir process and no stale pid file: cleanly stopped",  # another test's Director runs
    ), 7),
    "bacula-catalog-check": ({"expected_version": "1026"}, "monitor", ("no start marker: not started on this node",), 7),
    "bacula-config-pull": ({"repository": "https://alice:s3cr3t-token@git.example/conf.git"}, "monitor",
                           ("role marker: none (not started here)",), 7),
}


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_ha_debug_shows_the_decisions_of_an_action(name, tmp_path):
    from support.agents import ocf_env, run_agent
    params, action, decisions, code = DECISIONS[name]
    debuglog = tmp_path / "debug.log"
    env = ocf_env(params, instance="p_dbg", rsctmp=str(tmp_path), extra={"HA_debug": "1", "HA_DEBUGLOG": str(debuglog)})
    result = run_agent(name, action, env=env)
    assert result.rc == code
    lines = [line.split("]: DEBUG: ", 1)[1] for line in debuglog.read_text().splitlines() if "]: DEBUG: " in line]
    assert lines[0] == f"{action}: probe, depth 0, timeout 20 s"          # what Pacemaker asked
    assert lines[1].startswith(f"{action}: parameters ")                 # with which values
    assert set(decisions) & set(lines[2:-1]), lines                     # what the agent concluded
    assert lines[-1].startswith(f"{action}: exit {code} (OCF_NOT_RUNNING) after ")
    assert "s3cr3t-token" not in debuglog.read_text()                   # the URL password is masked
    env["HA_debug"] = "0"
    debuglog.unlink()
    assert run_agent(name, action, env=env).rc == code
    assert "DEBUG" not in (debuglog.read_text() if debuglog.exists() else "")


def test_ha_debug_parameters_line_masks_url_credentials(tmp_path):
    from support.agents import ocf_env, run_agent
    debuglog = tmp_path / "debug.log"
    env = ocf_env({"repository": "https://alice:s3cr3t-token@git.example/conf.git"}, instance="p_dbg",
                  rsctmp=str(tmp_path), extra={"HA_debug": "1", "HA_DEBUGLOG": str(debuglog)})
    run_agent("bacula-config-pull", "monitor", env=env)
    params = [line for line in debuglog.read_text().splitlines() if "monitor: parameters " in line]
    # a URL holding credentials is refused (issue 12): the line names the parameter, never its value
    assert len(params) == 1 and "repository=" in params[0]
    assert "s3cr3t-token" not in debuglog.read_text()


def test_a_full_syslog_queue_never_blocks_the_action(tmp_path):
    """A syslog daemon that stopped reading must not hang a monitor: the lines go to stderr."""
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        log, err = make({"HA_LOGFACILITY": "daemon"}, syslog_socket=str(path))
        for n in range(2000):                       # never read: the receive queue fills up
            log.info(f"line {n} " + "x" * 1000)
        assert "WARNING: cannot write to syslog socket" in err.getvalue()
        assert err.getvalue().endswith("INFO: line 1999 " + "x" * 1000 + "\n")
    finally:
        sock.close()
