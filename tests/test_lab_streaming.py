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
from bacula_ha.lab.node import enter
from bacula_ha.lab.observe import director_nodes
from bacula_ha.lab.sh import run

from support.lab import running_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "s", 3, "streaming")


@pytest.fixture
def healed(lab):
    faults.settle(lab)
    _replication_ready(lab)
    yield lab
    faults.settle(lab)


def _sql(lab, node: str, query: str) -> str:
    return run(enter(lab.layout, node) + ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql",
                                          "-h", "/run/postgresql", "-XAtq", "-d", "postgres", "-c", query],
               timeout=30).stdout.strip()


def _score(lab, where: str, node: str) -> int:
    out = run(enter(lab.layout, where) + ["crm_attribute", "-N", node, "-n", "master-p_pgsql", "-l", "forever",
                                          "-G", "-q"], timeout=30, check=False).stdout.strip()
    return int(out) if out.lstrip("-").isdigit() else -1


def _replication_ready(lab, timeout: float = 120) -> None:
    """Every standby streams to the primary and PAF gave it a positive promotion score: only
    then may a fault expect a standby to take over (PAF never promotes one that was not
    connected: it could lack committed rows). A fault right after the previous one's recovery
    would otherwise hit standbys that are still reconnecting."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        where = director_nodes(lab.layout, lab.nodes)
        if len(where) == 1:
            standbys = sorted(n for n in lab.nodes if n != where[0])
            states = _sql(lab, where[0], "SELECT application_name || ':' || sync_state FROM pg_stat_replication "
                                         "ORDER BY 1").splitlines()
            if states == [f"{n}:quorum" for n in standbys] and all(_score(lab, where[0], n) > 0 for n in standbys):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"replication not ready: {crm_mon_text(lab.layout, lab.observer())}")
        time.sleep(1)


def test_each_node_its_own_postgresql_primary_with_the_director(healed):
    where = director_nodes(healed.layout, healed.nodes)
    assert len(where) == 1
    primary = where[0]
    st = healed.status_from(primary)
    assert st.roles["p_pgsql"][primary] == "Promoted", crm_mon_text(healed.layout, primary)
    assert st.running_on("p_vip_repl") == [primary]
    assert st.roles["p_config_pull"][primary] == "Promoted"
    assert _sql(healed, primary, "SELECT pg_is_in_recovery()") == "f"
    standbys = [n for n in healed.nodes if n != primary]
    for n in standbys:
        assert _sql(healed, n, "SELECT pg_is_in_recovery()") == "t"
    # synchronous: every standby streams and counts for the commit quorum
    states = _sql(healed, primary, "SELECT application_name || ':' || sync_state FROM pg_stat_replication "
                                   "ORDER BY 1").splitlines()
    assert states == [f"{n}:quorum" for n in sorted(standbys)], states


def test_primary_postgres_kill9(healed):
    result = faults.postgres_kill9(healed)
    assert result.max_directors <= 1, result.violations
    assert result.answering_s is not None, result.summary()
    assert result.rows_ok, "the committed row is gone"
    assert result.restore_ok and result.backup_after_ok, result.summary()   # backup before, restore after
    assert result.ok, result.summary()


def test_primary_node_crash_keeps_the_synchronously_committed_row(healed):
    result = faults.node_crash(healed)
    assert result.max_directors <= 1, result.violations
    assert result.fenced_s is not None, "the crashed node was never fenced"
    assert result.director_after not in (None, result.victim), result.summary()
    assert result.rows_ok, "the synchronously committed row did not survive the failover"
    assert result.restore_ok and result.backup_after_ok, result.summary()   # backup before, restore after
    st = healed.status_from(result.director_after)
    assert st.roles["p_pgsql"][result.director_after] == "Promoted", crm_mon_text(healed.layout,
                                                                                  result.director_after)
    assert result.ok, result.summary()
