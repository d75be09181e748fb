"""vagrant/: the Vagrantfile validates offline and the provisioning scripts are shellcheck-clean.

No VM can boot on a CI machine; these checks keep the cluster definition from rotting.
`vagrant validate` evaluates the whole Vagrantfile (settings, disks, provisioners)
with Vagrant's own config validation; VAGRANT_HOME and the secrets directory go
to a temp dir so nothing is written into the checkout or the user's ~/.vagrant.d.
"""

from __future__ import annotations

import glob
import os
import stat
import subprocess

import pytest

from support.paths import ROOT

VAGRANT_DIR = os.path.join(ROOT, "vagrant")
SCRIPTS = sorted(glob.glob(os.path.join(VAGRANT_DIR, "provision", "*.sh")))


def _vagrant(tmp_path, *args, **env):
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
                "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CWD": VAGRANT_DIR,
                "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_NO_COLOR": "1",
                "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotvagrant"),
                "BHA_STATE_DIR": str(tmp_path / "state")}
    full_env.update(env)
    return subprocess.run(["vagrant", *args], env=full_env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("settings", [
    {},
    {"BHA_ARCH": "git"},
    {"BHA_FENCING": "virsh", "BHA_FENCE_KEY": "KEY"},
    {"BHA_ARCH": "git", "BHA_FENCING": "virsh", "BHA_FENCE_KEY": "KEY", "BHA_SUBNET": "198.51.100"},
], ids=["drbd-sbd", "git-sbd", "drbd-virsh", "git-virsh"])
def test_vagrantfile_validates(tmp_path, settings):
    if settings.get("BHA_FENCE_KEY") == "KEY":
        key = tmp_path / "fence_key"
        key.write_text("not a real key\n")
        settings = {**settings, "BHA_FENCE_KEY": str(key)}
    result = _vagrant(tmp_path, "validate", **settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
    # The shared secrets are made in the state dir, private to the user.
    state = tmp_path / "state"
    assert {p.name for p in state.iterdir()} >= {"authkey", "secrets.env"}
    assert stat.S_IMODE(os.stat(state / "secrets.env").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state / "authkey").st_mode) == 0o600


def test_vagrantfile_validates_with_stock_providers_only(tmp_path):
    """Without the vagrant-libvirt plugin (VirtualBox-only hosts) the file still loads."""
    result = _vagrant(tmp_path, "validate", "--ignore-provider", VAGRANT_NO_PLUGINS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


@pytest.mark.parametrize("settings, message", [
    ({"BHA_ARCH": "shared"}, "BHA_ARCH must be drbd or git"),
    ({"BHA_FENCING": "ipmilan"}, "BHA_FENCING must be sbd or virsh"),
    ({"BHA_FENCING": "virsh"}, "BHA_FENCING=virsh needs BHA_FENCE_KEY"),
])
def test_vagrantfile_rejects_bad_settings(tmp_path, settings, message):
    result = _vagrant(tmp_path, "validate", **settings)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_secrets_are_kept_between_runs(tmp_path):
    assert _vagrant(tmp_path, "validate").returncode == 0
    first = (tmp_path / "state" / "secrets.env").read_text()
    assert _vagrant(tmp_path, "validate").returncode == 0
    assert (tmp_path / "state" / "secrets.env").read_text() == first


def test_provisioning_scripts_exist():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"lib.sh", "base.sh", "director.sh", "gitcat.sh", "cluster.sh", "ocf-tester.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_shellcheck_clean(script):
    result = subprocess.run(["shellcheck", "--external-sources", "--severity=style", script],
                            cwd=os.path.dirname(script), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", [s for s in SCRIPTS if not s.endswith("lib.sh")], ids=os.path.basename)
def test_scripts_are_strict_and_executable(script):
    with open(script) as fh:
        text = fh.read()
    assert text.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.stat(script).st_mode & stat.S_IXUSR


def test_no_machine_paths_or_secrets_committed():
    for path in SCRIPTS + [os.path.join(VAGRANT_DIR, "Vagrantfile")]:
        with open(path) as fh:
            text = fh.read()
        assert "/work/" not in text and "/root/.pyenv" not in text, path
        assert "PASSWORD=" not in text.replace("BHA_CATALOG_PASSWORD", "").replace("db_password=", ""), path
