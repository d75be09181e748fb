# SPDX-License-Identifier: GPL-2.0-or-later
"""One validator (issue 15.3): `bacula-ha render`, `bacula-ha check` and the agents accept
and refuse the same parameter values, because they all apply the agents' own declarations."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from bacula_ha.admin.render import RenderError, render
from bacula_ha.ocf.codes import Exit
from bacula_ha.ocf.params import parse_params
from support.agents import load_agent
from support.runners import PullRunner
from test_check import GIT, GOOD, check, load

GIT_SITE = {"nodes": "alpha,beta", "vip": "203.0.113.5", "vip_cidr": "24",
            "ipmi_address.alpha": "203.0.113.101", "ipmi_address.beta": "203.0.113.102",
            "ipmi_user": "fence", "ipmi_password_script": "/etc/bacula-ha/pw", "catalog_host": "203.0.113.20",
            "git_repository": "ssh://git@git.example.net/config.git"}
DRBD_SITE = {**GIT_SITE, "drbd_device": "/dev/drbd0"}

# (agent, parameter, render arch, render key, value) -- the values the issue found accepted by
# render and check but refused by the agent, and neighbours.
REFUSED = [
    ("bacula-config-pull", "config_dir", "git", "config_dir", "/"),
    ("bacula-config-pull", "config_dir", "git", "config_dir", "/etc/.."),
    ("bacula-director", "config", "drbd", "director_config", "relative.conf"),
    ("bacula-config-pull", "repository", "git", "git_repository", "notaurl"),
    ("bacula-config-pull", "repository", "git", "git_repository", "gopher://git.example.net/r.git"),
    ("bacula-config-pull", "main_config", "git", "main_config", "../escape.conf"),
    ("bacula-config-pull", "branch", "git", "git_branch", "bad..branch"),
    ("bacula-catalog-check", "passfile", "drbd", "catalog_passfile", "pgpass"),
]
ACCEPTED = [
    ("bacula-config-pull", "repository", "git", "git_repository", "git.example.net:bacula/config.git"),
    ("bacula-config-pull", "repository", "git", "git_repository", "/srv/git/config.git"),
    ("bacula-config-pull", "main_config", "git", "main_config", "dir/bacula-dir.conf"),
]


def agent_refuses(agent: str, name: str, value: str) -> bool:
    _values, problems = parse_params(load_agent(agent).params, {f"OCF_RESKEY_{name}": value,
                                                                 "OCF_RESKEY_repository": "/srv/git/c.git"}
                                     if name != "repository" else {f"OCF_RESKEY_{name}": value})
    return any(p.startswith(f"parameter {name}") for p in problems)


def render_refuses(arch: str, key: str, value: str) -> bool:
    try:
        render(arch, "crm", {**(GIT_SITE if arch == "git" else DRBD_SITE), key: value})
    except RenderError as exc:
        assert any(p.startswith(key + ":") for p in exc.problems), exc.problems
        return True
    return False


@pytest.mark.parametrize("agent,name,arch,key,value", REFUSED + ACCEPTED)
def test_render_and_agent_agree(agent, name, arch, key, value):
    refused = (agent, name, arch, key, value) in REFUSED
    assert agent_refuses(agent, name, value) is refused
    assert render_refuses(arch, key, value) is refused


def test_render_names_the_agent_and_its_reason():
    with pytest.raises(RenderError) as info:
        render("git", "crm", {**GIT_SITE, "config_dir": "/"})
    assert "config_dir: bacula-config-pull refuses it: parameter config_dir: must be an absolute path " \
           "other than /" in info.value.problems


@pytest.mark.parametrize("key,value", [("config_dir", "/"), ("repository", "not a url"),
                                       ("repository", "notaurl")])
def test_the_agent_refuses_them_as_err_configured(tmp_path, key, value):
    result = PullRunner(tmp_path, "/srv/git/c.git", in_process=False, **{key: value})("validate-all")
    assert result.rc == Exit.ERR_CONFIGURED and f"parameter {key}:" in result.reason


@pytest.mark.scheduler
@pytest.mark.parametrize("text,old,new,finding", [
    (GIT, "repository=file:///srv/git/bacula-config.git", 'repository="not a url"',
     "ERROR   p_config: parameter repository: is not a file://"),
    (GIT, "repository=file:///srv/git/bacula-config.git",
     "repository=file:///srv/git/bacula-config.git config_dir=/",
     "ERROR   p_config: parameter config_dir: must be an absolute path other than /"),
    (GOOD, "config=/etc/bacula/bacula-dir.conf", "config=relative.conf",
     "ERROR   p_director: parameter config: must be an absolute path"),
    (GOOD, "host=/run/postgresql", "host=/run/postgresql passfile=pgpass",
     "ERROR   p_catalog: parameter passfile: must be an absolute path"),
])
def test_check_refuses_what_the_agent_refuses(tmp_path, text, old, new, finding):
    assert old in text
    rc, out = check(load(tmp_path, text.replace(old, new)))
    assert rc == 1 and finding in out, out


# Anything render emits, the agents accept: render checks the built primitives too.
_PATHISH = st.lists(st.sampled_from(["a", "/", ".", "..", "_", "-", "z"]), min_size=1, max_size=6).map("".join)


@settings(max_examples=60, deadline=None)
@given(config_dir=_PATHISH.map(lambda s: "/" + s), main_config=_PATHISH,
       repository=st.tuples(st.sampled_from(["", "ssh://", "git@", "file:///", "h:", "/"]), _PATHISH).map("".join))
def test_whatever_render_emits_the_agents_accept(config_dir, main_config, repository):
    try:
        text = render("git", "crm", {**GIT_SITE, "config_dir": config_dir, "main_config": main_config,
                                     "git_repository": repository})
    except RenderError:
        return
    for agent, prim in (("bacula-config-pull", "p_config_pull"), ("bacula-director", "p_director")):
        line = re.search(rf"^primitive {prim} .*?(?=^\S)", text, re.S | re.M).group(0)
        env = {f"OCF_RESKEY_{k}": v for k, v in re.findall(r"(\w+)=(\S+)", line.split(" op ")[0])
               if not k.startswith("OCF")}
        _values, problems = parse_params(load_agent(agent).params, env)
        assert problems == [], (line, problems)


def test_every_render_key_names_a_declared_agent_parameter():
    """A Field(param=...) that names no agent parameter would make render fail for everyone."""
    from bacula_ha.admin.render.values import FIELDS
    mapped = [f for f in FIELDS if f.param is not None]
    assert len(mapped) >= 10
    for field in mapped:
        agent, name = field.param
        assert name in {p.name for p in load_agent(agent).params}, field.key


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["", ".", "..", "a", "b", "..."]), max_size=8), st.booleans())
def test_normal_parts_is_what_normpath_keeps(parts, absolute):
    """The probe path's own normpath (no `os` import) agrees with posixpath on every shape."""
    import posixpath
    from bacula_ha.agents.paramchecks import normal_parts
    path = ("/" if absolute else "") + "/".join(parts)
    expected = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".")]
    assert normal_parts(path) == expected
