# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab fault suite, drbd architecture (shared loop disk standing in for DRBD), 2 nodes.

One cluster for the module; every test injects one fault while a background
checker asserts that never two Directors run, measures recovery (recorded in
the results file, see bacula_ha.lab.faults) and then heals the cluster, so
the tests stay independent of each other's outcome.
"""

import pytest

from bacula_ha.lab import faults
from bacula_ha.lab.observe import console_request, director_nodes

from support.lab import running_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "d", 2, "drbd")


@pytest.fixture
def healed(lab):
    """Each test starts from a complete, clean cluster and leaves one behind."""
    faults.settle(lab)
    yield lab
    faults.settle(lab)


def check(result):
    assert result.max_directors <= 1, result.violations
    assert result.rows_ok, "a catalog row committed before the fault is missing after it"
    assert result.restore_ok, f"the backup made before the fault was not restored identical: {result.summary()}"
    assert result.backup_after_ok, f"a backup after the fault failed: {result.summary()}"
    assert result.answering_s is not None, f"Director never answered again: {result.summary()}"
    assert result.ok, result.summary()


def check_rerun(result):
    """The backup running at the fault: run again on the survivor, once, ends T, never beside
    its orphan (the File daemon never ran both)."""
    assert result.interrupted_jobid, result.summary()
    assert result.rerun_jobid, f"the interrupted backup was never run again: {result.summary()}"
    assert result.reruns == 1, result.summary()
    assert result.rerun_status == "T", result.summary()
    assert not result.overlap, "the interrupted job and its rerun ran at the same time"


def test_director_kill9_restarted_in_place(healed):
    result = faults.director_kill9(healed)
    check(result)
    assert result.detected_s is not None
    assert result.director_after == result.director_before
    assert result.fenced_s is None


def test_director_sigstop_detected_and_recovered(healed):
    result = faults.director_sigstop(healed)
    check(result)
    assert result.detected_s is not None
    assert result.director_after == result.director_before
    assert "stopped" in result.note or "state T" in result.note or result.note == ""


def test_postgres_kill9(healed):
    result = faults.postgres_kill9(healed)
    check(result)
    assert result.detected_s is not None


def test_active_node_crash_fenced_failover(healed):
    result = faults.node_crash(healed)
    check(result)
    check_rerun(result)
    assert result.fenced_s is not None, "the crashed node was never fenced"
    assert result.director_after not in (None, result.victim)
    answered, out = console_request(healed.layout, healed.console_password(), "status dir")
    assert answered, out
    assert "bhlab-dir" in out


def test_partition_two_nodes_one_side_runs_director(healed):
    result = faults.partition(healed)
    check(result)
    check_rerun(result)
    assert result.fenced_s is not None, "the isolated node was never fenced"
    assert len(director_nodes(healed.layout, healed.nodes)) == 1
