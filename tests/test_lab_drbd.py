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

from support.lab import (assert_fault_kept_its_promises, assert_interrupted_backup_rerun_once, running_lab,
                         settled)

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "d", 2, "drbd")


@pytest.fixture
def healed(lab):
    yield from settled(lab)


def test_director_kill9_restarted_in_place(healed):
    result = faults.director_kill9(healed)
    assert_fault_kept_its_promises(result)
    assert result.detected_s is not None
    assert result.director_after == result.director_before
    assert result.fenced_s is None


def test_director_sigstop_detected_and_recovered(healed):
    result = faults.director_sigstop(healed)
    assert_fault_kept_its_promises(result)
    assert result.detected_s is not None
    assert result.director_after == result.director_before
    assert "stopped" in result.note or "state T" in result.note or result.note == ""


def test_postgres_kill9(healed):
    result = faults.postgres_kill9(healed)
    assert_fault_kept_its_promises(result)
    assert result.detected_s is not None


def test_active_node_crash_fenced_failover(healed):
    result = faults.node_crash(healed)
    assert_fault_kept_its_promises(result)
    assert_interrupted_backup_rerun_once(result)
    assert result.fenced_s is not None, "the crashed node was never fenced"
    assert result.director_after not in (None, result.victim)
    answered, out = console_request(healed.layout, healed.console_password(), "status dir")
    assert answered, out
    assert "bhlab-dir" in out


def test_partition_two_nodes_one_side_runs_director(healed):
    result = faults.partition(healed)
    assert_fault_kept_its_promises(result)
    assert_interrupted_backup_rerun_once(result)
    assert result.fenced_s is not None, "the isolated node was never fenced"
    assert len(director_nodes(healed.layout, healed.nodes)) == 1
