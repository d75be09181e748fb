# SPDX-License-Identifier: GPL-2.0-or-later
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
SCRIPTS = sorted(glob.glob(os.path.join(VAGRANT_DIR, "provision", "*.sh"))
                 + glob.glob(os.path.join(VAGRANT_DIR, "*.sh")))   # failover-test.sh


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
    {"BHA_GITCAT": "no", "BHA_SUBNET": "198.51.100", "BHA_LIBVIRT_MGMT_NET": "203.0.113.0/24",
     "BHA_LIBVIRT_FORWARD": "none", "BHA_DRBD_GB": "1"},
], ids=["drbd-sbd", "git-sbd", "drbd-virsh", "git-virsh", "drbd-two-vms-isolated"])
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
    ({"BHA_GITCAT": "maybe"}, "BHA_GITCAT must be yes or no"),
    ({"BHA_GITCAT": "no", "BHA_ARCH": "git"}, "BHA_GITCAT=no needs BHA_ARCH=drbd"),
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
    assert any(name.startswith("step-") for name in names)   # the production guide's steps


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
    # Paths that exist only on the machine running the tests: the checkout itself and the home
    # directory's hidden tool trees (pyenv and the like). Provisioning runs on fresh VMs.
    # (Not the checkout's parent: a clone under /tmp would forbid /tmp, which the scripts use.)
    machine_paths = [ROOT + os.sep, os.path.join(os.path.expanduser("~"), ".")]
    for path in SCRIPTS + [os.path.join(VAGRANT_DIR, "Vagrantfile")]:
        with open(path) as fh:
            text = fh.read()
        for machine_path in machine_paths:
            assert machine_path not in text, (path, machine_path)
        assert "PASSWORD=" not in text.replace("BHA_CATALOG_PASSWORD", "").replace("db_password=", ""), path


# -- the files provisioning generates (lib.sh), checked with the real parsers --------------------

SETTINGS = {"BHA_NODES": "gitcat=198.51.100.20 dir1=198.51.100.11 dir2=198.51.100.12",
            "BHA_SUBNET": "198.51.100", "BHA_VIP": "198.51.100.100", "BHA_ARCH": "drbd",
            "BHA_FENCING": "sbd", "BHA_FENCE_HOST": "203.0.113.1", "BHA_FENCE_USER": "root",
            "BHA_DOMAIN_PREFIX": "bacula-ha-", "BHA_SBD_DEVICE": "/dev/disk/by-id/virtio-bha-sbd"}
FAKE_SECRETS = ('load_secrets() { BHA_DRBD_SECRET=drbd-s3cret BHA_CATALOG_PASSWORD="$TEST_DB_PW" '
                'BHA_DIRECTOR_PASSWORD=dir-pw BHA_MONITOR_PASSWORD=mon-pw; }')


def _lib(call: str, **env) -> str:
    """Run `call` in bash with lib.sh sourced and the secrets stubbed; its stdout."""
    script = f'set -euo pipefail\n. "$BHA_LIB"\n{FAKE_SECRETS}\n{call}\n'
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
                "BHA_LIB": os.path.join(VAGRANT_DIR, "provision", "lib.sh"), "TEST_DB_PW": "x",
                **SETTINGS, **env}
    proc = subprocess.run(["bash", "-c", script], env=full_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.root
@pytest.mark.parametrize("arch", ["drbd", "git"])
@pytest.mark.parametrize("fencing", ["sbd", "virsh"])
def test_guide_steps_accept_the_site_files_provisioning_writes(tmp_path, arch, fencing):
    """director.sh writes site.env and site.conf (lib.sh); the guide's step-cib.sh renders
    the CIB from them with the real `bacula-ha render`."""
    from support.steps import run_step
    env = {"BHA_ARCH": arch, "BHA_FENCING": fencing, "BHA_DRBD_DISK": "/dev/vdb",
           "BHA_WATCHDOG_MODULE": "i6300esb"}
    site_env = _lib("site_env", **env)
    site = dict(line.split("=", 1) for line in site_env.splitlines() if line and not line.startswith("#"))
    run = run_step(tmp_path, "step-cib.sh", site, etc_files={"bacula-ha/site.conf": _lib("site_conf", **env)})
    assert run.returncode == 0, run.stdout + run.stderr
    crm = run.etc(f"bacula-ha/cib-{arch}.crm")
    assert "ip=198.51.100.100 cidr_netmask=24" in crm
    assert ("stonith:fence_sbd" in crm) == (fencing == "sbd")
    assert ("stonith:fence_virsh" in crm) == (fencing == "virsh")
    if fencing == "sbd":
        assert "devices=/dev/disk/by-id/virtio-bha-sbd" in crm
    else:
        assert "plug=bacula-ha-dir1" in crm and "identity_file=/etc/bacula-ha/fence_key" in crm
    assert "console_config=/etc/bacula-ha/bconsole.conf" in crm
    if arch == "drbd":
        assert "drbd_resource=r0" in crm and "pgdata=/srv/bacula/postgresql/15/main" in crm
        assert "config=/srv/bacula/etc/bacula-dir.conf" in crm
    else:
        assert "repository=git://198.51.100.20/bacula-config.git" in crm
        assert "config_dir=/etc/bacula-ha/director-config" in crm and "sslmode=disable" in crm


def test_site_env_defines_what_the_steps_read():
    """Every variable a step script reads from site.env is in the Vagrant cluster's site.env."""
    defined = {line.split("=", 1)[0] for line in _lib("site_env", BHA_DRBD_DISK="/dev/vdb").splitlines()
               if line and not line.startswith("#")}
    from support.steps import STEP_SCRIPTS, site_variables_read
    production_only = {"IPMI_ADDR1", "IPMI_ADDR2", "IPMI_USER", "IPMI_PASSWORD_SCRIPT",   # no BMC in VMs
                       "SSH_KEY", "KNOWN_HOSTS", "ALLOWED_SIGNERS"}                       # git://, unsigned
    for script in STEP_SCRIPTS:
        assert site_variables_read(script) - defined - production_only == set(), script


@pytest.mark.daemons
@pytest.mark.root
def test_director_configuration_passes_the_directors_config_test(tmp_path):
    """The Director configuration provisioning writes (public part + node-local secrets)
    is accepted by `bacula-dir -t` against a real catalog."""
    from support.pg import PgCluster
    import tempfile
    base = tempfile.mkdtemp(prefix="bha-vagrant-")  # bacula must traverse it
    os.chmod(base, 0o755)
    pg = PgCluster().init().start()
    try:
        pg.make_bacula_catalog("vagrant-db-pw")
        secrets = os.path.join(base, "secrets.conf")
        conf = os.path.join(base, "bacula-dir.conf")
        _lib(f'write_director_secrets {secrets} 127.0.0.1 {pg.port}\n'
             f'director_conf 19101 {base} {base} {base}/bacula.log {secrets} > {conf}',
             TEST_DB_PW="vagrant-db-pw")
        with open(conf) as fh:
            text = fh.read()
        assert "vagrant-db-pw" not in text and "dir-pw" not in text  # secrets only in the include
        proc = subprocess.run(["/usr/sbin/bacula-dir", "-t", "-c", conf], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o640
    finally:
        pg.destroy()
        import shutil
        shutil.rmtree(base, ignore_errors=True)


def test_site_env_without_gitcat():
    """BHA_GITCAT=no: two VMs; the drbd architecture's site.env needs nothing from gitcat."""
    nodes = "dir1=198.51.100.11 dir2=198.51.100.12"
    out = _lib("site_env", BHA_NODES=nodes, BHA_DRBD_DISK="/dev/vdb", BHA_WATCHDOG_MODULE="i6300esb")
    assert "NODE1_ADDR=198.51.100.11\n" in out and "NODE2_ADDR=198.51.100.12\n" in out
    assert "ARCH=drbd\n" in out
    assert _lib("has_node gitcat && echo yes || echo no", BHA_NODES=nodes) == "no\n"
    assert _lib("has_node gitcat && echo yes || echo no") == "yes\n"
