"""Logging per Pacemaker's conventions: HA_LOGFILE, HA_DEBUGLOG, HA_debug, HA_LOGFACILITY, stderr."""

import io

from bacula_ha.ocf.log import Log, Secrets


def make(env, secrets=None):
    err = io.StringIO()
    return Log("bacula-director", "p_dir", env, secrets=secrets, stderr=err), err


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


def test_syslog_facility_none_means_no_syslog():
    log, err = make({"HA_LOGFACILITY": "none"})
    log.info("to stderr then")
    assert "INFO: to stderr then" in err.getvalue()
    log, err = make({"HA_LOGFACILITY": "daemon"})
    log.info("to syslog")                      # no syslog daemon needed: syslog(3) never fails
    assert err.getvalue() == ""
