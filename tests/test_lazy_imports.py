# SPDX-License-Identifier: GPL-2.0-or-later
"""The hot path stays light: a probe imports none of click, lxml, psycopg (measured, not timed)."""

import subprocess

import pytest

from support.agents import ocf_env
from support.paths import AGENTS, agent_path
from bacula_ha.ocf.codes import Exit

HEAVY = ("click", "lxml", "psycopg")
#: Standard modules that each cost a probe milliseconds (measured with -X importtime): a probe of a
#: stopped resource needs none of them. Import them inside the functions that need them.
SLOW_STDLIB = ("dataclasses", "typing", "enum", "inspect", "json", "subprocess", "asyncio", "logging",
               # `os` is a quarter of the bare interpreter's start (its _collections_abc): callgrind
               # counted 5.0 M of 20.9 M instructions; the probe path uses `posix` (ocf/environment.py)
               "os")


def imported_modules(name, action, env, alone=False):
    """What the agent imports; `alone`: in a PID namespace of its own (root), so that no
    bacula-dir of another test or lab is visible (the Director's probe reads its
    configuration only when some bacula-dir runs on the node)."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"] if alone else []
    proc = subprocess.run(prefix + ["/usr/bin/python3", "-IS", "-X", "importtime", agent_path(name), action],
                          env=env, capture_output=True, text=True, timeout=60)
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, mods


@pytest.mark.root
@pytest.mark.parametrize("name", AGENTS)
def test_probe_imports_nothing_heavy(name, tmp_path):
    env = ocf_env({}, interval_ms=0, rsctmp=str(tmp_path), instance="lazy")
    rc, mods = imported_modules(name, "monitor", env, alone=True)
    assert rc == Exit.NOT_RUNNING
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert heavy == []
    slow = sorted(m for m in mods if m in SLOW_STDLIB)
    assert slow == [], f"the probe path imports {slow}"


@pytest.mark.parametrize("name", AGENTS)
def test_meta_data_needs_only_lxml(name):
    rc, mods = imported_modules(name, "meta-data", {"PATH": "/usr/bin:/bin"})
    assert rc == Exit.SUCCESS
    assert any(m.split(".")[0] == "lxml" for m in mods)
    assert not any(m.split(".")[0] in ("click", "psycopg") for m in mods)
