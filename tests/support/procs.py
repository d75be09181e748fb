# SPDX-License-Identifier: GPL-2.0-or-later
"""What the tests read of other processes: /proc/PID/cmdline (what any local user sees of a
secret) and /proc/PID/environ (who was started for what)."""

from __future__ import annotations

import os
from typing import Iterator, List, Tuple


def proc_files(name: str) -> Iterator[Tuple[int, bytes]]:
    """(pid, raw /proc/PID/`name`) of every process; one that ends while we read is left out."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{name}", "rb") as fh:
                yield int(entry), fh.read()
        except OSError:
            continue


def pids_whose(name: str, needle: bytes) -> List[int]:
    """The pids whose /proc/PID/`name` (cmdline, environ) holds `needle`."""
    return [pid for pid, raw in proc_files(name) if needle in raw]
