# SPDX-License-Identifier: GPL-2.0-or-later
"""A real, private PostgreSQL cluster per test: initdb in a temp dir, own socket dir, free port.

Runs as the `postgres` system user (initdb refuses root). Everything it starts
it stops (`stop()` is idempotent and also used by fixtures' finalizers).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Optional

from .net import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""
CATALOG_SCRIPTS = "/usr/share/bacula-director"


def _postgres_ids():
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


class PgCluster:
    """One PostgreSQL server on 127.0.0.1:<port> and a private socket dir."""

    def __init__(self, base: Optional[str] = None, port: Optional[int] = None, name: str = "pg") -> None:
        self.owns_base = base is None
        self.base = base or tempfile.mkdtemp(prefix="bha-pg-")
        os.chmod(self.base, 0o755)
        self.datadir = os.path.join(self.base, name)
        self.sockdir = os.path.join(self.base, name + "-sock")
        self.logfile = os.path.join(self.base, name + ".log")
        self.port = port or free_port()
        self.running = False

    # -- lifecycle -----------------------------------------------------
    def _as_postgres(self, argv, check=True, timeout=120, **kw):
        uid, gid = _postgres_ids()
        return subprocess.run(argv, user=uid, group=gid, check=check, timeout=timeout,
                              capture_output=True, text=True, cwd=self.base, **kw)

    def init(self, extra_conf: str = "") -> "PgCluster":
        uid, gid = _postgres_ids()
        os.makedirs(self.sockdir, exist_ok=True)
        os.chown(self.sockdir, uid, gid)
        os.chown(self.base, uid, gid)
        self._as_postgres([f"{PG_BIN}/initdb", "-D", self.datadir, "-U", "postgres", "-A", "trust",
                           "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        self.configure(extra_conf)
        return self

    def configure(self, extra_conf: str = "") -> None:
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as fh:
            fh.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                     f"unix_socket_directories = '{self.sockdir}'\nfsync = off\n"
                     f"shared_buffers = 32MB\nmax_connections = 30\nwal_level = replica\n"
                     f"max_wal_senders = 4\n{extra_conf}\n")
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba) as fh:
            rules = fh.read()
        with open(hba, "w") as fh:  # first match wins: replication for the test superuser goes first
            fh.write("host replication postgres 127.0.0.1/32 trust\n" + rules)

    def start(self) -> "PgCluster":
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60", "start"])
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs (continues a SIGSTOPped one first)."""
        pid = self.postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pid = None
        if pid:
            self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "30", "stop"],
                              check=False)
        self.running = False

    def destroy(self) -> None:
        self.stop("immediate")
        if self.owns_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def postmaster_pid(self) -> Optional[int]:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as fh:
                pid = int(fh.readline().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def signal(self, signum: int) -> None:
        pid = self.postmaster_pid()
        if pid:
            os.kill(pid, signum)

    # -- SQL -----------------------------------------------------------
    def psql(self, sql: str, db: str = "postgres", check: bool = True) -> str:
        result = self._as_postgres([f"{PG_BIN}/psql", "-h", self.sockdir, "-p", str(self.port), "-U", "postgres",
                                    "-d", db, "-w", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=False, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def make_bacula_catalog(self, password: str, db: str = "bacula", user: str = "bacula") -> None:
        """The catalog exactly as Debian's scripts make it (VersionId from the installed Director)."""
        env = {**os.environ, "PGHOST": self.sockdir, "PGPORT": str(self.port), "PGUSER": "postgres",
               "db_name": db, "db_user": user, "db_password": password}
        for script in ("create_postgresql_database", "make_postgresql_tables", "grant_postgresql_privileges"):
            self._as_postgres([os.path.join(CATALOG_SCRIPTS, script)], env=env)

    def make_standby(self, name: str = "standby") -> "PgCluster":
        """A streaming hot standby of this server (pg_basebackup -R), started."""
        standby = PgCluster(base=self.base, name=name)
        self._as_postgres([f"{PG_BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                           "-D", standby.datadir, "-R", "-X", "stream", "-c", "fast", "-w"], timeout=180)
        uid, gid = _postgres_ids()
        os.makedirs(standby.sockdir, exist_ok=True)
        os.chown(standby.sockdir, uid, gid)
        standby.configure("hot_standby = on\n")
        return standby.start()

    def promote(self) -> None:
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-w", "-t", "60", "promote"])

    def wait_ready(self, timeout: float = 30) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self._as_postgres([f"{PG_BIN}/pg_isready", "-h", self.sockdir, "-p", str(self.port)], check=False)
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False
