# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha lab demo` (the README's quick start) shows a fenced failover, exits 0, leaves nothing."""

import os
import subprocess

import pytest

from bacula_ha.lab.demo import leftovers

from support.lab import agents_installed, new_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("arch", ["drbd", "git", "streaming"])
def test_demo_fails_over_and_cleans_up(arch):
    assert agents_installed(), "run `make install` first: the nodes use the installed ocf:bacula agents"
    lab = new_lab("m")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "HOME": "/root"}
    try:
        result = subprocess.run(["/usr/bin/python3", "-m", "bacula_ha", "lab", "demo", "--arch", arch,
                                 "--name", lab.layout.name, "--workdir", lab.layout.root],
                                env=env, capture_output=True, text=True, timeout=900)
    finally:
        lab.down(quiet=True)   # only matters if the demo itself was killed
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "fenced: the PDU powered" in out
    assert "run again by the agent as JobId" in out and "ended T" in out
    assert "restored on the survivor: byte-identical" in out
    assert "Director answers a console request through the VIP" in out
    assert "nothing left" in out and "demo succeeded" in out
    assert leftovers(lab) == []
