# SPDX-License-Identifier: GPL-2.0-or-later
"""The local Vagrant box (lab/vm/box.py): what it carries, without building it.

Building the box takes minutes and booting it takes the VM lock (`make vagrant-failover`);
these checks keep its recipe honest in every CI run: the provisioning of vagrant/ finds
every package it asks for already installed (so no apt runs inside an emulated guest),
the box's Vagrantfile is what vagrant-libvirt needs for QEMU without KVM, and a box
with that Vagrantfile and metadata is accepted by Vagrant together with vagrant/.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tarfile
import tempfile

import pytest

from bacula_ha.lab.vm import box, image
from support.paths import ROOT

PROVISION = os.path.join(ROOT, "vagrant", "provision")


def _provisioning_packages():
    """Every package vagrant/provision installs for the Vagrant cluster (sbd or virsh fencing)."""
    packages = set()
    for script in sorted(os.listdir(PROVISION)):
        with open(os.path.join(PROVISION, script)) as fh:
            text = fh.read()
        for line in re.findall(r"^\s*apt_install (.+)$", text, re.M):
            packages.update(line.split())
        if script == "step-packages.sh":
            for group in re.findall(r"packages\+?=\(([^)]*)\)", text):
                packages.update(group.split())
            for fencing, group in re.findall(r"^\s*(\w+)\) packages\+=\(([^)]*)\)", text, re.M):
                if fencing == "ipmilan":   # no BMC in the VMs: never installed by Vagrant
                    packages.difference_update(group.split())
    return packages


def test_provisioning_finds_every_package_in_the_box():
    wanted = _provisioning_packages()
    assert {"pacemaker", "sbd", "drbd-utils", "postgresql", "rsync", "make", "git"} <= wanted
    assert "ipmitool" not in wanted
    in_box = set(image.BASE_PACKAGES) | set(image.NODE_PACKAGES) | set(box.BOX_PACKAGES)
    assert wanted - in_box == set()


def test_provisioning_runs_apt_only_for_missing_packages():
    """apt under software emulation takes minutes: every apt-get sits behind a missing-package test."""
    for script in sorted(os.listdir(PROVISION)):
        with open(os.path.join(PROVISION, script)) as fh:
            lines = fh.read().splitlines()
        for number, line in enumerate(lines):
            if re.match(r"\s*(DEBIAN_FRONTEND=\S+ )?apt-get (update|install)", line):
                before = "\n".join(lines[max(0, number - 8):number])
                assert "missing" in before and "dpkg-query" in before, f"{script}:{number + 1}: {line}"


def test_box_vagrantfile_boots_its_own_kernel_under_qemu():
    text = box.BOX_VAGRANTFILE
    assert 'lv.driver = "qemu"' in text                 # no KVM for Debian kernels here
    assert 'File.join(__dir__, "vmlinuz")' in text and 'File.join(__dir__, "initrd.img")' in text
    assert "@CMDLINE@" in text and "root=/dev/vda" in box.KERNEL_CMDLINE
    assert "net.ifnames=0" in box.KERNEL_CMDLINE         # eth0 is what the network file matches
    assert re.search(r"boot_timeout = (\d+)", text) and int(re.search(r"boot_timeout = (\d+)", text)[1]) >= 600


def test_metadata_is_vagrant_libvirts_v1_format():
    assert box.metadata(3) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 3}


def test_configure_writes_network_ssh_and_sudo(tmp_path):
    (tmp_path / "etc/sudoers.d").mkdir(parents=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    box._configure(tmp_path)
    network = (tmp_path / "etc/systemd/network/10-eth0.network").read_text()
    assert "Name=eth0" in network and "DHCP=ipv4" in network and "ClientIdentifier=mac" in network
    sudoers = tmp_path / "etc/sudoers.d/vagrant"
    assert sudoers.read_text().startswith("vagrant ALL=(ALL) NOPASSWD: ALL\n")
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert "PasswordAuthentication no" in (tmp_path / "etc/ssh/sshd_config.d/vagrant-box.conf").read_text()


def test_user_script_unlocks_the_account_for_key_logins():
    script = box._user_script()
    assert "usermod -p '*' vagrant" in script             # '!' (locked) refuses keys without PAM
    assert '"$BOX_KEY"' in script                          # the key comes from the environment
    assert "pg_createcluster 15 main" in script            # the guide moves the packaged cluster


def test_cache_key_follows_the_recipe(monkeypatch):
    key = box.box_key()
    monkeypatch.setattr(box, "BOX_PACKAGES", box.BOX_PACKAGES + ("less",))
    assert box.box_key() != key
    assert box.box_path().parent.name == f"box-{box.box_key()}"


def _has_vagrant_libvirt() -> bool:
    with tempfile.TemporaryDirectory() as home:   # nothing written to the user's ~/.vagrant.d
        try:
            listed = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, timeout=60,
                                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
                                         "VAGRANT_HOME": os.path.join(home, "vagrant.d"),
                                         "VAGRANT_CHECKPOINT_DISABLE": "1"})
        except (OSError, subprocess.TimeoutExpired):
            return False
    return "vagrant-libvirt" in listed.stdout


# `make deps` installs vagrant and vagrant-libvirt: CI runs this.
@pytest.mark.skipif(not _has_vagrant_libvirt(), reason="vagrant with the vagrant-libvirt plugin is not installed")
def test_vagrant_accepts_the_box_with_vagrant_dir(tmp_path):
    """A box with the real metadata and Vagrantfile (an empty disk) is added, and vagrant/
    validates with it and the settings `make vagrant-failover` uses."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "metadata.json").write_text(json.dumps(box.metadata(3)))
    (content / "Vagrantfile").write_text(box.BOX_VAGRANTFILE.replace("@CMDLINE@", box.KERNEL_CMDLINE))
    (content / "box.img").write_bytes(b"")
    with tarfile.open(tmp_path / "test.box", "w") as tar:
        for name in ("metadata.json", "Vagrantfile", "box.img"):
            tar.add(content / name, arcname=name)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
           "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CWD": os.path.join(ROOT, "vagrant"),
           "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_NO_COLOR": "1",
           "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"), "BHA_STATE_DIR": str(tmp_path / "state"),
           "BHA_BOX": "test/bacula-ha-box", "BHA_GITCAT": "no", "BHA_SUBNET": "198.51.100",
           "BHA_LIBVIRT_MGMT_NET": "203.0.113.0/24", "BHA_LIBVIRT_FORWARD": "none", "BHA_DRBD_GB": "1"}
    added = subprocess.run(["vagrant", "box", "add", "--name", "test/bacula-ha-box", str(tmp_path / "test.box")],
                           env=env, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stdout + added.stderr
    assert "for 'libvirt'" in added.stdout
    result = subprocess.run(["vagrant", "validate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
    result = subprocess.run(["vagrant", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^dir1\s", result.stdout, re.M) and re.search(r"^dir2\s", result.stdout, re.M)
    assert not re.search(r"^gitcat\s", result.stdout, re.M)   # BHA_GITCAT=no: two VMs


def test_configure_trims_boot_like_the_lab_image(tmp_path):
    (tmp_path / "etc/sudoers.d").mkdir(parents=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    box._configure(tmp_path)
    for unit in image.BOOT_TRIMMED_UNITS:
        assert os.readlink(tmp_path / "etc/systemd/system" / unit) == "/dev/null"
    assert "UsePAM no" in (tmp_path / "etc/ssh/sshd_config.d/vagrant-box.conf").read_text()
