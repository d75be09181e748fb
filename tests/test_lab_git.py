# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab fault suite, git architecture: configuration from a Git server, external Patroni catalog.

A bad or an unsigned commit must cause no outage and show its reason in crm_mon;
with the Git server down, failover must succeed from the cached configuration.
The Patroni catalog changes its primary under the running Director (switchover,
crash of the primary's host): the catalog check is degraded during the switch and
ready after it, the Director stays, and backups before and after are good.
"""

import pytest

from bacula_ha.lab import faults
from bacula_ha.lab.cluster import crm_mon_text

from support.lab import assert_fault_kept_its_promises, running_lab, settled

pytestmark = [pytest.mark.lab, pytest.mark.root]


@pytest.fixture(scope="module")
def lab(request):
    yield from running_lab(request, "g", 2, "git")


@pytest.fixture
def healed(lab):
    yield from settled(lab)


@pytest.mark.parametrize("kind", ["bad", "unsigned"])
def test_refused_commit_causes_no_outage(healed, kind):
    result = faults.config_commit(healed, kind)
    assert result.detected_s is not None, "the refusal never showed in crm_mon"
    assert "refused" in result.note, result.note
    assert result.console_failures == 0, "the Director stopped answering"
    assert result.max_directors <= 1, result.violations
    assert result.director_after == result.director_before
    assert result.rows_ok
    assert result.ok


def test_git_server_down_failover_from_cache(healed):
    result = faults.git_down_failover(healed)
    assert result.max_directors <= 1, result.violations
    assert result.fenced_s is not None, "the crashed node was never fenced"
    assert result.answering_s is not None, result.summary()
    assert result.director_after not in (None, result.victim)
    assert result.rows_ok
    st = healed.status_from(result.director_after)
    assert st.roles["p_config_pull"].get(result.director_after) == "Promoted", crm_mon_text(healed.layout, result.director_after)


@pytest.mark.parametrize("kind", ["switchover", "crash"])
def test_patroni_primary_changes_under_the_director(healed, kind):
    result = faults.catalog_switch(healed, kind)
    assert result.catalog_degraded_s is not None, \
        f"bacula-catalog-check never reported degraded (190) during the switch: {result.catalog_checks}"
    assert result.catalog_ready_s is not None, \
        f"bacula-catalog-check not ready (0) after the switch: {result.catalog_checks}"
    assert result.director_after == result.director_before, "the Director was moved"
    assert "Patroni primary" in result.note and f"{result.victim} -> {result.victim}" not in result.note, result.note
    assert_fault_kept_its_promises(result)
