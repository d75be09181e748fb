# SPDX-License-Identifier: GPL-2.0-or-later
"""Bring a former PostgreSQL primary back as a standby (streaming architecture).

PAF (ocf:heartbeat:pgsqlms) starts every instance as a standby but never
rewinds one: a node that was primary when it crashed may hold WAL the new
primary never saw, and then it cannot follow the new timeline. This does the
one step PAF leaves to the administrator, on the returning node, with its
PostgreSQL stopped:

1. `pg_rewind` against the current primary (needs wal_log_hints or checksums);
2. if that is impossible and the caller allows it, the old data directory is
   renamed (kept, never deleted) and `pg_basebackup` copies a fresh one.

After a rewind the data directory is started once as a private standby (no TCP,
its socket in a temporary directory) and stopped cleanly: pg_rewind leaves the
control data "in archive recovery", which PAF's probe reads as a standby that
crashed, so it would refuse to start it and the node would be fenced again.
"shut down in recovery" is what PAF starts as a standby.

Every external command is bounded by one deadline; the replication password
comes from a libpq password file, never from a command line.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from typing import List, Optional


class RejoinError(Exception):
    """A step failed; `kind` says which (tests and callers decide on it, not on the text)."""

    RUNNING = "running"            # the local PostgreSQL still runs
    NOT_PRIMARY = "not-primary"    # the source is unreachable or is not a primary
    REWIND = "rewind"              # pg_rewind failed and no fallback was allowed
    BASEBACKUP = "basebackup"      # the fallback copy failed (old data kept aside)
    SETUP = "setup"                # this node lacks something (binaries, user, data directory)

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Source:
    """The current primary, as libpq parameters (no password: passfile)."""
    host: str
    port: int = 5432
    user: str = "replicator"
    passfile: str = ""

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname} connect_timeout=10"


@dataclass
class Result:
    method: str                    # "rewind", "basebackup" or "none" (nothing diverged)
    kept: Optional[str] = None     # where the old data directory went (basebackup)
    log: str = ""


class Rejoin:
    def __init__(self, datadir: str, source: Source, bindir: str, system_user: str = "postgres",
                 timeout: float = 3600.0, config_file: str = ""):
        self.datadir = datadir.rstrip("/")
        self.config_file = config_file   # Debian keeps postgresql.conf outside the data directory
        self.source = source
        self.bindir = bindir
        self.user = system_user
        self.deadline = time.monotonic() + timeout

    # -- helpers ---------------------------------------------------------------
    def _run(self, argv: List[str]) -> subprocess.CompletedProcess:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RejoinError(RejoinError.SETUP, f"out of time before {os.path.basename(argv[0])}")
        try:
            entry = pwd.getpwnam(self.user)
        except KeyError:
            raise RejoinError(RejoinError.SETUP, f"system user {self.user!r} does not exist") from None
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": entry.pw_dir, "PGCONNECT_TIMEOUT": "10"}
        if self.source.passfile:
            env["PGPASSFILE"] = self.source.passfile
        try:
            return subprocess.run(argv, user=entry.pw_uid, group=entry.pw_gid, env=env, capture_output=True,
                                  text=True, timeout=remaining, cwd="/", stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RejoinError(RejoinError.SETUP, f"{os.path.basename(argv[0])} did not finish in time") from None
        except FileNotFoundError:
            raise RejoinError(RejoinError.SETUP, f"{argv[0]} is not installed") from None

    def _running(self) -> Optional[int]:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid"), encoding="ascii") as handle:
                pid = int(handle.readline())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    # -- steps -----------------------------------------------------------------
    def check(self) -> None:
        if not os.path.isfile(os.path.join(self.datadir, "PG_VERSION")):
            raise RejoinError(RejoinError.SETUP, f"{self.datadir} is not a PostgreSQL data directory")
        pid = self._running()
        if pid:
            raise RejoinError(RejoinError.RUNNING, f"PostgreSQL still runs here (pid {pid}): stop it first "
                                                   "(crm node standby, or ban ms_pgsql from this node)")
        result = self._run([f"{self.bindir}/psql", "-XAtqw", "-d", self.source.conninfo(),
                            "-c", "SELECT pg_is_in_recovery()"])
        if result.returncode != 0:
            raise RejoinError(RejoinError.NOT_PRIMARY, f"cannot reach the primary {self.source.host}:"
                                                       f"{self.source.port}: {_last_line(result.stderr)}")
        if result.stdout.strip() != "f":
            raise RejoinError(RejoinError.NOT_PRIMARY, f"{self.source.host}:{self.source.port} is a standby, "
                                                       "not the primary")

    def rewind(self) -> subprocess.CompletedProcess:
        argv = [f"{self.bindir}/pg_rewind", f"--target-pgdata={self.datadir}",
                f"--source-server={self.source.conninfo()}", "--progress"]
        if self.config_file:   # pg_rewind may first run crash recovery, which needs the configuration
            argv.append(f"--config-file={self.config_file}")
        return self._run(argv)

    def cluster_state(self) -> str:
        """'Database cluster state' of pg_controldata ("shut down in recovery", "in production", ...)."""
        result = self._run([f"{self.bindir}/pg_controldata", "-D", self.datadir])
        for line in result.stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Database cluster state":
                return value.strip()
        raise RejoinError(RejoinError.SETUP, f"pg_controldata gave no cluster state: {_last_line(result.stderr)}")

    def shut_down_as_standby(self, wait_s: float = 120.0) -> None:
        """Start the rewound directory as a private standby and stop it cleanly (module docstring)."""
        import shutil
        import tempfile
        entry = pwd.getpwnam(self.user)
        private = tempfile.mkdtemp(prefix="bacula-ha-rejoin-")
        os.chown(private, entry.pw_uid, entry.pw_gid)
        signal = os.path.join(self.datadir, "standby.signal")
        had_signal = os.path.exists(signal)
        with open(signal, "a"):
            pass
        os.chown(signal, entry.pw_uid, entry.pw_gid)
        options = (f"-c listen_addresses= -c unix_socket_directories={private} -c hot_standby=on "
                   "-c external_pid_file= -c archive_mode=off")
        if self.config_file:
            options = f"-c config_file={self.config_file} " + options
        pg_ctl = f"{self.bindir}/pg_ctl"
        wait = max(5, int(min(wait_s, self.deadline - time.monotonic() - 30)))
        try:
            # -w returns once the standby accepts connections (consistent), or gives up after `wait`:
            # the fast stop below writes "shut down in recovery" either way; PAF streams the rest
            self._run([pg_ctl, "start", "-D", self.datadir, "-w", "-t", str(wait), "-o", options,
                       "-l", os.path.join(private, "postgresql.log")])
        finally:
            self._run([pg_ctl, "stop", "-D", self.datadir, "-m", "fast", "-w", "-t", "60"])
            if not had_signal:
                _unlink(signal)          # PAF writes its own at start
            shutil.rmtree(private, ignore_errors=True)
        state = self.cluster_state()
        if state != "shut down in recovery":
            raise RejoinError(RejoinError.SETUP, f"the rewound data directory is {state!r}, not 'shut down in "
                                                 "recovery': PAF would refuse it; see pg_controldata")

    def basebackup(self) -> str:
        """Keep the old directory aside, copy a fresh one; returns where the old one went."""
        kept = f"{self.datadir}.before-rejoin-{time.strftime('%Y%m%d%H%M%S')}"
        st = os.stat(self.datadir)
        os.rename(self.datadir, kept)
        os.mkdir(self.datadir, 0o700)
        os.chown(self.datadir, st.st_uid, st.st_gid)
        result = self._run([f"{self.bindir}/pg_basebackup", "-d", self.source.conninfo(), "-D", self.datadir,
                            "-X", "stream", "-c", "fast", "-w"])
        if result.returncode != 0:
            raise RejoinError(RejoinError.BASEBACKUP, f"pg_basebackup failed: {_last_line(result.stderr)}; "
                                                      f"the old data directory is kept in {kept}")
        for name in ("standby.signal", "recovery.signal"):   # PAF writes its own at start
            _unlink(os.path.join(self.datadir, name))
        return kept

    def run(self, allow_basebackup: bool = False) -> Result:
        self.check()
        result = self.rewind()
        log = result.stdout + result.stderr
        if result.returncode == 0:
            method = "none" if "no rewind required" in log else "rewind"
            if method == "rewind":
                self.shut_down_as_standby()
            return Result(method, log=log)
        if not allow_basebackup:
            raise RejoinError(RejoinError.REWIND, f"pg_rewind failed: {_last_line(result.stderr)} "
                                                  "(--basebackup copies the whole catalog instead)")
        kept = self.basebackup()
        return Result("basebackup", kept=kept, log=log)


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "no message"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
