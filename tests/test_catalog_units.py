# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-catalog-check without a server: version discovery, passfile rules, reasons, the guard,
the probe's import cost, and a property test over garbage connection parameters."""

import os
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bacula_ha.agents.catalog import errors, passfile, version
from bacula_ha.agents.catalog.connection import conninfo_params
from bacula_ha.agents.catalog.probe import ProbeSettings, check
from bacula_ha.agents.director.catalog import check as director_check
from bacula_ha.agents.director.settings import Catalog
from bacula_ha.ocf.codes import VALID_CODES, Exit
from bacula_ha.ocf.state import StateDir
from support.agents import exit_reasons
from support.fake_pg import SilentPostgres
from support.net import free_port
from support.paths import SYSTEM_PYTHON, agent_path
from support.runners import CatalogRunner

NAME = "bacula-catalog-check"
SECRET = "Zq9-unit-secret-Pw"


# -- expected version ------------------------------------------------------------
def test_version_from_installed_script():
    found, path = version.discover()
    assert found >= 1 and path.endswith("make_postgresql_tables")


@pytest.mark.parametrize("text,expected", [
    ("INSERT INTO Version (VersionId) VALUES (16);", 16),
    ("insert into version(versionid) values(1022);\n", 1022),
    ('INSERT INTO "Version" ( "VersionId" )\n  VALUES ( 15 ) ;', 15),
    ("CREATE TABLE version (versionid integer not null);", None),
    ("", None),
])
def test_version_in_text(text, expected):
    assert version.version_in_text(text) == expected


def test_version_ambiguous_or_missing(tmp_path):
    two = tmp_path / "two"
    two.write_text("INSERT INTO Version (VersionId) VALUES (15);\nINSERT INTO Version (VersionId) VALUES (16);\n")
    empty = tmp_path / "empty"
    empty.write_text("CREATE TABLE version (versionid integer);\n")
    with pytest.raises(version.VersionUnknown, match="several"):
        version.discover([str(two)])
    with pytest.raises(version.VersionUnknown, match="no INSERT"):
        version.discover([str(empty), str(tmp_path / "absent")])
    with pytest.raises(version.VersionUnknown, match="none of"):
        version.discover([str(tmp_path / "absent")])
    good = tmp_path / "good"
    good.write_text("x\nINSERT INTO Version (VersionId) VALUES (16);\n")
    assert version.discover([str(tmp_path / "absent"), str(empty), str(good)]) == (16, str(good))


def in_process(tmp_path, **params) -> CatalogRunner:
    """The agent with `params` and no server, dispatched in this process."""
    return CatalogRunner(tmp_path, params=params, in_process=True)


def test_undiscoverable_version_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setattr(version, "SCRIPT_CANDIDATES", (str(tmp_path / "absent"),))
    res = in_process(tmp_path)("validate-all")
    assert res.rc == Exit.ERR_CONFIGURED and "expected_version" in res.stderr
    assert in_process(tmp_path, expected_version=16)("validate-all").rc == Exit.SUCCESS


# -- passfile ------------------------------------------------------------------
def test_passfile_problems(tmp_path):
    assert passfile.problem("") is None
    assert passfile.problem("relative/pgpass").code == Exit.ERR_CONFIGURED
    assert passfile.problem(str(tmp_path / "absent")).code == Exit.ERR_INSTALLED
    assert passfile.problem(str(tmp_path)).code == Exit.ERR_ARGS
    loose = tmp_path / "loose"
    loose.write_text("*:*:*:bacula:x\n")
    loose.chmod(0o644)
    problem = passfile.problem(str(loose))
    assert problem.code == Exit.ERR_ARGS and "chmod 600" in problem.reason
    loose.chmod(0o600)
    assert passfile.problem(str(loose)) is None


def test_passfile_passwords_are_parsed_like_libpq(tmp_path):
    path = tmp_path / "pgpass"
    path.write_text("# comment\n\nh:5432:db:u:plain\n*:*:*:bacula:with\\:colon\\\\back:ignored\nshort:line\n")
    assert list(passfile.passwords(str(path))) == ["plain", "with:colon\\back"]


def test_validate_reports_local_passfile_problems(tmp_path):
    res = in_process(tmp_path, passfile=str(tmp_path / "absent"))("validate-all")
    assert res.rc == Exit.ERR_INSTALLED and "does not exist" in res.stderr
    loose = tmp_path / "loose"
    loose.write_text(f"*:*:*:bacula:{SECRET}\n")
    loose.chmod(0o640)
    res = in_process(tmp_path, passfile=str(loose))("validate-all")
    assert res.rc == Exit.ERR_ARGS and "group or world" in res.stderr
    assert SECRET not in res.stderr
    assert in_process(tmp_path, sslmode="sometimes")("validate-all").rc == Exit.ERR_CONFIGURED
    assert in_process(tmp_path, mode="remote")("validate-all").rc == Exit.ERR_CONFIGURED


def test_conninfo_never_holds_a_password():
    target = errors.Target("127.0.0.1", 5432, "bacula", "bacula")
    params = conninfo_params(target, "/etc/bacula/pgpass", "prefer", 2.3)
    assert "password" not in params and params["passfile"] == "/etc/bacula/pgpass"
    assert params["connect_timeout"] == "3" and params["tcp_user_timeout"] == "3000"
    assert "passfile" not in conninfo_params(target, "", "prefer", 5)


# -- reasons -----------------------------------------------------------------------
T = errors.Target("127.0.0.1", 5999, "bacula", "bacula")


@pytest.mark.parametrize("message,kind", [
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: Connection refused\n'
     '\tIs the server running on that host and accepting TCP/IP connections?', errors.UNREACHABLE),
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: FATAL:  password '
     'authentication failed for user "bacula"', errors.AUTH),
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: FATAL:  database '
     '"nodb" does not exist', errors.NO_DATABASE),
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: FATAL:  role '
     '"nobody" does not exist', errors.AUTH),
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: FATAL:  the database '
     'system is starting up', errors.NOT_ACCEPTING),
    ('connection failed: connection to server at "127.0.0.1", port 5999 failed: FATAL:  the database '
     'system is not yet accepting connections\nDETAIL:  Consistent recovery state has not been yet reached.',
     errors.RECOVERY),
    ("connection timeout expired", errors.TIMEOUT),
    ('connection failed: could not translate host name "nowhere.invalid" to address: Name or service '
     'not known', errors.UNREACHABLE),
    ("something nobody has seen before", errors.OTHER),
])
def test_connect_failures_are_classified(message, kind):
    failure = errors.classify_connect(message, T)
    assert failure.kind == kind
    assert "\n" not in failure.reason and failure.reason.startswith("catalog ")


def test_statement_failures_are_classified():
    assert errors.classify_statement("57014", "canceling statement due to statement timeout",
                                     "version check", T).kind == errors.TIMEOUT
    assert errors.classify_statement("55P03", "lock", "write check", T).kind == errors.TIMEOUT
    assert errors.classify_statement("25006", "read-only", "write check", T).kind == errors.READ_ONLY
    denied = errors.classify_statement("42501", "permission denied", "write check", T)
    assert denied.kind == errors.PERMISSION and denied.permanent
    assert errors.classify_statement("53100", "could not extend file", "write check", T,
                                     writing=True).kind == errors.WRITE
    # the kind follows what the step does, never its name
    assert errors.classify_statement("53100", "could not extend file", "write check", T).kind == errors.OTHER
    assert errors.classify_statement("53100", "could not extend file", "renamed step", T,
                                     writing=True).kind == errors.WRITE
    assert errors.libpq_detail('x failed: FATAL:  password authentication failed for user "b"') == \
        'password authentication failed for user "b"'


# -- the client-side guard: a server that logs us in and never answers ------------------------
@pytest.fixture
def silent():
    with SilentPostgres() as server:
        yield server


def test_probe_gives_up_on_a_server_that_never_answers(silent):
    settings = ProbeSettings(errors.Target("127.0.0.1", silent.port, "bacula", "bacula"),
                             connect_timeout=120, expected_version=16, write_check=True, node="n1")
    began = time.monotonic()
    with pytest.raises(errors.CheckFailure) as failed:
        check(settings, 1.0)
    took = time.monotonic() - began
    assert failed.value.kind == errors.TIMEOUT
    assert "no answer" in failed.value.reason and "version check" in failed.value.reason
    assert silent.logins == 1 and silent.queries == 1      # logged in, asked, got nothing
    assert took < 10, took                                 # generous: not the 120 s connect_timeout


def test_director_catalog_check_gives_up_on_a_server_that_never_answers(silent):
    """The Director's depth-20 check uses the same probe (its password given in-process)."""
    cat = Catalog("MyCatalog", "bacula", "127.0.0.1", silent.port, "bacula", SECRET)
    with pytest.raises(errors.CheckFailure) as failed:
        director_check(cat, 1.0)
    assert failed.value.kind == errors.TIMEOUT and SECRET not in failed.value.reason
    director_check(cat, 1.0, full=False)                   # the start pre-check only logs in: passes


def test_probe_does_not_wait_for_a_name_that_never_resolves(monkeypatch):
    """getaddrinfo cannot be interrupted: the probe stops waiting for it at the deadline."""
    import socket
    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(60) and [])
    settings = ProbeSettings(errors.Target("catalog.example", 5432, "bacula", "bacula"), connect_timeout=60)
    began = time.monotonic()
    try:
        with pytest.raises(errors.CheckFailure) as failed:
            check(settings, 0.5)
    finally:
        release.set()
    assert failed.value.kind == errors.TIMEOUT and "resolving" in failed.value.reason
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("mode,code", [("local", Exit.ERR_GENERIC), ("external", Exit.DEGRADED)])
def test_catalog_agent_monitor_against_a_silent_server(silent, tmp_path, mode, code):
    StateDir(str(tmp_path), NAME, "silent").write("started", '{"expected_version": 16}')
    agent = CatalogRunner(tmp_path, "silent", params={"host": "127.0.0.1", "port": silent.port,
                                                      "connect_timeout": 120, "mode": mode})
    began = time.monotonic()
    res = agent.monitor(timeout_ms=3000)
    assert res.rc == code, res.stderr
    assert "no answer" in res.reason
    assert time.monotonic() - began < 3 + 10


# -- the probe stays cheap --------------------------------------------------------------
def _importtime(action, tmp_path, marker):
    state = StateDir(str(tmp_path), NAME, "probe")
    if marker:
        state.write("started", '{"expected_version": 16}')
    else:
        state.remove("started")
    env = CatalogRunner(tmp_path, "probe", params={"host": "127.0.0.1", "port": free_port(),
                                                   "connect_timeout": 1}).env(action, interval_ms=0, timeout_ms=5000)
    proc = subprocess.run([SYSTEM_PYTHON, "-IS", "-X", "importtime", agent_path(NAME), action], env=env,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def test_probe_of_a_stopped_instance_does_not_load_libpq(tmp_path):
    rc, err = _importtime("monitor", tmp_path, marker=False)
    assert rc == Exit.NOT_RUNNING
    assert "ctypes" not in err and "psycopg" not in err
    rc, err = _importtime("monitor", tmp_path, marker=True)  # the control: a started one does
    assert rc == Exit.ERR_GENERIC and "ctypes" in err and "unreachable" in err
    assert "psycopg" not in err                              # the monitor never pays for psycopg


def test_stop_always_succeeds(tmp_path):
    state = StateDir(str(tmp_path), NAME, "test")
    state.write("started", "{}")
    assert in_process(tmp_path, host="127.0.0.1")("stop").rc == Exit.SUCCESS
    assert not state.exists("started")
    assert in_process(tmp_path)("stop").rc == Exit.SUCCESS
    assert in_process(tmp_path, port="nonsense", mode="x")("stop").rc == Exit.SUCCESS
    assert in_process(tmp_path).probe().rc == Exit.NOT_RUNNING


# -- garbage in, a valid code and a one-line reason out ------------------------------------
_garbage = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
CLOSED_PORT = free_port()


CHECKED = ("port", "sslmode", "connect_timeout", "expected_version", "mode", "write_check")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    action=st.sampled_from(["monitor", "monitor", "start", "validate-all", "stop"]),
    interval=st.sampled_from([0, 10000]),
    started=st.booleans(),
    host=st.one_of(st.sampled_from(["127.0.0.1", "localhost", "/nonexistent-bha-sockdir"]), _garbage),
    dbname=st.one_of(st.just("bacula"), _garbage),
    user=st.one_of(st.just("bacula"), _garbage),
    sslmode=st.sampled_from(["disable", "prefer", "require", "verify-full"]),
    connect_timeout=st.integers(1, 1000),
    expected=st.one_of(st.none(), st.integers(1, 10 ** 6)),
    mode=st.sampled_from(["local", "external"]),
    write_check=st.sampled_from(["true", "false"]),
    pf=st.sampled_from(["", "good", "good", "loose", "absent", "relative"]),
    # Half the examples corrupt one parsed parameter (those stop at parsing); half reach the checks.
    corrupt=st.sampled_from((None,) * len(CHECKED) + CHECKED),
    bad=st.one_of(st.integers(-10 ** 6, 10 ** 12).map(str), _garbage, st.sampled_from(["", "both", "maybe"])),
)
def test_garbage_parameters_give_a_code_and_a_reason(tmp_path_factory, action, interval, started, host, dbname,
                                                    user, sslmode, connect_timeout, expected, mode,
                                                    write_check, pf, corrupt, bad):
    tmp = tmp_path_factory.mktemp("cc")
    files = {"good": 0o600, "loose": 0o644}
    passpath = {"": "", "absent": str(tmp / "absent"), "relative": "pgpass"}.get(pf)
    if passpath is None:
        passpath = str(tmp / pf)
        with open(passpath, "w") as fh:
            fh.write(f"*:*:*:*:{SECRET}\n")
        os.chmod(passpath, files[pf])
    if started:
        StateDir(str(tmp), NAME, "test").write("started", "{}")
    params = {"host": host, "port": CLOSED_PORT, "dbname": dbname, "user": user, "sslmode": sslmode,
              "connect_timeout": connect_timeout, "mode": mode, "write_check": write_check,
              "passfile": passpath}
    if expected is not None:
        params["expected_version"] = expected
    if corrupt:
        params[corrupt] = bad
    res = in_process(tmp, **params)(action, timeout_ms=1000, interval_ms=interval)
    rc, out, err = res.rc, res.stdout, res.stderr
    assert rc in VALID_CODES
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    reasons = exit_reasons(err)
    if rc not in (Exit.SUCCESS, Exit.NOT_RUNNING):
        assert reasons and all(r for r in reasons)
    if action == "stop":
        assert rc == Exit.SUCCESS
    if action == "monitor" and not started:
        assert rc == Exit.NOT_RUNNING or (rc == Exit.ERR_CONFIGURED and interval)
