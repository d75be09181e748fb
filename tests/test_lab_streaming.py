# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab fault suite, streaming architecture: a PostgreSQL per node (PAF), synchronous replication.

The lab runs the shipped streaming snippet (rendered with lab values, see test_lab_rendered.py).
Each fault commits a catalog row through the primary's address before it and reads it after
it, restores a backup made before it and runs one after it (faults.measure); a DirectorWatch
asserts that no two Directors ever run.
"""

import pytest

from bacula_ha.lab import faults
from bacula_ha.lab.cluster import crm_mon_text
from bacula_ha.lab.observe import director_nodes

from support.lab import assert_fault_kept_its_promises, running_lab, settled
from support.streaming import replication_ready, sql

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "s", 3, "streaming")


@pytest.fixture
def healed(lab):
    yield from settled(lab, ready=replication_ready)


def test_each_node_its_own_postgresql_primary_with_the_director(healed):
    where = director_nodes(healed.layout, healed.nodes)
    assert len(where) == 1
    primary = where[0]
    st = healed.status_from(primary)
    assert st.roles["p_pgsql"][primary] == "Promoted", crm_mon_text(healed.layout, primary)
    assert st.running_on("p_vip_repl") == [primary]
    assert st.roles["p_config_pull"][primary] == "Promoted"
    assert sql(healed, primary, "SELECT pg_is_in_recovery()") == "f"
    standbys = [n for n in healed.nodes if n != primary]
    for n in standbys:
        assert sql(healed, n, "SELECT pg_is_in_recovery()") == "t"
    # synchronous: every standby streams and counts for the commit quorum
    states = sql(healed, primary, "SELECT application_name || ':' || sync_state FROM pg_stat_replication "
                                   "ORDER BY 1").splitlines()
    assert states == [f"{n}:quorum" for n in sorted(standbys)], states


def test_primary_postgres_kill9(healed):
    result = faults.postgres_kill9(healed)
    assert_fault_kept_its_promises(result)


@pytest.fixture
def healed_before(lab):
    """The crash is the module's last fault: nothing heals after it. The crashed primary does
    not come back by itself: PAF's probe finds its data "in production" (a crashed primary),
    its demote and stop fail, and Pacemaker fences it again at each boot (measured; see
    crm-snippets/README.md, "How the old primary rejoins")."""
    yield from settled(lab, ready=replication_ready, after=False)


def test_primary_node_crash_keeps_the_synchronously_committed_row(healed_before):
    """Runs after the kill -9 above, on the same lab: a crash of the node a fault has already
    recovered must keep every promise a fresh lab keeps."""
    healed = healed_before
    result = faults.node_crash(healed)
    assert_fault_kept_its_promises(result)      # the synchronously committed row included
    assert result.fenced_s is not None, "the crashed node was never fenced"
    assert result.director_after not in (None, result.victim), result.summary()
    st = healed.status_from(result.director_after)
    assert st.roles["p_pgsql"][result.director_after] == "Promoted", crm_mon_text(healed.layout,
                                                                                  result.director_after)
    assert result.ok, result.summary()
