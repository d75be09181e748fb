# SPDX-License-Identifier: GPL-2.0-or-later
"""The two architectures: their data, their lab hosts and their Pacemaker resources.

drbd: a loop block device with ext4 stands in for DRBD (the machine has no
DRBD module).  Every node sees the same block device; the ocf:pacemaker:
Stateful promotable clone stands in for DRBD's promotion, so ordering and
colocation behave as with DRBD, but no data is replicated: there is one copy.
Stack: Stateful(promoted) -> Filesystem -> pgsql -> bacula-catalog-check ->
bacula-director -> IPaddr2 (VIP).

git: bacula-config-pull (promotable) deploys the Director configuration from
a bare repository served by `git daemon` on the lab host "git"; the catalog
is a Patroni cluster on lab hosts (lab/patroni.py; bacula-catalog-check mode=external);
group: catalog-check -> director -> VIP, on the config-pull Promoted node.

agents="ours" uses ocf:bacula:*; agents="stock" uses ocf:heartbeat:Dummy for
the catalog gate and ocf:heartbeat:anything for bacula-dir (plumbing check).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shlex
from typing import Dict, List, Sequence

from . import backups, dirconf
from .layout import PG_PORT, VIP, Layout
from .registry import Registry
from .sh import LabError, run

PGBIN = "/usr/lib/postgresql/15/bin"
BACULA_SCRIPTS = "/usr/share/bacula-director"
DISK_MB = 200
PG_HBA = """local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all 198.51.100.0/24 scram-sha-256
"""
PG_CONF = """
listen_addresses = '*'
port = 5432
unix_socket_directories = '/run/postgresql'
shared_buffers = 32MB
max_connections = 40
"""


def ids(user: str, group: str):
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def load_secrets(layout: Layout) -> Dict[str, str]:
    return json.loads((layout.etc / "secrets.json").read_text())


def write_common(layout: Layout, db_address: str, working_dir: str, db_port: int = PG_PORT,
                 more_secrets: Sequence[str] = ()) -> Dict[str, str]:
    """Secrets (with `more_secrets`' keys), the Director config, console configs and the libpq
    passfile, for a catalog at db_address:db_port."""
    etc = layout.etc
    etc.mkdir(parents=True, exist_ok=True)
    uid, gid = ids("root", "bacula")
    os.chown(etc, uid, gid)
    os.chmod(etc, 0o750)
    sec = {"db": secrets.token_hex(12), "console": secrets.token_hex(12),
           "fd": secrets.token_hex(12), "sd": secrets.token_hex(12)}
    sec.update({key: secrets.token_hex(12) for key in more_secrets})
    (etc / "secrets.json").write_text(json.dumps(sec))
    os.chmod(etc / "secrets.json", 0o600)
    settings = dirconf.LabDirectorConf(working_dir=working_dir, db_address=db_address, db_port=db_port,
                                        db_password=sec["db"], console_password=sec["console"],
                                        backup=backups.backup_set(layout, sec), extra=backups.big_job(layout))
    files = {
        "bacula-dir.conf": dirconf.director_conf(settings),
        "bconsole.conf": dirconf.console_conf(VIP, sec["console"]),            # clients, via the VIP
        "bconsole-local.conf": dirconf.console_conf("127.0.0.1", sec["console"]),  # the agent's checks
    }
    for name, text in files.items():
        (etc / name).write_text(text)
        os.chown(etc / name, uid, gid)
        os.chmod(etc / name, 0o640)
    pgpass = etc / "pgpass"
    pgpass.write_text(f"*:{db_port}:bacula:bacula:{sec['db']}\n")
    os.chmod(pgpass, 0o600)
    return sec


def catalog_script(datadir: str, sockdir: str, db_password: str) -> str:
    """Shell: initdb, configure, create the Bacula catalog and the lab's marks table."""
    q = shlex.quote
    pg = f"runuser -u postgres -- {PGBIN}"
    return f"""set -e
install -d -o postgres -g postgres -m 700 {q(datadir)}
install -d -o postgres -g postgres -m 755 {q(sockdir)}
{pg}/initdb -D {q(datadir)} -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> {q(datadir)}/postgresql.conf <<'CONF'
{PG_CONF}
CONF
cat > {q(datadir)}/pg_hba.conf <<'HBA'
{PG_HBA}
HBA
{pg}/pg_ctl -D {q(datadir)} -s -w -t 60 -l {q(sockdir)}/setup.log \\
   -o "-c listen_addresses='' -c unix_socket_directories={q(sockdir)}" start
export PGHOST={q(sockdir)} PGPORT=5432 PGUSER=postgres
db_name=bacula {BACULA_SCRIPTS}/create_postgresql_database >/dev/null
db_name=bacula {BACULA_SCRIPTS}/make_postgresql_tables >/dev/null
db_name=bacula db_user=bacula db_password="$LAB_DB_PASSWORD" {BACULA_SCRIPTS}/grant_postgresql_privileges >/dev/null
{PGBIN}/psql -q -X -v ON_ERROR_STOP=1 -d bacula <<'SQL'
CREATE TABLE lab_marks (id serial PRIMARY KEY, label text NOT NULL UNIQUE, at timestamptz DEFAULT now());
GRANT ALL ON lab_marks TO bacula;
GRANT ALL ON SEQUENCE lab_marks_id_seq TO bacula;
SQL
{pg}/pg_ctl -D {q(datadir)} -s -w -t 60 -m fast stop
"""


class Stack:
    arch = "?"
    director_rsc = "p_director"
    vip_rsc = "p_vip"
    group = "g_bacula"

    def __init__(self, layout: Layout, nodes: List[str], agents: str):
        self.layout = layout
        self.nodes = nodes
        self.agents = agents

    hosts: List[str] = []

    def prepare(self) -> None:
        raise NotImplementedError

    def crm(self) -> str:
        raise NotImplementedError

    def catalog_host(self) -> str:
        """Where lab clients reach the catalog."""
        raise NotImplementedError

    def node_services(self, node: str) -> List[dict]:
        """Services a cluster node of this architecture runs besides corosync and pacemaker
        (what systemd would start there), in node.write_node_spec's format."""
        return []

    def catalog_ready(self, timeout: float) -> None:
        """Wait until the catalog's own high availability is complete again (after `up`, after
        a fault): nothing to wait for where Pacemaker manages the catalog."""

    # -- shared pieces of the resource configuration --
    def director_primitives(self, conf: str, console_conf: str, catalog: str) -> str:
        etc = self.layout.etc
        if self.agents == "ours":
            return (f"primitive p_catalog_check ocf:bacula:bacula-catalog-check params {catalog} "
                    f"passfile={etc / 'pgpass'} write_check=true connect_timeout=3 "
                    "op start timeout=20s op stop timeout=20s op monitor interval=10s timeout=30s\n"
                    f"primitive p_director ocf:bacula:bacula-director params config={conf} "
                    f"console_config={console_conf} address=127.0.0.1 "
                    "op start timeout=60s op stop timeout=60s "
                    "op monitor interval=5s timeout=30s "
                    "op monitor interval=15s timeout=30s OCF_CHECK_LEVEL=10\n")
        options = f"-f -c {conf} -u bacula -g bacula"
        return ("primitive p_catalog_check ocf:heartbeat:Dummy op monitor interval=10s\n"
                f"primitive p_director ocf:heartbeat:anything params binfile=/usr/sbin/bacula-dir "
                f"cmdline_options=\"{options}\" pidfile=/run/bacula/anything-dir.pid "
                "op start timeout=60s op stop timeout=60s op monitor interval=5s timeout=30s\n")

    @staticmethod
    def vip_primitive() -> str:
        return (f"primitive p_vip ocf:heartbeat:IPaddr2 params ip={VIP} cidr_netmask=24 nic=eth0 "
                "op monitor interval=5s timeout=20s\n")


class DrbdStack(Stack):
    arch = "drbd"
    hosts: List[str] = []

    def prepare(self) -> None:
        layout = self.layout
        mnt = layout.mountpoint
        mnt.mkdir(parents=True, exist_ok=True)
        sec = write_common(layout, "127.0.0.1", str(mnt / "bacula"))
        Registry(layout).add("loop", str(layout.disk_image))
        run(["truncate", "-s", f"{DISK_MB}M", str(layout.disk_image)])
        run(["mkfs.ext4", "-q", "-F", "-L", "bhlab", str(layout.disk_image)], timeout=120)
        device = run(["losetup", "-f", "--show", str(layout.disk_image)]).stdout.strip()
        self.write_device(device)
        # umount is retried: right after `pg_ctl stop -w` the exiting postmaster may still hold it
        unmount = (f"cleanup() {{ i=0; until umount {shlex.quote(str(mnt))}; do i=$((i+1)); "
                   "[ $i -lt 50 ] || exit 1; sleep 0.2; done; }\n")
        script = (f"set -e\nmount {shlex.quote(device)} {shlex.quote(str(mnt))}\n"
                  + unmount + "trap cleanup EXIT\n"
                  + catalog_script(str(mnt / "pgdata"), str(mnt / "setup-sock"), sec["db"])
                  + f"rm -rf {shlex.quote(str(mnt / 'setup-sock'))}\n"
                  + f"install -d -o bacula -g bacula -m 750 {shlex.quote(str(mnt / 'bacula'))}\n"
                  # the snippet's layout: the Director's configuration on the replicated disk
                  + f"install -d -o root -g bacula -m 750 {shlex.quote(str(mnt / 'etc'))}\n"
                  + f"install -o root -g bacula -m 640 {shlex.quote(str(layout.etc / 'bacula-dir.conf'))} "
                    f"{shlex.quote(str(mnt / 'etc' / 'bacula-dir.conf'))}\n")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAB_DB_PASSWORD": sec["db"], "HOME": "/root"}
        # A private mount namespace: the root namespace never sees the mount.
        run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], timeout=180, env=env)

    def write_device(self, device: str) -> None:
        (self.layout.workdir / "device").write_text(device)

    @property
    def device(self) -> str:
        return (self.layout.workdir / "device").read_text().strip()

    def catalog_host(self) -> str:
        return VIP

    def crm(self) -> str:
        if self.agents == "ours":   # the shipped snippet, rendered with lab values (lab/rendered.py)
            from .rendered import drbd_site, lab_crm
            return lab_crm("drbd", drbd_site(self.layout, self.nodes, self.device))
        layout = self.layout
        mnt = layout.mountpoint
        n = len(self.nodes)
        return (
            "primitive p_drbd ocf:pacemaker:Stateful "
            "op monitor interval=5s role=Promoted timeout=20s op monitor interval=6s role=Unpromoted timeout=20s\n"
            f"clone ms_drbd p_drbd meta promotable=true promoted-max=1 promoted-node-max=1 clone-max={n} "
            "notify=true\n"
            f"primitive p_fs ocf:heartbeat:Filesystem params device={self.device} directory={mnt} "
            "fstype=ext4 op monitor interval=10s timeout=40s op start timeout=60s op stop timeout=60s\n"
            f"primitive p_pgsql ocf:heartbeat:pgsql params pgctl={PGBIN}/pg_ctl psql={PGBIN}/psql "
            f"pgdata={mnt / 'pgdata'} socketdir=/run/postgresql logfile=/var/log/postgresql/pgsql.log "
            "op monitor interval=3s timeout=30s op start timeout=60s op stop timeout=60s\n"
            + self.director_primitives(str(layout.etc / "bacula-dir.conf"),
                                       str(layout.etc / "bconsole-local.conf"),
                                       "host=127.0.0.1 port=5432 mode=local")
            + self.vip_primitive()
            + "group g_bacula p_fs p_pgsql p_catalog_check p_director p_vip\n"
            "colocation col_bacula_on_drbd_primary inf: g_bacula ms_drbd:Promoted\n"
            "order o_drbd_promote_before_bacula Mandatory: ms_drbd:promote g_bacula:start\n")
