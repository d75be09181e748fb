# SPDX-License-Identifier: GPL-2.0-or-later
"""Running commands in a guest: ssh as root through the VM's forwarded management port.

The key is the lab's own (made with the image, kept in the image cache); host
keys are throwaway, so they are neither checked nor remembered.  No ssh
multiplexing: a master connection would be one more process to clean up.
"""

from __future__ import annotations

import subprocess
import time
from typing import Optional

from ..sh import LabError
from .image import CACHE
from .machine import MachineSpec, pid

PRE_AUTH_FAILURES = ("banner exchange", "kex_exchange_identification", "Connection refused",
                     "Connection reset", "Connection closed by remote host")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=60", "-o", "ServerAliveInterval=5",
               "-o", "ServerAliveCountMax=3")


def ssh_argv(spec: MachineSpec, command: str) -> list:
    return (["ssh", "-i", str(CACHE / "id_ed25519"), "-p", str(spec.ssh_port)] + list(SSH_OPTIONS)
            + ["root@127.0.0.1", command])


def run(spec: MachineSpec, command: str, *, timeout: float = 60, check: bool = True,
        input: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run a shell command line in the guest (bounded by timeout)."""
    deadline = time.monotonic() + timeout
    for attempt in range(4):
        try:
            result = subprocess.run(ssh_argv(spec, command), capture_output=True, text=True,
                                    timeout=max(1.0, deadline - time.monotonic()),
                                    input=input if input is not None else "")
        except subprocess.TimeoutExpired:
            raise LabError(f"{spec.name}: timed out after {timeout:g}s: {command[:80]}")
        # refused before the command ran (an emulated guest's sshd too slow for the banner or
        # over its start-up limit): the command did not run, so trying again is safe
        if result.returncode == 255 and any(m in result.stderr for m in PRE_AUTH_FAILURES) \
                and time.monotonic() < deadline - 5:
            time.sleep(2 + 3 * attempt)
            continue
        break
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"{spec.name}: `{command[:80]}` exited {result.returncode}: {' | '.join(detail[-3:])}")
    return result


def out(spec: MachineSpec, command: str, timeout: float = 60) -> str:
    return run(spec, command, timeout=timeout).stdout


def ok(spec: MachineSpec, command: str, timeout: float = 30) -> bool:
    try:
        return run(spec, command, timeout=timeout, check=False).returncode == 0
    except LabError:
        return False


def write(spec: MachineSpec, path: str, text: str, mode: str = "0644", owner: str = "root:root") -> None:
    """Write a file in the guest atomically (content over stdin: never on a command line)."""
    run(spec, f"set -e; d=$(dirname {path}); mkdir -p \"$d\"; t=$(mktemp \"$d/.lab.XXXXXX\"); "
              f"cat > \"$t\"; chmod {mode} \"$t\"; chown {owner} \"$t\"; mv -f \"$t\" {path}", input=text)


def write_many(spec: MachineSpec, files) -> None:
    """Write several files in one ssh round trip (each costs seconds of emulated CPU):
    `files` is a list of (path, text, mode, owner); contents travel on stdin, base64-encoded."""
    import base64
    import shlex
    lines = ["set -e"]
    for path, text, mode, owner in files:
        data = base64.b64encode(text.encode()).decode()
        q = shlex.quote(path)
        lines.append(f"mkdir -p $(dirname {q}); t=$(mktemp $(dirname {q})/.lab.XXXXXX); "
                     f"echo {data} | base64 -d > \"$t\"; chmod {mode} \"$t\"; chown {owner} \"$t\"; "
                     f"mv -f \"$t\" {q}")
    run(spec, "sh -e -s", input="\n".join(lines) + "\n", timeout=300)


def wait_ready(spec: MachineSpec, timeout: float) -> float:
    """Wait until sshd answers and systemd finished booting; seconds waited (LabError at once
    when the VM's QEMU is gone: a powered-off machine never boots)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if pid(spec) is None:
            raise LabError(f"{spec.name}: QEMU exited while booting (see {spec.console})")
        if ok(spec, "systemctl is-system-running --wait >/dev/null 2>&1; true", timeout=60):
            return time.monotonic() - started
        time.sleep(2)
    raise LabError(f"{spec.name}: not reachable over ssh after {timeout:g}s (see {spec.console})")


def script(spec: MachineSpec, text: str, timeout: float = 120) -> str:
    """Run a shell script (sent on stdin, so secrets in it are on no command line) in the guest."""
    return run(spec, "sh -e -s", timeout=timeout, input=text).stdout
