# SPDX-License-Identifier: GPL-2.0-or-later
"""The production guide's step scripts (vagrant/provision/step-*.sh), run for real on this machine.

Each runs as root in a private mount namespace with an overlay on /etc (tests/support/steps.py):
the files a step writes are checked with the real parsers (drbdadm, bacula-ha render), and
what it decides (create DRBD metadata or not, restart corosync or not, hold the Director stack
on the first CIB load or not) is read from the calls its stubs logged. Stubbed, because they
cannot exist here: systemd, the DRBD kernel module, a running Pacemaker cluster, a BMC.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess

import pytest

from support.steps import run_step

pytestmark = pytest.mark.root

NODE = os.uname().nodename            # drbdadm only dumps a resource naming this host
SITE = {"ARCH": "drbd", "NODE1": NODE, "NODE1_ADDR": "198.51.100.11", "NODE2": "peer",
        "NODE2_ADDR": "198.51.100.12", "CLUSTER_NAME": "bacula-ha", "VIP": "198.51.100.100",
        "FENCING": "ipmilan", "IPMI_ADDR1": "198.51.100.201", "IPMI_ADDR2": "198.51.100.202",
        "IPMI_USER": "fence", "IPMI_PASSWORD_SCRIPT": "/etc/bacula-ha/ipmi-password",
        "DRBD_RESOURCE": "r0", "DRBD_DEVICE": "/dev/drbd0", "DRBD_DISK": "/dev/vg0/bacula",
        "MOUNT_POINT": "/srv/bacula", "PG_VERSION": "15"}


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.fail("needs root (mount namespaces): run as root, as CI does")


# -- corosync ---------------------------------------------------------------------------------

def test_corosync_two_nodes_knet_and_restart_only_on_change(tmp_path):
    first = run_step(tmp_path / "a", "step-corosync.sh", SITE)
    assert first.returncode == 0, first.stderr
    conf = first.etc("corosync/corosync.conf")
    assert conf.count("{") == conf.count("}")
    assert "transport: knet" in conf and "token: 3000" in conf and "two_node: 1" in conf
    assert "crypto_cipher: aes256" in conf and "provider: corosync_votequorum" in conf
    assert f"name: {NODE}" in conf and "ring0_addr: 198.51.100.11" in conf
    assert "name: peer" in conf and "ring0_addr: 198.51.100.12" in conf
    assert first.called("corosync-keygen")           # NODE1 makes the key
    assert "systemctl restart corosync" in first.calls
    assert os.stat(os.path.join(first.work, "upper", "corosync", "authkey")).st_mode & 0o777 == 0o400

    # Same configuration, corosync running: nothing is restarted.
    again = run_step(tmp_path / "b", "step-corosync.sh", SITE, env={"STUB_ACTIVE": "0"},
                     etc_files={"corosync/corosync.conf": conf, "corosync/authkey": "k" * 256})
    assert again.returncode == 0, again.stderr
    assert not again.called("systemctl restart") and not again.called("corosync-keygen")


def test_corosync_second_node_needs_the_first_nodes_key(tmp_path):
    run = run_step(tmp_path, "step-corosync.sh", {**SITE, "NODE1": "other", "NODE2": NODE})
    assert run.returncode == 1
    assert "copy it from other" in run.stderr
    assert not run.called("systemctl")


# -- DRBD ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("module, drbdadm, section", [
    ("8.4.11", "/usr/lib/drbd/drbdadm-84", "disk"),   # Debian 12's in-kernel DRBD
    ("9.2.5", "/usr/sbin/drbdadm", "net"),            # crm-snippets/drbd-fencing.res
])
def test_drbd_resource_with_resource_and_stonith(tmp_path, module, drbdadm, section):
    run = run_step(tmp_path, "step-drbd.sh", SITE, env={"STUB_DRBD_VERSION": module, "STUB_DRBDADM": drbdadm})
    assert run.returncode == 0, run.stderr
    res = run.etc("drbd.d/r0.res")
    dump = subprocess.run([drbdadm, "-c", os.path.join(run.work, "upper", "drbd.d", "r0.res"), "dump", "r0"],
                          capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    body = re.search(section + r"\s*\{(.*?)\}", dump.stdout, re.S)
    assert body and "resource-and-stonith" in body.group(1), dump.stdout
    assert "/usr/lib/drbd/crm-fence-peer.9.sh" in dump.stdout
    assert "/usr/lib/drbd/crm-unfence-peer.9.sh" in dump.stdout
    assert "198.51.100.11:7789" in dump.stdout and "198.51.100.12:7789" in dump.stdout
    assert "/dev/vg0/bacula;" in res and "/dev/drbd0" in res
    settings = "\n".join(line for line in res.splitlines() if not line.lstrip().startswith("#"))
    for example in ("node1", "node2", "198.51.100.1:", "198.51.100.2:", "bacula-catalog"):
        assert example not in settings, example            # every example value replaced
    # No metadata yet and an empty disk: metadata made, resource up.
    assert "drbdadm -- --force create-md r0" in run.calls and "drbdadm up r0" in run.calls


def test_drbd_refuses_a_disk_that_holds_data(tmp_path):
    run = run_step(tmp_path, "step-drbd.sh", SITE, env={"STUB_DRBD_VERSION": "8.4.11", "STUB_BLKID_RC": "0",
                                                       "STUB_DRBDADM": "/usr/lib/drbd/drbdadm-84"})
    assert run.returncode == 1
    assert "/dev/vg0/bacula holds data" in run.stderr
    assert not run.called("drbdadm -- --force create-md") and not run.called("drbdadm up")


# -- the CIB: rendered from site.env + site.conf, held on the first load ---------------------------

GIT = {"GIT_REPOSITORY": "ssh://git@git.example.net/bacula/director-config.git", "GIT_BRANCH": "main",
       "CONFIG_DIR": "/etc/bacula-ha/director-config", "CATALOG_HOST": "catalog.example.net",
       "CATALOG_SSLMODE": "verify-full", "SSH_KEY": "/etc/bacula-ha/deploy_key",
       "KNOWN_HOSTS": "/etc/bacula-ha/known_hosts", "ALLOWED_SIGNERS": "/etc/bacula-ha/allowed_signers"}
SITE_CONF = {"bacula-ha/site.conf": "# render keys not in site.env\nvip_cidr = 24\n"}


def _held(run):
    return [c.split()[2] for c in run.called("crm_resource --resource") if "target-role" in c]


def test_cib_drbd_ipmilan_first_load_holds_the_stack(tmp_path):
    run = run_step(tmp_path, "step-cib.sh", SITE, etc_files=SITE_CONF)
    assert run.returncode == 0, run.stdout + run.stderr
    crm = run.etc("bacula-ha/cib-drbd.crm")
    assert "stonith:fence_ipmilan" in crm and "ip=198.51.100.201" in crm and "ip=198.51.100.202" in crm
    assert "password_script=/etc/bacula-ha/ipmi-password" in crm
    assert f"pcmk_host_list={NODE}" in crm and "pcmk_host_list=peer" in crm
    assert "config=/srv/bacula/etc/bacula-dir.conf" in crm            # the Director's config on DRBD
    assert "pgdata=/srv/bacula/postgresql/15/main" in crm and "directory=/srv/bacula" in crm
    assert "passfile=/etc/bacula-ha/catalog.pgpass" in crm and "ip=198.51.100.100 cidr_netmask=24" in crm
    assert _held(run) == ["g_bacula", "ms_drbd"]
    first_hold = next(i for i, c in enumerate(run.calls) if "target-role" in c)
    push = next(i for i, c in enumerate(run.calls) if c.startswith("crm configure load xml update"))
    assert first_hold < push                            # held in the copy, pushed once
    assert run.called("crm_verify --xml-file") and run.called("bacula-ha check --cib")
    assert not run.called("crm configure property stonith-timeout")


def test_cib_update_of_a_running_cluster_holds_nothing(tmp_path):
    run = run_step(tmp_path, "step-cib.sh", SITE, env={"STUB_HAS_GROUP": "0"}, etc_files=SITE_CONF)
    assert run.returncode == 0, run.stderr
    assert _held(run) == []
    assert run.called("crm configure load xml update")


def test_cib_git_sbd(tmp_path):
    site = {**SITE, **GIT, "ARCH": "git", "FENCING": "sbd", "SBD_DEVICE": "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"}
    run = run_step(tmp_path, "step-cib.sh", site, etc_files=SITE_CONF)
    assert run.returncode == 0, run.stdout + run.stderr
    crm = run.etc("bacula-ha/cib-git.crm")
    assert "stonith:fence_sbd" in crm and "devices=/dev/disk/by-id/wwn-0x5000c500a1b2c3d4" in crm
    assert "repository=ssh://git@git.example.net/bacula/director-config.git" in crm
    assert "config_dir=/etc/bacula-ha/director-config" in crm
    assert "config=/etc/bacula-ha/director-config/bacula-dir.conf" in crm
    assert "allowed_signers=/etc/bacula-ha/allowed_signers" in crm and "ssh_key=/etc/bacula-ha/deploy_key" in crm
    assert "mode=external host=catalog.example.net" in crm and "sslmode=verify-full" in crm
    assert "ocf:linbit:drbd" not in crm
    assert _held(run) == ["g_bacula"]
    assert "crm configure property stonith-timeout=40s" in run.calls


def test_cib_refuses_bad_site_values(tmp_path):
    run = run_step(tmp_path, "step-cib.sh", {**SITE, "VIP": "198.51.100.255"}, etc_files=SITE_CONF)
    assert run.returncode != 0
    assert "vip:" in run.stderr
    assert not run.called("crm configure load")


# -- the node-local halves: PostgreSQL's and the Director's configuration ---------------------------

def test_postgresql_configuration_on_the_node_without_the_file_system(tmp_path):
    """NODE2's half (the file system is not mounted here): data_directory on DRBD, no start at
    boot, the catalog user by password over the socket; a second run changes nothing."""
    first = run_step(tmp_path / "a", "step-postgresql.sh", {**SITE, "MOUNT_POINT": str(tmp_path / "unmounted")})
    assert first.returncode == 0, first.stderr
    conf = first.etc("postgresql/15/main/postgresql.conf")
    assert f"data_directory = '{tmp_path}/unmounted/postgresql/15/main'" in conf
    assert first.etc("postgresql/15/main/start.conf") == "manual\n"
    hba = first.etc("postgresql/15/main/pg_hba.conf")
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules[0] == ["local", "bacula", "bacula", "scram-sha-256"]   # before `local all all peer`
    assert not first.called("rsync") and not first.called("pg_ctlcluster 15 main stop")

    upper = os.path.join(first.work, "upper", "postgresql")
    again = run_step(tmp_path / "b", "step-postgresql.sh", {**SITE, "MOUNT_POINT": str(tmp_path / "unmounted")},
                     etc_files={f"postgresql/15/main/{name}": first.etc(f"postgresql/15/main/{name}")
                                for name in os.listdir(os.path.join(upper, "15", "main"))})
    assert again.returncode == 0, again.stderr
    assert again.etc("postgresql/15/main/pg_hba.conf") == hba


def test_postgresql_stops_the_packaged_cluster_before_moving_it(tmp_path):
    run = run_step(tmp_path, "step-postgresql.sh", {**SITE, "MOUNT_POINT": str(tmp_path / "unmounted")},
                   env={"STUB_PG_RUNNING": "0"})
    assert run.returncode == 0, run.stderr
    assert "pg_ctlcluster 15 main stop" in run.calls


def test_director_pointer_and_console_on_the_node_without_the_file_system(tmp_path):
    run = run_step(tmp_path, "step-director.sh", {**SITE, "MOUNT_POINT": str(tmp_path / "unmounted")})
    assert run.returncode == 0, run.stderr
    pointer = run.etc("bacula/bacula-dir.conf")
    assert pointer.splitlines()[-1] == f"@{tmp_path}/unmounted/etc/bacula-dir.conf"
    with open("/etc/bacula/bacula-dir.conf") as fh:
        assert run.etc("bacula/bacula-dir.conf.pre-bacula-ha") == fh.read()   # kept, not lost
    console = run.etc("bacula/bconsole.conf")
    assert re.search(r"(?im)^\s*address\s*=\s*198\.51\.100\.100$", console)
    assert "localhost" not in console


# -- on the node with the file system: the catalog and the Director's move (real PostgreSQL) ------

TEMPLATE = "/usr/share/bacula-common/defconfig/bacula-dir.conf"


def _debian_config(catalog_line=None) -> str:
    """bacula-dir.conf as Debian's postinst writes it without dbconfig (the catalog placeholders
    stay), or with `catalog_line` as the Catalog resource's settings (a migrated Bacula)."""
    with open(TEMPLATE) as fh:
        text = fh.read().replace("@debian_basename@", "dir1")
    for key in ("DIRPASSWORD", "MONDIRPASSWORD", "SDPASSWORD", "FDPASSWORD"):
        text = text.replace(f"XXX_{key}_XXX", f"{key.lower()}-secret")
    if catalog_line:
        text = re.sub(r'dbname = "XXX_DBNAME_XXX";.*', catalog_line, text)
    return text


@pytest.fixture
def pg(tmp_path):
    from support.pg import PgCluster
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


def _login(pg, passfile: str) -> str:
    """Log in as the catalog user over TCP with a password file, as the Director and the check do."""
    proc = subprocess.run(["psql", "-XAtw", f"host=127.0.0.1 port={pg.port} dbname=bacula user=bacula",
                           "-c", "SELECT versionid FROM version"], env={"PGPASSFILE": passfile, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.daemons
def test_catalog_fresh_install_gets_a_catalog_and_one_password(tmp_path, pg):
    site = {**SITE, "MOUNT_POINT": str(tmp_path / "srv")}
    env = {"PGHOST": pg.sockdir, "PGPORT": str(pg.port)}
    run = run_step(tmp_path / "a", "step-catalog.sh", site, env=env, mounted=site["MOUNT_POINT"],
                   etc_files={"bacula/bacula-dir.conf": _debian_config()})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "catalog VersionId 16" in run.stdout
    passfile = os.path.join(run.work, "upper", "bacula-ha", "catalog.pgpass")
    assert os.stat(passfile).st_mode & 0o777 == 0o600
    password = run.etc("bacula-ha/catalog.pgpass").strip().split(":")[4]
    assert re.fullmatch(r"[0-9a-f]{32}", password)
    conf = run.etc("bacula/bacula-dir.conf")
    assert f'dbname = "bacula"; DB Address = "localhost"; dbuser = "bacula"; dbpassword = "{password}"' in conf
    assert "XXX_" not in conf
    assert _login(pg, passfile) == "16"
    assert password not in "\n".join(run.calls)          # never on a command line the stubs saw

    # Again, with what the first run left: same password, the catalog is kept.
    again = run_step(tmp_path / "b", "step-catalog.sh", site, env=env, mounted=site["MOUNT_POINT"],
                     etc_files={"bacula/bacula-dir.conf": conf,
                                "bacula-ha/catalog.pgpass": run.etc("bacula-ha/catalog.pgpass")})
    assert again.returncode == 0, again.stderr
    assert "Creation of Bacula PostgreSQL tables" not in again.stdout
    assert again.etc("bacula/bacula-dir.conf") == conf


@pytest.mark.daemons
def test_catalog_of_a_migrated_bacula_keeps_its_password(tmp_path, pg):
    pg.make_bacula_catalog("the-old-password")
    site = {**SITE, "MOUNT_POINT": str(tmp_path / "srv")}
    conf = _debian_config('dbname = "bacula"; DB Address = "localhost"; dbuser = "bacula"; '
                          'dbpassword = "the-old-password"')
    run = run_step(tmp_path / "a", "step-catalog.sh", site, env={"PGHOST": pg.sockdir, "PGPORT": str(pg.port)},
                   mounted=site["MOUNT_POINT"], etc_files={"bacula/bacula-dir.conf": conf})
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.etc("bacula-ha/catalog.pgpass") == "*:*:bacula:bacula:the-old-password\n"
    assert run.etc("bacula/bacula-dir.conf") == conf
    assert _login(pg, os.path.join(run.work, "upper", "bacula-ha", "catalog.pgpass")) == "16"


def test_director_moves_onto_the_file_system(tmp_path):
    from bacula_ha.agents.director.conf import parse_file
    from bacula_ha.agents.director.settings import from_director_config
    mount_point = str(tmp_path / "srv")
    original = _debian_config('dbname = "bacula"; DB Address = "localhost"; dbuser = "bacula"; dbpassword = "x"')
    run = run_step(tmp_path, "step-director.sh", {**SITE, "MOUNT_POINT": mount_point}, mounted=mount_point,
                   etc_files={"bacula/bacula-dir.conf": original})
    assert run.returncode == 0, run.stdout + run.stderr
    shared = os.path.join(run.work, "mounted", "etc", "bacula-dir.conf")
    name, _pid, port, listen, working_dir, _piddir = from_director_config(parse_file(shared))
    assert (name, port, listen) == ("dir1-dir", 9101, [("0.0.0.0", 9101)])   # DirAddress gone
    assert working_dir == f"{mount_point}/working"
    with open(shared) as fh:
        text = fh.read()
    assert '"/var/lib/bacula' not in text and f'"{mount_point}/working/%c.bsr"' in text
    assert 'Password = "dirpassword-secret"' in text                           # name and passwords kept
    assert run.etc("bacula/bacula-dir.conf").splitlines()[-1] == f"@{mount_point}/etc/bacula-dir.conf"
    assert run.etc("bacula/bacula-dir.conf.pre-bacula-ha") == original
    assert f"bacula-dir -t -u bacula -g bacula -c {mount_point}/etc/bacula-dir.conf" in run.calls
    st = os.stat(os.path.join(run.work, "mounted", "working"))      # rsync -a: /var/lib/bacula's owner
    assert st.st_uid == pwd.getpwnam("bacula").pw_uid and st.st_mode & 0o700 == 0o700


def test_postgresql_data_copied_onto_the_mounted_file_system(tmp_path):
    """NODE1's half: the packaged cluster's data directory is copied (not moved) onto DRBD."""
    mount_point = str(tmp_path / "srv")
    source = tmp_path / "packaged"                       # stands in for /var/lib/postgresql/15/main
    source.mkdir()
    (source / "PG_VERSION").write_text("15\n")
    (source / "base").mkdir()
    (source / "base" / "1").write_text("data")
    postgres = pwd.getpwnam("postgres")
    for path in (source, source / "PG_VERSION", source / "base", source / "base" / "1"):
        os.chown(path, postgres.pw_uid, postgres.pw_gid)
    os.chmod(source, 0o700)                              # as initdb leaves a data directory
    conf = "/etc/postgresql/15/main/postgresql.conf"
    with open(conf) as fh:
        text = re.sub(r"(?m)^data_directory = .*$", f"data_directory = '{source}'", fh.read())
    run = run_step(tmp_path / "run", "step-postgresql.sh", {**SITE, "MOUNT_POINT": mount_point},
                   mounted=mount_point, etc_files={"postgresql/15/main/postgresql.conf": text})
    assert run.returncode == 0, run.stdout + run.stderr
    copied = os.path.join(run.work, "mounted", "postgresql", "15", "main")
    with open(os.path.join(copied, "base", "1")) as fh:
        assert fh.read() == "data"
    st = os.stat(copied)
    assert st.st_mode & 0o777 == 0o700 and st.st_uid == pwd.getpwnam("postgres").pw_uid
    assert (source / "PG_VERSION").exists()                # nothing deleted
    assert f"data_directory = '{mount_point}/postgresql/15/main'" in run.etc("postgresql/15/main/postgresql.conf")


# -- checks before the CIB: BMCs (IPMI cannot exist here: fence_ipmilan is a stub) and the git variant --

def test_ipmi_check_uses_the_password_script_and_refuses_a_readable_one(tmp_path):
    script = {"bacula-ha/ipmi-password": "#!/bin/sh\necho s3cret-bmc\n"}
    loose = run_step(tmp_path / "a", "step-fencing-ipmi.sh", SITE, etc_files=script,
                     modes={"bacula-ha/ipmi-password": 0o755})
    assert loose.returncode == 1 and "must be owned by root, mode 0700 (is: root 755)" in loose.stderr
    assert not loose.called("fence_ipmilan")

    run = run_step(tmp_path / "b", "step-fencing-ipmi.sh", SITE, etc_files=script,
                   modes={"bacula-ha/ipmi-password": 0o700})
    assert run.returncode == 0, run.stderr
    assert run.called("fence_ipmilan") == [
        f"fence_ipmilan --ip={bmc} --username=fence --password-script=/etc/bacula-ha/ipmi-password "
        "--lanplus --action=status" for bmc in ("198.51.100.201", "198.51.100.202")]
    assert "s3cret-bmc" not in "\n".join(run.calls)


@pytest.mark.daemons
def test_git_variant_checks_catalog_and_repository(tmp_path, pg):
    pg.make_bacula_catalog("catalog-pw")
    repo = tmp_path / "config.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(repo)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--initial-branch=main", str(work)], check=True)
    (work / "bacula-dir.conf").write_text("# the Director\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.net"]
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    subprocess.run(git + ["push", "-q", str(repo), "main"], check=True)
    site = {**SITE, "ARCH": "git", "GIT_REPOSITORY": f"file://{repo}", "GIT_BRANCH": "main",
            "CONFIG_DIR": "/etc/bacula-ha/director-config", "CATALOG_HOST": "127.0.0.1", "CATALOG_SSLMODE": "disable"}
    files = {"bacula-ha/director/secrets.conf": '  Password = "p"\n',
             "bacula-ha/catalog.pgpass": "*:*:bacula:bacula:catalog-pw\n"}
    modes = {"bacula-ha/director/secrets.conf": 0o640, "bacula-ha/catalog.pgpass": 0o600}
    groups = {"bacula-ha/director/secrets.conf": "bacula"}
    env = {"PGPORT": str(pg.port)}
    run = run_step(tmp_path / "a", "step-git.sh", site, env=env, etc_files=files, modes=modes, groups=groups)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "catalog VersionId 16, in recovery: false" in run.stdout

    # A readable password file, a missing branch: refused, each with its reason.
    loose = run_step(tmp_path / "b", "step-git.sh", site, env=env, etc_files=files,
                     modes={**modes, "bacula-ha/catalog.pgpass": 0o644}, groups=groups)
    assert loose.returncode == 1 and "catalog.pgpass must be mode 0600" in loose.stderr
    branch = run_step(tmp_path / "c", "step-git.sh", {**site, "GIT_BRANCH": "release"}, env=env,
                      etc_files=files, modes=modes, groups=groups)
    assert branch.returncode == 1 and "has no branch release" in branch.stderr


# -- fencing test and start (a running cluster cannot exist here: stubs) -----------------------------

def test_fencing_test_fences_the_other_node_and_waits_for_it(tmp_path):
    run = run_step(tmp_path, "step-fencing-test.sh", SITE, env={"STUB_PARTITION": f"{NODE} peer"})
    assert run.returncode == 0, run.stderr
    assert run.called("stonith_admin") == ["stonith_admin --reboot peer", "stonith_admin --history peer"]
    # On NODE2 it fences NODE1.
    other = run_step(tmp_path / "b", "step-fencing-test.sh", {**SITE, "NODE1": "first", "NODE2": NODE},
                     env={"STUB_PARTITION": f"first {NODE}"})
    assert other.returncode == 0 and other.called("stonith_admin --reboot") == ["stonith_admin --reboot first"]


def test_start_releases_drbd_then_the_group_and_asks_the_director(tmp_path):
    run = run_step(tmp_path, "step-start.sh", SITE)
    assert run.returncode == 0, run.stderr
    starts = run.called("crm resource start")
    assert starts == ["crm resource start ms_drbd", "crm resource start g_bacula"]
    assert "Version: 9.6.7" in run.stdout and run.calls[-1] == "bacula-ha check"


@pytest.mark.scheduler
@pytest.mark.parametrize("arch", ["drbd", "git"])
def test_cib_step_with_the_real_crm_tools(tmp_path, arch):
    """step-cib.sh with crmsh, crm_resource, crm_verify and bacula-ha check for real on the CIB
    copy: what it would push holds the stack, has the fence devices, and passes the check."""
    site = {**SITE, **GIT, "ARCH": arch}
    run = run_step(tmp_path, "step-cib.sh", site, env={"STUB_REAL_CRM": "1"}, etc_files=SITE_CONF)
    assert run.returncode == 0, run.stdout + run.stderr
    held = ["g_bacula"] + (["ms_drbd"] if arch == "drbd" else [])
    # the step holds the stack stopped until fencing is tested: check says so, and nothing else
    assert f"0 error(s), {len(held)} warning(s)" in run.stdout
    for rsc in held:
        assert f"fix: crm resource start {rsc}" in run.stdout
    with open(os.path.join(run.work, "loaded.xml")) as fh:
        pushed = fh.read()
    for rsc in ["g_bacula"] + (["ms_drbd"] if arch == "drbd" else []):
        assert re.search(rf'<(group|clone) id="{rsc}">.*?name="target-role" value="Stopped"', pushed, re.S), rsc
    assert pushed.count('class="stonith" type="fence_ipmilan"') == 2
    assert 'name="priority-fencing-delay" value="15s"' in pushed


# -- DRBD initial sync and hand-over: what is forced, and only when ------------------------------

@pytest.mark.parametrize("dstate, signature, forced, mkfs", [
    ("Inconsistent/Inconsistent", False, True, True),     # first run: this node's data wins, new fs
    ("UpToDate/UpToDate", True, False, False),            # run again: no force, the fs is kept
])
def test_initial_sync_forces_only_the_first_time(tmp_path, dstate, signature, forced, mkfs):
    run = run_step(tmp_path, "step-drbd-initial-sync.sh", {**SITE, "MOUNT_POINT": str(tmp_path / "srv")},
                   env={"STUB_DSTATE": dstate, "STUB_BLKID_RC": "0" if signature else "2"})
    assert run.returncode == 0, run.stderr
    assert run.called("drbdadm primary") == (["drbdadm primary --force r0"] if forced else ["drbdadm primary r0"])
    assert bool(run.called("mkfs.ext4")) == mkfs
    assert run.called("mount") == [f"mount /dev/drbd0 {tmp_path}/srv"]


def test_initial_sync_needs_the_peer(tmp_path):
    # StandAlone never becomes Connected: the step gives up (after its wait; shortened here by `seq`).
    run = run_step(tmp_path, "step-drbd-initial-sync.sh", SITE, env={"STUB_CSTATE": "StandAlone", "STUB_SEQ": "1"})
    assert run.returncode == 1 and "not connected to the peer" in run.stderr
    assert not run.called("drbdadm primary")


def test_handover_stops_what_the_setup_started_and_demotes(tmp_path):
    mount_point = str(tmp_path / "srv")
    run = run_step(tmp_path, "step-handover.sh", {**SITE, "MOUNT_POINT": mount_point}, mounted=mount_point,
                   env={"STUB_PG_RUNNING": "0"})
    assert run.returncode == 0, run.stderr
    order = [c for c in run.calls if c.startswith(("pg_ctlcluster 15 main stop", "umount", "drbdadm secondary"))]
    assert order == ["pg_ctlcluster 15 main stop", f"umount {mount_point}", "drbdadm secondary r0"]


# -- packages (apt-get, debconf and make are stubs: a test installs nothing) ------------------------

@pytest.mark.parametrize("arch, fencing, wanted, unwanted, disabled", [
    ("drbd", "ipmilan", {"drbd-utils", "postgresql", "ipmitool"}, {"git", "sbd"},
     ["bacula-director", "postgresql", "drbd"]),
    ("git", "sbd", {"git", "postgresql-client", "sbd"}, {"drbd-utils", "postgresql", "ipmitool"},
     ["bacula-director"]),
])
def test_packages_by_architecture_and_fencing(tmp_path, arch, fencing, wanted, unwanted, disabled):
    from support.paths import ROOT
    run = run_step(tmp_path, "step-packages.sh", {**SITE, "ARCH": arch, "FENCING": fencing},
                   env={"STUB_ACTIVE": "0"})
    assert run.returncode == 0, run.stderr
    install = run.called("apt-get install")
    assert len(install) == 1
    packages = set(install[0].split()[4:])
    assert {"pacemaker", "corosync", "crmsh", "fence-agents", "bacula-director", "libpq5"} <= packages
    assert wanted <= packages and not unwanted & packages
    assert run.calls.index("apt-get update -q") < run.calls.index(install[0])
    with open(os.path.join(run.work, "debconf")) as fh:
        assert "bacula-director-pgsql/dbconfig-install boolean false" in fh.read()
    assert run.called("make") == [f"make -C {ROOT} install"]
    assert run.called("systemctl disable --now") == [f"systemctl disable --now {unit}" for unit in disabled]


def test_packages_installs_only_what_is_missing(tmp_path):
    """A node (or the local Vagrant box) with every package runs no apt at all; one with some
    of them gets only the others."""
    site = {**SITE, "ARCH": "drbd", "FENCING": "sbd"}
    first = run_step(tmp_path / "none", "step-packages.sh", site, env={"STUB_ACTIVE": "1"})
    assert first.returncode == 0, first.stderr
    everything = first.called("apt-get install")[0].split()[4:]
    some = run_step(tmp_path / "some", "step-packages.sh", site,
                    env={"STUB_ACTIVE": "1", "STUB_INSTALLED": " ".join(everything[1:])})
    assert some.returncode == 0, some.stderr
    assert some.called("apt-get install") == [f"apt-get install -y -q {everything[0]}"]
    full = run_step(tmp_path / "all", "step-packages.sh", site,
                    env={"STUB_ACTIVE": "1", "STUB_INSTALLED": " ".join(everything)})
    assert full.returncode == 0, full.stderr
    assert not full.called("apt-get")
    assert full.called("make")                              # bacula-ha itself is still installed
