# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab leaves nothing behind, even when its CLI is killed with SIGKILL halfway through `up`."""

import os
import subprocess
import sys
import time

import pytest

from bacula_ha.lab import node
from bacula_ha.lab.demo import leftovers

from support.lab import new_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_down_cleans_up_after_a_killed_cli():
    lab = new_lab("k")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "HOME": "/root"}
    cmd = ["/usr/bin/python3", "-m", "bacula_ha", "lab", "up", "--agents", "stock", "--name", lab.layout.name,
           "--workdir", lab.layout.root]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if all(node.init_pid(lab.layout, n) for n in ("node1", "node2")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode()
        proc.kill()   # no finally, no signal handler: the lab stays as it was
        proc.wait(timeout=30)
        found = leftovers(lab)
        assert any(f.startswith("netns") for f in found), found
        assert any(f.startswith("loop") for f in found), found
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        removed = subprocess.run([sys.executable, "-m", "bacula_ha", "lab", "down", "--name", lab.layout.name,
                                  "--workdir", lab.layout.root], env=env, capture_output=True, text=True,
                                 timeout=120)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    time.sleep(1)
    assert leftovers(lab) == []


def test_commands_without_a_lab_fail_cleanly():
    lab = new_lab("n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "HOME": "/root"}
    result = subprocess.run(["/usr/bin/python3", "-m", "bacula_ha", "lab", "status", "--name", lab.layout.name],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no lab" in result.stderr
