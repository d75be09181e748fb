# SPDX-License-Identifier: GPL-2.0-or-later
"""The streaming architecture in the lab: one PostgreSQL per node, PAF, synchronous replication.

Each node's data directory is its own: `<workdir>/local/pgdata` is a node-private
bind mount (node_dir(N)/local), so the snippet's single `datadir` value names a
different directory on every node, as on real servers. Preparation follows the
seeds' recipe: the first node's catalog is created, every other node gets a
`pg_basebackup` copy, started once as a standby and shut down cleanly (PAF
refuses an instance whose control data says it crashed). The standbys stream
from the replication address (p_vip_repl) over the lab network; commits are
synchronous (`ANY 1` of the other nodes), so the lab runs three nodes: with two,
the new primary after a failover would have no standby to confirm a commit.

The Director's configuration comes from the lab's Git host, as in the git
architecture (bacula-config-pull).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
from typing import List

from .gitstack import GIT_PORT, GitStack
from .layout import GIT_HOST_IP, SUBNET
from .sh import LabError, run
from .stacks import PGBIN, catalog_script, ids, write_common

REPL_VIP = f"{SUBNET}.101"
MIN_NODES = 3


def streaming_conf(nodes: List[str]) -> str:
    """The shipped streaming-postgresql.conf's settings, with lab sizes."""
    names = ", ".join(nodes)
    return f"""
# bacula-ha lab: crm-snippets/streaming-postgresql.conf
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
wal_keep_size = 256MB
synchronous_commit = on
synchronous_standby_names = 'ANY 1 ({names})'
recovery_target_timeline = 'latest'
include_if_exists = 'node.conf'
"""


class StreamingStack(GitStack):
    arch = "streaming"
    hosts = ["git"]

    def catalog_host(self) -> str:
        return REPL_VIP    # the primary, wherever it is, even while the Director is down

    def host_ports(self):
        return ((GIT_HOST_IP, GIT_PORT),)

    def node_services(self, node: str) -> List[dict]:
        return []     # no HAProxy: the catalog is Pacemaker's (PAF)

    def catalog_ready(self, timeout: float) -> None:
        return None

    def datadir(self, node: str) -> str:
        return str(self.layout.node_dir(node) / "local" / "pgdata")

    def prepare(self) -> None:
        if self.agents != "ours":
            raise LabError("the streaming architecture needs our agents: use --agents ours")
        if len(self.nodes) < MIN_NODES:
            raise LabError(f"the streaming architecture needs {MIN_NODES} nodes in the lab (--nodes 3): "
                           "with synchronous commits and two nodes, the new primary after a failover "
                           "has no standby to confirm a commit")
        layout = self.layout
        sec = write_common(layout, "127.0.0.1", str(layout.local / "work"))
        repl = secrets.token_hex(12)
        uid, gid = ids("bacula", "bacula")
        pg = pwd.getpwnam("postgres")
        for n in self.nodes:
            work = layout.node_dir(n) / "local" / "work"
            work.mkdir(parents=True, exist_ok=True)
            os.chown(work, uid, gid)
            os.chmod(work, 0o750)
            passfile = layout.node_dir(n) / "local" / "pgpass-repl"
            passfile.write_text(f"*:5432:*:replicator:{repl}\n")
            os.chown(passfile, pg.pw_uid, pg.pw_gid)
            os.chmod(passfile, 0o600)
        first, others = self.nodes[0], self.nodes[1:]
        q = shlex.quote
        sock = str(layout.workdir / "setup-sock")
        pgrun = f"runuser -u postgres -- {PGBIN}"
        script = catalog_script(self.datadir(first), sock, sec["db"])
        # a failure below must not leave a setup server running
        script += (f"trap '{pgrun}/pg_ctl -D {q(self.datadir(first))} -m immediate stop >/dev/null 2>&1 || true' "
                   "EXIT\n")
        script += f"""
cat >> {q(self.datadir(first))}/postgresql.conf <<'CONF'
{streaming_conf(self.nodes)}
CONF
cat >> {q(self.datadir(first))}/pg_hba.conf <<'HBA'
local replication postgres trust
host replication replicator 198.51.100.0/24 scram-sha-256
HBA
{pgrun}/pg_ctl -D {q(self.datadir(first))} -s -w -t 60 -l {q(sock)}/primary.log \\
   -o "-c listen_addresses='' -c unix_socket_directories={q(sock)} -c synchronous_standby_names=''" start
{PGBIN}/psql -h {q(sock)} -U postgres -q -X -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$LAB_REPL_PASSWORD';
SQL
"""
        for n in others:
            script += (f"install -d -o postgres -g postgres -m 700 {q(self.datadir(n))}\n"
                       f"{pgrun}/pg_basebackup -h {q(sock)} -U postgres -D {q(self.datadir(n))} "
                       "-X stream -c fast -w\n")
        script += f"{pgrun}/pg_ctl -D {q(self.datadir(first))} -s -w -t 60 -m fast stop\n"
        for n in self.nodes:
            conninfo = (f"host={REPL_VIP} port=5432 user=replicator application_name={n} "
                        f"passfile={layout.local / 'pgpass-repl'} connect_timeout=3")
            script += (f"printf '%s\\n' {q(f'primary_conninfo = {chr(39)}{conninfo}{chr(39)}')} "
                       f"> {q(self.datadir(n))}/node.conf\nchown postgres:postgres {q(self.datadir(n))}/node.conf\n")
        for n in others:
            # once as a standby, shut down cleanly: "shut down in recovery", what PAF expects
            script += f"""runuser -u postgres -- touch {q(self.datadir(n))}/standby.signal
{pgrun}/pg_ctl -D {q(self.datadir(n))} -s -w -t 120 -l {q(sock)}/{n}.log \\
   -o "-c listen_addresses='' -c unix_socket_directories={q(sock)} -c port=5433" start
{pgrun}/pg_ctl -D {q(self.datadir(n))} -s -w -t 60 -m fast stop
rm -f {q(self.datadir(n))}/standby.signal
"""
        script += f"rm -rf {q(sock)}\n"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAB_DB_PASSWORD": sec["db"], "LAB_REPL_PASSWORD": repl,
               "HOME": "/root"}
        run(["sh", "-c", script], timeout=300, env=env)
        self.prepare_git_host()

    def crm(self) -> str:
        from .rendered import lab_crm, streaming_site
        return lab_crm("streaming", streaming_site(self.layout, self.nodes, self.url, REPL_VIP))
