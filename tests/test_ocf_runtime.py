# SPDX-License-Identifier: GPL-2.0-or-later
"""The OCF runtime's dispatch rules, on a synthetic agent (no daemons)."""

import io
import time

import pytest

from bacula_ha.ocf.agent import Action, Agent, Op, Param
from bacula_ha.ocf.codes import Exit
from bacula_ha.ocf.deadline import Deadline
from bacula_ha.ocf.environment import effective_check_level
from support.agents import exit_reasons
from support.procs import pids_whose

H = "support.fake_handlers:"


def make_agent(**handlers):
    actions = {"start": "ok", "stop": "ok", "monitor": "ok", "validate-all": "ok", **handlers}
    return Agent(
        name="fake", version="1.0", shortdesc="Fake", longdesc="A fake agent for runtime tests.",
        params=(
            Param("name", "Name", "A required name.", required=True),
            Param("count", "Count", "An integer.", type="integer", default=3, minimum=0),
            Param("flag", "Flag", "A boolean.", type="boolean", default=False),
            Param("mode", "Mode", "A choice.", default="a", choices=("a", "b")),
            Param("password", "Password", "A secret.", secret=True, default=""),
        ),
        actions=tuple(Action(n, timeout=20, handler=H + h, ops=(Op(interval=10),) if n == "monitor" else ())
                      for n, h in actions.items()),
    )


def dispatch(agent, action, params=None, **env):
    environ = {"OCF_RESOURCE_INSTANCE": "fake1", **{f"OCF_RESKEY_{k}": v for k, v in (params or {}).items()}, **env}
    out, err = io.StringIO(), io.StringIO()
    argv = ["fake"] if action is None else ["fake", action]
    rc = agent.dispatch(argv, environ, out, err)
    return rc, out.getvalue(), err.getvalue()


reasons = exit_reasons


def test_meta_data_and_usage_need_no_environment():
    agent = make_agent()
    rc, out, _ = dispatch(agent, "meta-data")
    assert rc == Exit.SUCCESS and out.startswith("<?xml") and 'name="fake"' in out
    rc, out, _ = dispatch(agent, "usage")
    assert rc == Exit.SUCCESS and "start" in out and "validate-all" in out


def test_missing_action_is_args_error_and_unknown_is_unimplemented():
    agent = make_agent()
    rc, _, err = dispatch(agent, None)
    assert rc == Exit.ERR_ARGS and "usage:" in err
    rc, _, err = dispatch(agent, "migrate_to", {"name": "x"})
    assert rc == Exit.ERR_UNIMPLEMENTED and reasons(err)


@pytest.mark.parametrize("action,env,expected", [
    ("start", {}, Exit.ERR_CONFIGURED),
    ("validate-all", {}, Exit.ERR_CONFIGURED),
    ("monitor", {"OCF_RESKEY_CRM_meta_interval": "10000"}, Exit.ERR_CONFIGURED),
    ("monitor", {"OCF_RESKEY_CRM_meta_interval": "0"}, Exit.NOT_RUNNING),   # probe never fails hard
    ("stop", {}, Exit.SUCCESS),                                              # stop never fails hard
])
def test_missing_required_parameter_per_action(action, env, expected):
    rc, _, err = dispatch(make_agent(), action, {}, **env)
    assert rc == expected
    if expected == Exit.ERR_CONFIGURED:
        assert reasons(err) == ["parameter name is required but not set"]


def test_invalid_values_are_configured_errors_with_clear_reasons():
    rc, _, err = dispatch(make_agent(), "start", {"name": "x", "count": "many", "mode": "c"})
    assert rc == Exit.ERR_CONFIGURED
    assert reasons(err) == ["parameter count: 'many' is not an integer; parameter mode: 'c' is not one of a, b"]


def test_stop_with_invalid_value_still_runs_with_default():
    rc, _, err = dispatch(make_agent(stop="echo_params"), "stop", {"name": "x", "count": "-4"})
    assert rc == Exit.SUCCESS
    assert "'count': 3" in err and "below the minimum" in err


def test_handler_error_gives_one_line_reason():
    rc, _, err = dispatch(make_agent(start="raise_ocf"), "start", {"name": "x"})
    assert rc == Exit.ERR_INSTALLED and reasons(err) == ["bacula-dir missing second line"]


def test_handler_bug_is_generic_error_without_traceback():
    rc, _, err = dispatch(make_agent(start="raise_bug"), "start", {"name": "x"})
    assert rc == Exit.ERR_GENERIC
    assert "Traceback" not in err
    assert reasons(err) == ["internal error in start: RuntimeError: boom with a newline"]


def test_invalid_return_code_is_reported():
    rc, _, err = dispatch(make_agent(start="return_code"), "start", {"name": "x"}, FAKE_RC="42")
    assert rc == Exit.ERR_GENERIC and "invalid code 42" in reasons(err)[0]


@pytest.mark.parametrize("code", [0, 1, 7, 8, 9, 190, 191])
def test_valid_return_codes_pass_through(code):
    rc, _, _ = dispatch(make_agent(start="return_code"), "start", {"name": "x"}, FAKE_RC=str(code))
    assert rc == code


def test_probe_never_returns_a_hard_error_but_keeps_not_installed():
    agent = make_agent(monitor="slow_probe_bug")
    rc, _, _ = dispatch(agent, "monitor", {"name": "x"}, OCF_RESKEY_CRM_meta_interval="0")
    assert rc == Exit.ERR_GENERIC
    rc, _, _ = dispatch(agent, "monitor", {"name": "x"}, OCF_RESKEY_CRM_meta_interval="10000")
    assert rc == Exit.SUCCESS
    rc, _, _ = dispatch(make_agent(monitor="raise_ocf"), "monitor", {"name": "x"}, OCF_RESKEY_CRM_meta_interval="0")
    assert rc == Exit.ERR_INSTALLED


def test_secrets_are_masked_in_logs_and_reasons():
    rc, _, err = dispatch(make_agent(start="log_secret"), "start", {"name": "x", "password": "hunter2-Secret"})
    assert rc == Exit.ERR_GENERIC
    assert "hunter2-Secret" not in err
    assert reasons(err) == ["auth failed for ******"]


def test_secret_is_refused_on_a_command_line():
    rc, out, err = dispatch(make_agent(start="secret_argv"), "start", {"name": "x", "password": "hunter2-Secret"})
    assert rc == Exit.ERR_GENERIC and "hunter2-Secret" not in out + err
    assert "refusing to pass a secret" in reasons(err)[0]


def test_deadline_comes_from_meta_timeout():
    def budget_of(err):
        words = err.split("budget ", 1)[1].split()
        return float(words[0]), float(words[1])

    _, _, err = dispatch(make_agent(start="budget"), "start", {"name": "x"}, OCF_RESKEY_CRM_meta_timeout="8000")
    budget, remaining = budget_of(err)
    assert budget == 8.0 and 7.0 < remaining < 8.0   # a reserve is kept to report before Pacemaker's kill
    _, _, err = dispatch(make_agent(start="budget"), "start", {"name": "x"}, OCF_RESKEY_CRM_meta_timeout="junk")
    assert budget_of(err)[0] == 20.0  # the action's declared timeout


def test_expired_command_kills_its_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild-survived"
    started = time.monotonic()
    rc, _, err = dispatch(make_agent(start="sleeper"), "start", {"name": "x"},
                          OCF_RESKEY_CRM_meta_timeout="1500", FAKE_MARKER=str(marker))
    elapsed = time.monotonic() - started
    assert rc == Exit.ERR_GENERIC and "was killed" in reasons(err)[0]
    assert elapsed < 10
    # The grandchild `sleep 30; touch` was in the same group: it must be gone, not merely orphaned.
    assert _processes_mentioning(str(marker)) == []


def _processes_mentioning(text):
    return pids_whose("cmdline", text.encode())


@pytest.mark.parametrize("raw,level", [("", 0), ("0", 0), ("5", 0), ("10", 10), ("15", 10),
                                       ("20", 20), ("99", 20), ("junk", 0), ("-3", 0)])
def test_check_level_falls_back_to_lower_implemented_level(raw, level):
    assert effective_check_level(raw) == level


def test_deadline_sub_and_bound():
    deadline = Deadline(10)
    assert 9.0 < deadline.remaining() <= 9.5
    assert deadline.bound(2) == 2
    child = deadline.sub(0.5)
    assert child.remaining() <= deadline.remaining() / 2 + 0.01


def test_deadline_window_is_the_shorter_of_its_seconds_and_what_is_left():
    now = [100.0]
    deadline = Deadline(10, clock=lambda: now[0])          # 9.5 s usable (a 0.5 s reserve)
    assert deadline.window(2).remaining() == 2
    late = deadline.window(60)
    assert late.remaining() == deadline.remaining() == 9.5
    now[0] += 9.6
    assert late.expired() and deadline.window(5).remaining() == 0


def test_deadline_part_is_a_share_of_the_whole_timeout_capped_to_what_is_left():
    now = [100.0]
    short, long = Deadline(60, clock=lambda: now[0]), Deadline(300, clock=lambda: now[0])
    assert short.part(0.1) == 6.0 and long.part(0.1) == 30.0   # a longer op timeout, a longer step
    now[0] += 50.0
    assert short.part(0.5) == short.remaining() == 7.0          # 57 s usable (a 3 s reserve), 50 gone
    now[0] += 10.0
    assert short.part(0.5) == 0.0


def test_metadata_actions_and_defaults():
    xml = make_agent().metadata()
    assert '<action name="monitor" timeout="20s" interval="10s"/>' in xml
    assert '<content type="boolean" default="false"/>' in xml
    assert "Allowed values: a, b." in xml
