# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's client host and its backups: a real File and Storage daemon, real data, restores
compared byte for byte, the rerun of a backup a crash interrupted.

The host "client" (198.51.100.22, every architecture) runs bacula-fd and bacula-sd (Debian
packages) as root; the Director reaches them there from whichever node runs it, and they
never talk to the Director on their own. Its files live under <workdir>/client: `data/`
(copies of real files: the FileSet "Lab Set", backed up by LabBackup), `big/` (one large
file: LabBigBackup, slowed by the File daemon's Maximum Bandwidth Per Job so that it is
still running when a node crashes), `archive/` (the volumes), `restores/`.

Everything is driven like a user would: console commands through the VIP from the switch
namespace, catalog reads through the catalog's service address.  `Backups` takes the console
and the catalog as two functions, so the VM lab (lab/vm/client.py: the same daemons on the
host's loopback, bconsole and psql inside the Director's VM) drives its backups and restores
with the same code.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from . import dirconf
from .layout import Layout, node_ip
from .netns import connect_in
from .node import write_host_spec
from .observe import console_request, psql
from .sh import LabError

CLIENT = "client"
BACKUP_JOB = "LabBackup"
BIG_JOB = "LabBigBackup"
RESTORE_JOB = "LabRestore"
BANDWIDTH = "2 mb/s"
BIG_BYTES = 64_000_000      # ~32 s at 2 MB/s: still sending when the survivor cancels it (see docs/lab.md)
REAL_DATA = ("/usr/share/common-licenses", "/etc/bacula/scripts")
RERUN_COMMENT = "bacula-ha: rerun of interrupted JobId {}"   # what the agent writes (agents/director/jobs.py)


def base(layout: Layout) -> Path:
    return layout.workdir / "client"


def backup_set(layout: Layout, sec: Dict[str, str], address: str = "", fd_port: int = dirconf.FD_PORT,
               sd_port: int = dirconf.SD_PORT, fd_storage_address: str = "") -> dirconf.BackupSet:
    """The Director's side of the client host (`address`: where the Director reaches it)."""
    b = base(layout)
    return dirconf.lab_backup_set(address or node_ip(CLIENT), sec["fd"], sec["sd"], files=(str(b / "data"),),
                                  restore_where=str(b / "restores"), fd_port=fd_port, sd_port=sd_port,
                                  fd_storage_address=fd_storage_address)


def big_job(layout: Layout) -> str:
    """A second FileSet and Backup job: the long, bandwidth-limited backup."""
    return f"""
FileSet {{
  Name = "Lab Big Set"
  Include {{
    Options {{
      signature = MD5
    }}
    File = "{base(layout) / 'big'}"
  }}
}}

Job {{
  Name = "{BIG_JOB}"
  Type = Backup
  Level = Full
  Client = lab-fd
  FileSet = "Lab Big Set"
  Storage = File1
  Pool = File
  Messages = Standard
  Priority = 10
}}
"""


def make_data(layout: Layout, big: bool = True) -> Path:
    """The client's directories and the data its jobs back up (`big`: LabBigBackup's file too)."""
    b = base(layout)
    for sub in ("data", "big", "archive", "restores", "fd-work", "sd-work", "etc"):
        (b / sub).mkdir(parents=True, exist_ok=True)
    for source in REAL_DATA:
        if os.path.isdir(source):
            shutil.copytree(source, b / "data" / os.path.basename(source), dirs_exist_ok=True)
    with open(b / "data" / "random.bin", "wb") as fh:
        fh.write(os.urandom(1 << 20))
    if big:
        with open(b / "big" / "big.bin", "wb") as fh:
            left = BIG_BYTES
            while left > 0:
                chunk = os.urandom(min(left, 4 << 20))
                fh.write(chunk)
                left -= len(chunk)
    return b


def write_daemon_confs(layout: Layout, sec: Dict[str, str], pid_dir: str, address: str = "0.0.0.0",
                       fd_port: int = dirconf.FD_PORT, sd_port: int = dirconf.SD_PORT,
                       bandwidth: str = "") -> List[List[str]]:
    """bacula-fd.conf and bacula-sd.conf (0600: they hold the passwords) under <client>/etc;
    the two daemons' argv (foreground, as root)."""
    b = base(layout)
    fd = dirconf.FileDaemonConf(name="lab-fd", director=dirconf.DIRECTOR_NAME, password=sec["fd"],
                                working_dir=str(b / "fd-work"), pid_dir=pid_dir, address=address, port=fd_port,
                                bandwidth=bandwidth)
    sd = dirconf.StorageDaemonConf(name="lab-sd", director=dirconf.DIRECTOR_NAME, password=sec["sd"],
                                   working_dir=str(b / "sd-work"), pid_dir=pid_dir,
                                   archive_dir=str(b / "archive"), address=address, port=sd_port)
    argv = []
    for name, text in (("bacula-fd.conf", dirconf.fd_conf(fd)), ("bacula-sd.conf", dirconf.sd_conf(sd))):
        path = b / "etc" / name
        fd_ = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd_, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        argv.append([f"/usr/sbin/{name[:-5]}", "-f", "-c", str(path)])
    return argv


def prepare(layout: Layout, sec: Dict[str, str]) -> None:
    """Data, daemon configurations and the host's services (booted by the PDU like a node)."""
    make_data(layout)
    argv = write_daemon_confs(layout, sec, "/run/bacula", bandwidth=BANDWIDTH)
    log = str(layout.node_dir(CLIENT) / "console.log")
    write_host_spec(layout, CLIENT, [{"argv": a, "log": log} for a in argv],
                    dirs=[["/run/bacula", "root", "root", "0755"]])


def wait(layout: Layout, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for port in (dirconf.FD_PORT, dirconf.SD_PORT):
        while True:
            sock = connect_in(layout.switch_ns, node_ip(CLIENT), port, timeout=1)
            if sock:
                sock.close()
                break
            if time.monotonic() > deadline:
                raise LabError(f"lab client host: port {port} does not answer")
            time.sleep(0.2)


# -- using it ------------------------------------------------------------------------------
#: one console command (command, timeout) -> (answered, output); one catalog query -> (ok, output)
Console = Callable[[str, float], Tuple[bool, str]]
Sql = Callable[[str], Tuple[bool, str]]


class Backups:
    """Backups of one running lab, as a user sees them: `console` and `sql` reach its Director and
    catalog (the namespace lab: through the VIP and the catalog's address, see `for_namespaces`)."""

    def __init__(self, layout: Layout, console: Console, sql: Sql) -> None:
        self.layout = layout
        self._console = console
        self._sql = sql

    @classmethod
    def for_namespaces(cls, layout: Layout, console_password: str, catalog_host: str,
                       db_password: str) -> "Backups":
        return cls(layout, lambda command, timeout: console_request(layout, console_password, command,
                                                                    timeout=timeout),
                   lambda sql: psql(layout, catalog_host, db_password, sql))

    def console(self, command: str, timeout: float = 15.0) -> Tuple[bool, str]:
        return self._console(command, timeout)

    def run(self, job: str = BACKUP_JOB, timeout: float = 60.0) -> int:
        """Queue a backup; its JobId (the Director may need a moment after a failover)."""
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            ok, out = self.console(f"run job={job} yes")
            found = re.search(r"Job queued\. JobId=(\d+)", out) if ok else None
            if found:
                return int(found.group(1))
            time.sleep(1.0)
        raise LabError(f"backup {job} was not queued: {out}")

    def status(self, jobid: int) -> Optional[str]:
        ok, out = self._sql(f"SELECT JobStatus FROM Job WHERE JobId={int(jobid)}")
        return out.strip() or None if ok else None

    def wait(self, jobid: int, states: str = "TWEefA", timeout: float = 180.0) -> Optional[str]:
        """The job's status once it is one of `states` (None: not within timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(jobid)
            if status and status in states:
                return status
            time.sleep(0.5)
        return None

    def wait_idle(self, timeout: float = 240.0) -> bool:
        """Wait until the catalog shows no job that has not ended (a previous fault's rerun may
        still hold the Storage daemon's one device); False when still busy at the timeout."""
        from ..agents.director.jobs import RUNNING_STATES
        states = ",".join(f"'{s}'" for s in RUNNING_STATES)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, out = self._sql(f"SELECT count(*) FROM Job WHERE JobStatus IN ({states})")
            if ok and out.strip() == "0":
                return True
            time.sleep(1.0)
        return False

    def times(self, jobid: int) -> Optional[Tuple[Optional[float], Optional[float]]]:
        """(StartTime, EndTime) of a job as epoch seconds (the Director writes local time)."""
        ok, out = self._sql("SELECT coalesce(extract(epoch FROM StartTime::timestamptz)::text, ''), "
                            "coalesce(extract(epoch FROM EndTime::timestamptz)::text, '') "
                            f"FROM Job WHERE JobId={int(jobid)}")
        if not ok or "|" not in out:
            return None
        start, end = out.strip().split("|")
        return (float(start) if start else None), (float(end) if end else None)

    def reruns(self, jobid: int) -> List[int]:
        """JobIds the agent queued to rerun `jobid` (its comment names it)."""
        comment = RERUN_COMMENT.format(int(jobid))
        ok, out = self._sql(f"SELECT JobId FROM Job WHERE Comment = '{comment}' ORDER BY JobId")
        return [int(x) for x in out.split()] if ok else []

    def daemons_now(self) -> str:
        """What the Director, File and Storage daemon say they run (for a failure's note)."""
        parts = []
        for what in ("dir", "client=lab-fd", "storage=File1"):
            ok, out = self.console(f"status {what}")
            if ok and "Running Jobs:" in out:
                out = out.split("Running Jobs:", 1)[1].split("Terminated Jobs:", 1)[0]
            parts.append(f"status {what}: " + " ".join(out.split())[:400])
        return " | ".join(parts)

    def fd_running(self) -> Optional[List[int]]:
        """JobIds the File daemon runs now (None when the Director did not answer)."""
        ok, out = self.console("status client=lab-fd")
        if not ok or "Running Jobs:" not in out:
            return None
        running = out.split("Running Jobs:", 1)[1].split("====", 1)[0]
        return sorted({int(m) for m in re.findall(r"JobId (\d+)", running)})

    def restore_and_compare(self, jobid: int, timeout: float = 180.0) -> Tuple[bool, str]:
        """Restore backup `jobid` to a fresh directory and compare it with the data, byte for byte."""
        where = base(self.layout) / "restores" / f"job{int(jobid)}-{int(time.time())}"
        ok, out = self.console(f"restore jobid={int(jobid)} client=lab-fd where={where} all done yes",
                               timeout=60)
        found = re.search(r"Job queued\. JobId=(\d+)", out) if ok else None
        if not found:
            return False, f"restore of JobId {jobid} not queued: {' '.join(out.split())[:200]}"
        restore = int(found.group(1))
        status = self.wait(restore, timeout=timeout)
        if status != "T":
            return False, f"restore JobId {restore} ended {status!r}"
        data = base(self.layout) / "data"
        restored = Path(str(where) + str(data))
        differ = _compare(data, restored)
        if differ:
            return False, f"restore JobId {restore} differs: {differ}"
        count = sum(len(files) for _d, _s, files in os.walk(restored))
        return True, f"restore JobId {restore}: {count} files identical to the data backed up"


def _compare(left: Path, right: Path) -> Optional[str]:
    """None when both trees hold the same files with the same bytes, else the first difference."""
    if not right.is_dir():
        return f"{right} missing"
    for dirpath, _dirs, files in os.walk(left):
        for name in files:
            a = Path(dirpath) / name
            b = right / a.relative_to(left)
            if not b.is_file():
                return f"{b} missing"
            if not filecmp.cmp(a, b, shallow=False):
                return f"{b} has other bytes"
    return None
