# SPDX-License-Identifier: GPL-2.0-or-later
"""The one way agents run external programs: bounded by the action's deadline.

Each command runs in its own session (process group); when the deadline
expires the whole group is SIGKILLed, so a hung bconsole, psql or git (and
anything it spawned) cannot outlive the action. Secrets travel through the
environment or stdin, never argv: `run` refuses an argv holding a known secret.
"""

from __future__ import annotations

import os
import signal
import subprocess
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Mapping, Optional, Sequence

from .codes import Exit, OcfError
from .deadline import Deadline
from .log import Secrets


class CommandTimeout(OcfError):
    """An external command ran out of the action's budget and was killed."""

    def __init__(self, program: str, seconds: float) -> None:
        super().__init__(Exit.ERR_GENERIC, f"{program} did not finish within {seconds:.1f}s and was killed")
        self.program = program


class Result:
    """What a finished command printed and returned."""

    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv: "Sequence[str]", returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def first_line(self) -> str:
        """The most useful line of output for an exit reason."""
        for stream in (self.stderr, self.stdout):
            for line in stream.splitlines():
                if line.strip():
                    return line.strip()
        return f"exit status {self.returncode}"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def run(argv: Sequence[str], deadline: Deadline, *, timeout: Optional[float] = None,
        input: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
        replace_env: bool = False, cwd: Optional[str] = None,
        user: Optional[str] = None, group: Optional[str] = None,
        extra_groups: Optional[Sequence] = None,
        secrets: Optional[Secrets] = None, pass_fds: Sequence[int] = ()) -> Result:
    """Run `argv` and wait at most `timeout` seconds, never past `deadline`.

    Raises CommandTimeout when killed, OcfError(ERR_INSTALLED) when the program
    does not exist. The return code is left for the caller to judge.
    `extra_groups` (supplementary groups, e.g. os.getgrouplist(user, gid)) keeps a
    command run as `user` from inheriting root's supplementary groups. `pass_fds` are
    inherited by the command (an instance lock it must keep holding if the agent dies).
    """
    argv = [str(a) for a in argv]
    if secrets is not None and secrets.found_in(argv):
        raise OcfError(Exit.ERR_GENERIC, f"refusing to pass a secret on the command line of {argv[0]}")
    limit = deadline.bound(timeout)
    if limit <= 0:
        raise CommandTimeout(os.path.basename(argv[0]), 0.0)
    full_env = dict(env or {}) if replace_env else {**os.environ, **(env or {})}
    full_env.setdefault("LC_ALL", "C")
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=cwd,
            start_new_session=True, close_fds=True, user=user, group=group,
            extra_groups=extra_groups, pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError:
        raise OcfError(Exit.ERR_INSTALLED, f"{argv[0]} is not installed") from None
    except PermissionError:
        raise OcfError(Exit.ERR_INSTALLED, f"{argv[0]} is not executable") from None
    try:
        out, err = proc.communicate(input=input.encode() if input is not None else None, timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        raise CommandTimeout(os.path.basename(argv[0]), limit) from None
    return Result(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

