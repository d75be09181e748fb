# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers of the streaming lab tests: SQL on a node's own PostgreSQL, PAF's promotion
scores, and waiting until every standby streams (before a fault may expect a takeover)."""

import time

from bacula_ha.lab.cluster import crm_mon_text
from bacula_ha.lab.node import enter
from bacula_ha.lab.observe import director_nodes
from bacula_ha.lab.sh import run


def sql(lab, node: str, query: str) -> str:
    return run(enter(lab.layout, node) + ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql",
                                          "-h", "/run/postgresql", "-XAtq", "-d", "postgres", "-c", query],
               timeout=30).stdout.strip()


def score(lab, where: str, node: str) -> int:
    out = run(enter(lab.layout, where) + ["crm_attribute", "-N", node, "-n", "master-p_pgsql", "-l", "forever",
                                          "-G", "-q"], timeout=30, check=False).stdout.strip()
    return int(out) if out.lstrip("-").isdigit() else -1


def replication_ready(lab, timeout: float = 120) -> None:
    """Every standby streams to the primary and PAF gave it a positive promotion score: only
    then may a fault expect a standby to take over (PAF never promotes one that was not
    connected: it could lack committed rows). A fault right after the previous one's recovery
    would otherwise hit standbys that are still reconnecting."""
    deadline = time.monotonic() + timeout
    while True:
        where = director_nodes(lab.layout, lab.nodes)
        if len(where) == 1:
            standbys = sorted(n for n in lab.nodes if n != where[0])
            states = sql(lab, where[0], "SELECT application_name || ':' || sync_state FROM pg_stat_replication "
                                         "ORDER BY 1").splitlines()
            if states == [f"{n}:quorum" for n in standbys] and all(score(lab, where[0], n) > 0 for n in standbys):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"replication not ready: {crm_mon_text(lab.layout, lab.observer())}")
        time.sleep(1)
