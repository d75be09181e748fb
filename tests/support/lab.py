# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures' helpers for the lab fault suite: a uniquely named lab, logs kept on failure."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from bacula_ha.lab.lab import Lab
from bacula_ha.lab.layout import Layout

OCF_AGENTS = "/usr/lib/ocf/resource.d/bacula"


def new_lab(tag: str) -> Lab:
    """A lab with a unique name (namespaces bht<tag><id>-*) in the default lab root."""
    return Lab(Layout(f"bht{tag}{uuid.uuid4().hex[:4]}"), say=lambda m: print(m, flush=True))


def agents_installed() -> bool:
    return all(os.access(f"{OCF_AGENTS}/{a}", os.X_OK)
               for a in ("bacula-director", "bacula-catalog-check", "bacula-config-pull"))


def keep_logs_dir() -> Path:
    """Where a failing module's node logs go (pytest's basetemp is removed; this is not)."""
    return Path(os.environ.get("BACULA_HA_LAB_LOGS_DIR", "/var/tmp/bacula-ha-lab-logs"))


def running_lab(request, tag: str, nodes: int, arch: str):
    """Body of a module-scoped lab fixture: up with our agents, logs kept when a test of the
    module failed, always torn down. Use as `yield from running_lab(request, "d", 2, "drbd")`."""
    assert agents_installed(), "run `make install` first: the nodes use the installed ocf:bacula agents"
    lab = new_lab(tag)
    failed_before = request.session.testsfailed
    try:
        lab.up(nodes, arch, "ours")
        yield lab
    finally:
        if request.session.testsfailed != failed_before:
            lab.collect_logs(keep_logs_dir() / lab.layout.name)
        lab.down()
