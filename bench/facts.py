# SPDX-License-Identifier: GPL-2.0-or-later
"""Machine facts recorded with every run: ratios only compare within a run, but
the reader needs to know what kind of machine produced them."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Dict, Optional


def _out(argv, timeout: float = 20) -> Optional[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if proc.returncode == 0 and text else None


def _deb(package: str) -> Optional[str]:
    return _out(["dpkg-query", "-W", "-f=${Version}", package])


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_gib() -> Optional[float]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _loadavg() -> Optional[str]:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return None


def _installed_matches_checkout() -> Optional[bool]:
    """Do the installed agents' library files equal the checkout's? (The lab nodes run the installed ones.)"""
    import filecmp
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkout = os.path.join(root, "lib", "bacula_ha")
    installed = "/usr/lib/ocf/lib/bacula/bacula_ha"
    if not os.path.isdir(installed):
        return None
    for base, dirs, files in os.walk(checkout):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(base, name), checkout)
                other = os.path.join(installed, rel)
                if not os.path.isfile(other) or not filecmp.cmp(os.path.join(base, name), other, shallow=False):
                    return False
    return True


def collect() -> Dict[str, object]:
    python = _out(["/usr/bin/python3", "--version"])
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_gib(),
        "kernel": platform.release(),
        "loadavg_at_start": _loadavg(),
        "python": python.split()[-1] if python else None,
        "pacemaker": _deb("pacemaker"),
        "resource_agents": _deb("resource-agents"),
        "bacula_director": _deb("bacula-director"),
        "postgresql": _deb("postgresql-15") or _deb("postgresql"),
        "git": _deb("git"),
        "installed_agents_match_checkout": _installed_matches_checkout(),
    }
