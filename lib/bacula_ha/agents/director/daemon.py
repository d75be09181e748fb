# SPDX-License-Identifier: GPL-2.0-or-later
"""Running bacula-dir: the bounded config test, the start, the signals.

Why the Director is started in the foreground (`-f`) and detached by us rather
than in its own daemon mode: in daemon mode the parent exits 0 even when the
child dies a few ms later (read-only catalog, port taken, "already running"),
and the child's reason goes nowhere. Started with `-f` in its own session, the
process we spawn *is* the Director: its pid is known, its exit status and its
stdout (redirected to a file under HA_RSCTMP) give the reason when it dies.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import List, Optional

from ...ocf.codes import Exit, OcfError
from ...ocf.command import CommandTimeout
from . import proc

_NOISE = (
    re.compile(r"ERROR TERMINATION"),
    re.compile(r"^Please correct configuration file"),
    re.compile(r"^Perhaps you left the trailing brace"),
    re.compile(r"Message delivery ERROR"),
    re.compile(r"^Possible causes:"),
)
_TIMESTAMP = re.compile(r"^\d{1,2}-\w{3}(-\d{2,4})? \d{1,2}:\d{2}\s+")
_PREFIX = re.compile(r"^([\w.-]+:\s+)?(\w+\.c:\d+-\d+\s+)?")
_POSITION = re.compile(r"^:\s*line (\d+), col (\d+) of file (.+)$")
_CATALOG = re.compile(r"Unable to connect to PostgreSQL|Could not open Catalog|Unable to connect to MySQL"
                      r"|could not connect to server|Connection refused", re.I)


def director_error(output: str) -> Optional[str]:
    """The Director's own error line(s) from its output, condensed to one line."""
    lines: List[str] = []
    position = None
    for raw in output.splitlines():
        line = _TIMESTAMP.sub("", raw.strip())
        if not line:
            continue
        pos = _POSITION.match(line)
        if pos:
            position = position or f"line {pos.group(1)} of {pos.group(3).strip()}"
            continue
        if any(p.search(line) for p in _NOISE):
            continue
        line = _PREFIX.sub("", line, count=1).strip()
        if line and line not in lines:
            lines.append(line)
    if not lines:
        return None
    first = lines[0]
    if (first.startswith("Could not open Catalog") or first.endswith(":")) and len(lines) > 1:
        first = f"{first} {_PREFIX.sub('', lines[1])}"      # the line that says why
    if position:
        first = f"{first} ({position})"
    if "read-only transaction" in output:
        first = f"catalog is read-only (a hot standby?): {first}"
    elif _CATALOG.search(output) and "Version error" not in first:
        first = f"catalog unreachable: {first}"
    return first


def config_test(ctx, binary: str, config: str, user: str, group: str, budget: float) -> None:
    """`bacula-dir -t`, bounded: raises OcfError with the Director's reason when it rejects.

    `-t` also opens the catalog and retries for ~30 s when it is unreachable;
    the bound keeps that from eating the whole action.
    """
    argv = [binary, "-t", "-c", config, "-u", user, "-g", group]
    try:
        result = ctx.run(argv, timeout=budget)
    except CommandTimeout:
        raise OcfError(Exit.ERR_GENERIC,
                       f"configuration test (bacula-dir -t) did not finish within {budget:.0f}s: "
                       "catalog unreachable? (bacula-dir retries the catalog for about 30s)") from None
    if result.ok:
        return
    reason = director_error(result.stdout + "\n" + result.stderr) or result.first_line()
    raise OcfError(Exit.ERR_GENERIC, f"bacula-dir rejects {config}: {reason}")


def spawn(binary: str, config: str, user: str, group: str, outfile: str) -> subprocess.Popen:
    """Start `bacula-dir -f` detached (own session, stdin /dev/null, output to `outfile`)."""
    os.makedirs(os.path.dirname(outfile) or ".", exist_ok=True)
    out = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        return subprocess.Popen([binary, "-f", "-c", config, "-u", user, "-g", group],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd="/",
                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    except FileNotFoundError:
        raise OcfError(Exit.ERR_INSTALLED, f"{binary} is not installed") from None
    except PermissionError:
        raise OcfError(Exit.ERR_INSTALLED, f"{binary} is not executable") from None
    finally:
        os.close(out)


def read_output(outfile: str, limit: int = 65536) -> str:
    try:
        with open(outfile, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def signal_pid(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts: PID 1 may reap it late)."""
    info = proc.proc_info(pid)
    return info is None or not info.alive


def wait_gone(pids: List[int], deadline, limit: float, poll: float = 0.02) -> bool:
    end = time.monotonic() + max(0.0, min(limit, deadline.remaining()))
    while True:
        if all(gone(p) for p in pids):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(poll)
        poll = min(poll * 1.5, 0.2)


def terminate(pids: List[int], deadline, log) -> None:
    """SIGTERM (after SIGCONT: a stopped process cannot act on it), then SIGKILL in time."""
    for pid in pids:
        signal_pid(pid, signal.SIGCONT)
        signal_pid(pid, signal.SIGTERM)
    # keep enough of the budget for SIGKILL and its wait
    grace = max(0.0, deadline.remaining() - max(2.0, deadline.remaining() * 0.25))
    if wait_gone(pids, deadline, grace):
        return
    left = [p for p in pids if not gone(p)]
    log.warning(f"bacula-dir {', '.join(map(str, left))} ignored SIGTERM; sending SIGKILL")
    for pid in left:
        signal_pid(pid, signal.SIGKILL)
    if not wait_gone(left, deadline, deadline.remaining()):
        raise OcfError(Exit.ERR_GENERIC, f"bacula-dir {', '.join(map(str, left))} survived SIGKILL")
