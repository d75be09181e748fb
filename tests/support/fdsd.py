# SPDX-License-Identifier: GPL-2.0-or-later
"""A real File daemon and Storage daemon on loopback, for tests that run backups.

    daemons = BackupDaemons(director_name, bandwidth="2 mb/s").start()
    lab = DirectorLab(tmp_path, pg, name=director_name, backup=daemons.backup_set())
    ...
    daemons.stop()

Both run as root in the foreground (`-f`) with configurations from
bacula_ha.lab.dirconf (the lab's generator), on free ports, under a private
/tmp/bha-fdsd-* that stop() removes. `data` holds the files the FileSet backs
up (make_data() writes them); `archive` the Storage daemon's volumes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from typing import List, Optional

from bacula_ha.lab.dirconf import (BackupSet, FileDaemonConf, StorageDaemonConf, fd_conf, sd_conf)

from .net import free_port, wait_port

BACULA_FD = "/usr/sbin/bacula-fd"
BACULA_SD = "/usr/sbin/bacula-sd"


class BackupDaemons:
    """bacula-fd and bacula-sd serving the Director named `director`."""

    def __init__(self, director: str, bandwidth: str = "", base: Optional[str] = None) -> None:
        self.director = director
        self.bandwidth = bandwidth
        self.base = base or tempfile.mkdtemp(prefix="bha-fdsd-")
        os.chmod(self.base, 0o755)
        self.fd_name = f"{director}-fd"
        self.sd_name = f"{director}-sd"
        self.fd_port = free_port()
        self.sd_port = free_port()
        self.fd_password = "fd-" + secrets.token_hex(10)
        self.sd_password = "sd-" + secrets.token_hex(10)
        self.data = os.path.join(self.base, "data")
        self.archive = os.path.join(self.base, "archive")
        self.restores = os.path.join(self.base, "restores")
        for sub in ("data", "archive", "restores", "fd-work", "sd-work", "run"):
            os.makedirs(os.path.join(self.base, sub), exist_ok=True)
        self.fd_config = os.path.join(self.base, "bacula-fd.conf")
        self.sd_config = os.path.join(self.base, "bacula-sd.conf")
        self.procs: List[subprocess.Popen] = []
        self.write_configs()

    def write_configs(self) -> None:
        fd = FileDaemonConf(name=self.fd_name, director=self.director, password=self.fd_password,
                            working_dir=os.path.join(self.base, "fd-work"),
                            pid_dir=os.path.join(self.base, "run"), address="127.0.0.1",
                            port=self.fd_port, bandwidth=self.bandwidth)
        sd = StorageDaemonConf(name=self.sd_name, director=self.director, password=self.sd_password,
                               working_dir=os.path.join(self.base, "sd-work"),
                               pid_dir=os.path.join(self.base, "run"), archive_dir=self.archive,
                               address="127.0.0.1", port=self.sd_port)
        for path, text in ((self.fd_config, fd_conf(fd)), (self.sd_config, sd_conf(sd))):
            with open(path, "w") as fh:
                fh.write(text)
            os.chmod(path, 0o600)

    def backup_set(self, **overrides) -> BackupSet:
        """The Director's side: Client/Storage at our ports, FileSet = our data directory."""
        values = dict(client=self.fd_name, fd_address="127.0.0.1", fd_port=self.fd_port,
                      fd_password=self.fd_password, sd_address="127.0.0.1", sd_port=self.sd_port,
                      sd_password=self.sd_password, restore_where=self.restores, files=(self.data,))
        values.update(overrides)
        return BackupSet(**values)

    def make_data(self, name: str, size: int, seed: Optional[bytes] = None) -> str:
        """A file of `size` incompressible bytes in the data directory; returns its path."""
        path = os.path.join(self.data, name)
        with open(path, "wb") as fh:
            left = size
            while left > 0:
                chunk = os.urandom(min(left, 1 << 20))
                fh.write(chunk)
                left -= len(chunk)
        return path

    def start(self, timeout: float = 20) -> "BackupDaemons":
        for binary, config, port in ((BACULA_FD, self.fd_config, self.fd_port),
                                     (BACULA_SD, self.sd_config, self.sd_port)):
            log = open(os.path.join(self.base, os.path.basename(binary) + ".out"), "ab")
            try:
                self.procs.append(subprocess.Popen([binary, "-f", "-c", config], stdin=subprocess.DEVNULL,
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
            finally:
                log.close()
            if not wait_port(port, timeout=timeout):
                self.stop()
                raise RuntimeError(f"{binary} did not listen on {port}")
        return self

    def stop(self, timeout: float = 10) -> None:
        """Kill both daemons (SIGKILL: a test's orphan jobs must not delay it) and remove the files."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        shutil.rmtree(self.base, ignore_errors=True)
