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


def settled(lab, ready=None, after: bool = True):
    """Body of the per-test fixture: each test starts from a complete, clean cluster (and, with
    `ready`, whatever else the module needs) and leaves one behind (not with `after=False`: for
    a module's last fault, whose lab is torn down next). `yield from settled(lab)`."""
    from bacula_ha.lab import faults
    faults.settle(lab)
    if ready is not None:
        ready(lab)
    yield lab
    if after:
        faults.settle(lab)


def assert_fault_kept_its_promises(result) -> None:
    """The one invariant check of the fault suite: never two Directors; the catalog row committed
    before the fault read after it; the Director answering again; the backup made before the
    fault restored byte-identical; a new backup after it ending T."""
    assert result.max_directors <= 1, result.violations
    assert result.rows_ok, "a catalog row committed before the fault is missing after it"
    assert result.answering_s is not None, f"Director never answered again: {result.summary()}"
    assert result.restore_ok, \
        f"the backup made before the fault was not restored identical: {result.summary()}; {result.note}"
    assert result.backup_after_ok, f"a backup after the fault failed: {result.summary()}; {result.note}"
    assert result.ok, result.summary()


def assert_interrupted_backup_rerun_once(result) -> None:
    """The backup running at the fault: run again on the survivor, once, ends T, never beside
    its orphan (the File daemon never ran both)."""
    assert result.interrupted_jobid, result.summary()
    assert result.rerun_jobid, f"the interrupted backup was never run again: {result.summary()}"
    assert result.reruns == 1, result.summary()
    assert result.rerun_status == "T", result.summary()
    assert not result.overlap, "the interrupted job and its rerun ran at the same time"
