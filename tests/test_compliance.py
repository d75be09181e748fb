# SPDX-License-Identifier: GPL-2.0-or-later
"""Pacemaker's own tools drive every installed agent: crm_resource --validate and --force-check.

`make test` installs the checkout first, so ocf:bacula:* resolves to this code.
"""

import os
import subprocess

import pytest

pytestmark = [pytest.mark.compliance, pytest.mark.root]

#: Per agent: options that are valid anywhere, and one invalid option with the reason it must give.
CASES = {
    "bacula-director": ({}, ("port", "99999", "parameter port: 99999 is above the maximum 65535")),
    "bacula-catalog-check": ({"host": "127.0.0.1", "mode": "external", "write_check": "false"},
                             ("mode", "bogus", "parameter mode: 'bogus' is not one of local, external")),
    "bacula-config-pull": ({"repository": "file:///srv/git/bacula-config.git", "validate": "false"},
                           ("push_changes", "maybe", "parameter push_changes: 'maybe' is not a boolean (use true or false)")),
}


def crm_resource(*args, cib=None):
    env = dict(os.environ)
    if cib:
        env["CIB_file"] = str(cib)
    return subprocess.run(["crm_resource", *args], capture_output=True, text=True, timeout=120, env=env)


def options(opts):
    return [x for k, v in opts.items() for x in ("--option", f"{k}={v}")]


@pytest.mark.parametrize("agent", sorted(CASES))
def test_validate_invalid_option_is_not_configured_with_reason(agent):
    valid, (name, value, reason) = CASES[agent]
    proc = crm_resource("--validate", "--class", "ocf", "--provider", "bacula", "--agent", agent,
                        *options({**valid, name: value}))
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert f"returned 6 (not configured: {reason})" in proc.stdout


def test_validate_missing_required_parameter():
    proc = crm_resource("--validate", "--class", "ocf", "--provider", "bacula", "--agent", "bacula-config-pull")
    assert proc.returncode == 6
    assert "parameter repository is required but not set" in proc.stdout


@pytest.mark.parametrize("agent", sorted(CASES))
def test_force_check_of_a_resource_never_started_here_is_not_running(agent, tmp_path):
    cib = tmp_path / "cib.xml"
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    valid, _ = CASES[agent]
    params = " ".join(f"{k}={v}" for k, v in valid.items())
    crm = tmp_path / "r.crm"
    crm.write_text(f"primitive p_x ocf:bacula:{agent} {'params ' + params if params else ''}\n")
    load = subprocess.run(["crm", "-F", "configure", "load", "update", str(crm)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CIB_file": str(cib)})
    assert load.returncode == 0, load.stderr
    proc = crm_resource("--force-check", "-r", "p_x", cib=cib)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "returned 7 (not running)" in proc.stdout
