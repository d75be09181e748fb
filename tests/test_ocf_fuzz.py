# SPDX-License-Identifier: GPL-2.0-or-later
"""Arbitrary OCF environments against every real agent: never a traceback, always a valid code.

Actions with effects (start, promote, reload) are left to each agent's own tests; here every
action that must be safe with any input runs with random parameters, missing or extra ones,
wrong types and odd characters. Generated values never contain ':' or '@', so no value can
form a network address (git's scp-like syntax needs ':'): the fuzz stays on this machine.
"""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacula_ha.ocf.codes import VALID_CODES, Exit
from support.agents import dispatch_agent, exit_reasons, load_agent
from support.paths import AGENTS

SAFE_ACTIONS = ["meta-data", "usage", "validate-all", "monitor", "stop", "notify", "bogus-action", "status"]

odd_text = st.text(alphabet=st.characters(blacklist_characters=":@\x00", blacklist_categories=("Cs",)),
                   max_size=40)
values = st.one_of(odd_text, st.integers(-10**6, 10**9).map(str), st.sampled_from(
    ["", "true", "false", "yes", "0", "1", "/nonexistent/x", "local", "external", "-1", " 5 "]))


def agent_strategy():
    return st.sampled_from(AGENTS)


@st.composite
def environments(draw, agent):
    names = [p.name for p in agent.params]
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    env = {f"OCF_RESKEY_{n}": draw(values) for n in chosen}
    extra = draw(st.dictionaries(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=12),
                                 values, max_size=3))
    env.update({f"OCF_RESKEY_{k}": v for k, v in extra.items()})
    env["OCF_RESKEY_CRM_meta_interval"] = draw(st.sampled_from(["0", "10000", "", "junk"]))
    env["OCF_RESKEY_CRM_meta_timeout"] = draw(st.sampled_from(["3000", "", "junk", "-5"]))
    env["OCF_CHECK_LEVEL"] = draw(st.sampled_from(["0", "10", "20", "7", "x"]))
    env["OCF_RESOURCE_INSTANCE"] = draw(st.sampled_from(["fuzz", "fuzz:1", ""]))
    return env


@pytest.mark.parametrize("name", AGENTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_environment_gives_valid_code_and_one_line_reason(name, data, tmp_path_factory):
    agent = load_agent(name)                                  # loaded once per agent
    env = data.draw(environments(agent))
    env["HA_RSCTMP"] = str(tmp_path_factory.mktemp("rsctmp"))
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    action = data.draw(st.sampled_from(SAFE_ACTIONS))
    result = dispatch_agent(name, action, env)
    rc, text = result.rc, result.stderr
    assert rc in VALID_CODES
    assert "Traceback" not in text
    for reason in exit_reasons(text):
        assert reason.strip(), "empty exit reason"
    if rc not in (Exit.SUCCESS, Exit.NOT_RUNNING, Exit.RUNNING_PROMOTED) and action not in ("meta-data", "usage"):
        assert exit_reasons(text) or rc in (Exit.DEGRADED, Exit.DEGRADED_PROMOTED), \
            f"{action} failed with {rc} but gave no reason: {text!r}"
    if env["OCF_RESKEY_CRM_meta_interval"] in ("0", "", "junk") and action == "monitor":
        assert rc not in (Exit.ERR_ARGS, Exit.ERR_PERM, Exit.ERR_CONFIGURED), "a probe must never fail hard"
    if action == "stop":
        assert rc in (Exit.SUCCESS, Exit.ERR_GENERIC, Exit.ERR_INSTALLED), "stop with bad input must not fail hard"
