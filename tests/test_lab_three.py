# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab fault suite: a 3-node cluster (drbd architecture): partition of the active node.

The isolated node loses quorum, the majority fences it and takes over;
exactly one side runs the Director throughout.
"""

import pytest

from bacula_ha.lab import faults
from bacula_ha.lab.observe import director_nodes

from support.lab import assert_fault_kept_its_promises, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "t", 3, "drbd")


def test_partition_three_nodes_majority_keeps_director(lab):
    result = faults.partition(lab)
    assert_fault_kept_its_promises(result)
    assert result.fenced_s is not None, "the isolated node was never fenced"
    assert result.director_after not in (None, result.victim)
    assert len(director_nodes(lab.layout, lab.nodes)) == 1
    faults.settle(lab)
