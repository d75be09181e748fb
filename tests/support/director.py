# SPDX-License-Identifier: GPL-2.0-or-later
"""A real, private Bacula Director for tests and benchmarks.

    pg = PgCluster().init().start()
    lab = DirectorLab(tmpdir, pg, port=free_port())   # writes configs, makes the catalog
    lab.params()          # OCF parameters for agents/bacula-director
    lab.start_direct()    # or let the agent start it
    ...
    lab.cleanup()         # kills every bacula-dir started with lab.config (idempotent)

Layout under `<tmpdir>/dir` (when every ancestor of tmpdir is searchable by the bacula
user; otherwise, e.g. pytest's 0700 tmp_path, under a private /tmp/bha-dir-* that
cleanup() removes):
`etc/bacula-dir.conf` (lab/dirconf.py's Director, Messages, Job/Client/Storage/Pool set),
`etc/catalog.conf` (the Catalog resource, pulled in with `@`), `etc/bconsole.conf`
(default console, Director password), `etc/bconsole-mon.conf` (restricted console
`mon`, CommandACL status/.status/version), `work/` (WorkingDirectory) and `run/`
(PidDirectory) owned by bacula, `log/bacula.log` (the `append` target).

The API (DirectorLab, its attributes `config`, `console_config`, `mon_console_config`,
`pidfile`, `port`, `address`, `name`, `workdir`, `logfile`, `console_password`,
`mon_password`, `db_password`, methods `params()`,
`write_config()`, `break_config()`, `pid()`, `director_pids()`, `start_direct()`,
`cleanup()`) is used by lab/ and bench/: keep it stable.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import signal
import shutil
import subprocess
import tempfile
import time
from typing import Dict, List, Optional

from bacula_ha.lab import dirconf
from bacula_ha.lab.dirconf import BackupSet

from .net import free_port
from .procs import proc_files

BACULA_DIR = "/usr/sbin/bacula-dir"
RUN_USER = "bacula"
RUN_GROUP = "bacula"


def _ids():
    return pwd.getpwnam(RUN_USER).pw_uid, grp.getgrnam(RUN_GROUP).gr_gid


def _traversable(path: str) -> bool:
    """True when every ancestor of `path` lets others search it."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _write(path: str, text: str, mode: int = 0o640, bacula_group: bool = True) -> None:
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    if bacula_group:
        os.chown(path, 0, _ids()[1])


class DirectorLab:
    """Configuration, catalog and directories for one bacula-dir on `port`.

    Like the production guide says, DirAddress is unset unless `listen` is given: the
    Director listens on all addresses (the agents refuse a loopback-only Director, which
    clients could not reach through a floating IP); the tests talk to it on `address`."""

    def __init__(self, tmpdir: str, pg, port: Optional[int] = None, name: Optional[str] = None,
                 make_catalog: bool = True, catalog_port: Optional[int] = None,
                 address: str = "127.0.0.1", catalog_host: str = "127.0.0.1",
                 db_password: Optional[str] = None, listen: Optional[str] = None,
                 backup: Optional[BackupSet] = None) -> None:
        """`address`: where consoles connect; `listen`: DirAddress (None: unset); `catalog_host`: the Catalog's
        DB Address (e.g. a VIP in a namespace lab); `make_catalog=False` (with the catalog's
        `db_password`) when `pg` already holds the catalog; `pg` may be None; `backup`: the
        Client/Storage/FileSet/jobs (tests/support/fdsd.py makes real daemons for it), else a
        placeholder File/Storage daemon nobody runs (port 9: a job would fail, -t passes)."""
        self.owns_base = not _traversable(str(tmpdir))
        # bacula-dir drops to the bacula user: every ancestor must be searchable by it
        # (pytest's tmp_path is under a 0700 directory, so fall back to a private /tmp dir).
        self.base = tempfile.mkdtemp(prefix="bha-dir-") if self.owns_base else os.path.join(str(tmpdir), "dir")
        self.pg = pg
        self.port = port or free_port()
        self.name = name or f"t{self.port}-dir"
        self.address = address
        self.listen = listen
        self.catalog_host = catalog_host
        self.console_password = "cons-" + secrets.token_hex(12)
        self.mon_password = "mon-" + secrets.token_hex(12)
        self.db_password = db_password or "db-" + secrets.token_hex(12)
        self.etc = os.path.join(self.base, "etc")
        self.workdir = os.path.join(self.base, "work")
        self.rundir = os.path.join(self.base, "run")
        self.logdir = os.path.join(self.base, "log")
        self.config = os.path.join(self.etc, "bacula-dir.conf")
        self.catalog_config = os.path.join(self.etc, "catalog.conf")
        self.console_config = os.path.join(self.etc, "bconsole.conf")
        self.mon_console_config = os.path.join(self.etc, "bconsole-mon.conf")
        self.logfile = os.path.join(self.logdir, "bacula.log")
        self.pidfile = os.path.join(self.rundir, f"bacula-dir.{self.port}.pid")
        self.backup = backup or BackupSet(
            client=f"{self.name}-fd", fd_address="127.0.0.1", fd_port=9, fd_password="fd-not-used",
            sd_address="127.0.0.1", sd_port=9, sd_password="sd-not-used",
            restore_where=os.path.join(self.workdir, "restores"), files=("/usr/sbin",),
            backup_job="Backup1", restore_job="Restore1", fileset="Full Set", level="Incremental")
        self.catalog_port = catalog_port or (pg.port if pg is not None else free_port())
        self._make_dirs()
        if make_catalog and pg is not None:
            pg.make_bacula_catalog(self.db_password)

        self.write_config()

    # -- files -----------------------------------------------------------
    def _make_dirs(self) -> None:
        uid, gid = _ids()
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        os.makedirs(self.etc, exist_ok=True)
        os.chmod(self.etc, 0o750)
        os.chown(self.etc, 0, gid)
        for path in (self.workdir, self.rundir, self.logdir):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o750)
            os.chown(path, uid, gid)
        # Pre-create the log as bacula: a Director run as root that fails early would
        # create it root-owned, and the real daemon could then not write it.
        with open(self.logfile, "a"):
            pass
        os.chown(self.logfile, uid, gid)

    def director_text(self, extra: str = "") -> str:
        """bacula-dir.conf; `extra` is appended verbatim (to add or break resources)."""
        return dirconf.director_conf(dirconf.LabDirectorConf(
            working_dir=self.workdir, db_address=self.catalog_host, db_password=self.db_password,
            console_password=self.console_password, pid_dir=self.rundir, backup=self.backup, extra=extra,
            name=self.name, port=self.port, listen=self.listen or "", catalog_file=self.catalog_config,
            log_file=self.logfile, consoles=(self._mon_console(),)))

    def _mon_console(self) -> dirconf.NamedConsole:
        return dirconf.NamedConsole("mon", self.mon_password)

    def write_config(self, extra: str = "", catalog_port: Optional[int] = None) -> None:
        """(Re)write every config file; `catalog_port` points the Catalog elsewhere."""
        if catalog_port:
            self.catalog_port = catalog_port
        _write(self.config, self.director_text(extra))
        _write(self.catalog_config, dirconf.catalog_resource(self.catalog_host, self.catalog_port, self.db_password))
        _write(self.console_config, dirconf.console_conf(self.address, self.console_password, self.name, self.port),
               mode=0o600, bacula_group=False)
        _write(self.mon_console_config, dirconf.console_conf(self.address, "", self.name, self.port,
                                                             console=self._mon_console()),
               mode=0o600, bacula_group=False)

    def break_config(self) -> str:
        """Write a config bacula-dir rejects (misspelled directive); returns the bad keyword."""
        text = self.director_text().replace("Maximum Concurrent Jobs = 5", "Maximum Concurent Jobs = 5", 1)
        _write(self.config, text)
        return "MaximumConcurentJobs"

    # -- agent -----------------------------------------------------------
    def params(self, **overrides) -> Dict[str, str]:
        """OCF parameters for agents/bacula-director managing this Director."""
        params = {"config": self.config, "console_config": self.console_config,
                  "user": RUN_USER, "group": RUN_GROUP}
        params.update({k: str(v) for k, v in overrides.items()})
        return params

    # -- processes -------------------------------------------------------
    def director_pids(self) -> List[int]:
        """Every live (non-zombie) bacula-dir whose command line names our config."""
        pids = []
        for pid, cmdline in proc_files("cmdline"):
            argv = cmdline.split(b"\0")
            if os.path.basename(argv[0]) != b"bacula-dir" or self.config.encode() not in argv:
                continue
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state not in ("Z", "X"):
                pids.append(pid)
        return pids

    def pid(self) -> Optional[int]:
        pids = self.director_pids()
        return pids[0] if pids else None

    def start_direct(self, timeout: float = 30) -> int:
        """Start bacula-dir without the agent (daemon mode) and wait for its port; returns its pid."""
        subprocess.run([BACULA_DIR, "-c", self.config, "-u", RUN_USER, "-g", RUN_GROUP],
                       check=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from .net import wait_port
        if not wait_port(self.port, self.address, timeout=timeout):
            raise RuntimeError(f"bacula-dir did not listen on {self.port}")
        pid = self.pid()
        if pid is None:
            raise RuntimeError("bacula-dir is not running")
        return pid

    def cleanup(self, timeout: float = 10) -> None:
        """Kill every bacula-dir using this config (continuing stopped ones first)."""
        for pid in self.director_pids():
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + timeout
        while self.director_pids() and time.monotonic() < end:
            time.sleep(0.05)
        if self.owns_base:
            shutil.rmtree(self.base, ignore_errors=True)
