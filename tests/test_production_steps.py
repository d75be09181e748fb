"""The production guide's step scripts (vagrant/provision/step-*.sh), run for real on this machine.

Each runs as root in a private mount namespace with an overlay on /etc (tests/support/steps.py):
the files a step writes are checked with the real parsers (drbdadm, bacula-ha render), and
what it decides (create DRBD metadata or not, restart corosync or not, hold the Director stack
on the first CIB load or not) is read from the calls its stubs logged. Stubbed, because they
cannot exist here: systemd, the DRBD kernel module, a running Pacemaker cluster.
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
       "CONFIG_DIR": "/etc/bacula-ha/director", "CATALOG_HOST": "catalog.example.net",
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
    assert "config_dir=/etc/bacula-ha/director" in crm and "config=/etc/bacula-ha/director/bacula-dir.conf" in crm
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
