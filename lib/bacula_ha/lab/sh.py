# SPDX-License-Identifier: GPL-2.0-or-later
"""Running commands for the lab: bounded, with readable errors.

The lab is a tool run by an administrator, not an agent, so it uses
subprocess directly; every call has a timeout.
"""

from __future__ import annotations

import subprocess
from typing import Optional, Sequence

from .layout import env_for_children


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(argv: Sequence[str], *, timeout: float = 60, check: bool = True, input: Optional[str] = None,
        env: Optional[dict] = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                input=input, env=env or env_for_children())
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout:g}s: {' '.join(argv)}")
    except FileNotFoundError:
        raise LabError(f"not installed: {argv[0]}")
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)} exited {result.returncode}: {' | '.join(detail[-3:])}")
    return result


def ok(argv: Sequence[str], timeout: float = 30) -> bool:
    try:
        return run(argv, timeout=timeout, check=False).returncode == 0
    except LabError:
        return False
