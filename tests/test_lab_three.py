"""Lab fault suite: a 3-node cluster (drbd architecture): partition of the active node.

The isolated node loses quorum, the majority fences it and takes over;
exactly one side runs the Director throughout.
"""

import pytest

from bacula_ha.lab import faults
from bacula_ha.lab.checks import director_nodes

from support.lab import agents_installed, keep_logs_dir, new_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    assert agents_installed(), "run `make install` first: the nodes use the installed ocf:bacula agents"
    lab = new_lab("t")
    failed_before = request.session.testsfailed
    try:
        lab.up(3, "drbd", "ours")
        yield lab
    finally:
        if request.session.testsfailed != failed_before:
            lab.collect_logs(keep_logs_dir() / lab.layout.name)
        lab.down()


def test_partition_three_nodes_majority_keeps_director(lab):
    result = faults.partition(lab)
    assert result.max_directors <= 1, result.violations
    assert result.fenced_s is not None, "the isolated node was never fenced"
    assert result.answering_s is not None, result.summary()
    assert result.director_after not in (None, result.victim)
    assert result.rows_ok
    assert len(director_nodes(lab.layout, lab.nodes)) == 1
    faults.settle(lab)
