# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-catalog-check's monitor on a big catalog vs an empty one, and vs the
stock ocf:heartbeat:pgsql monitor on the same (big) server.

The checks are O(1) in catalog size by design (no count(*) on File, which takes
~220 ms at 5 M rows): goal (bench/README.md, Goals) big <= 1.2 x empty. Full runs fill 5 M File
rows (about 35 s and 0.9 GB); --quick uses 20,000.
"""

from __future__ import annotations

import os
from typing import List

from agent_actions import Instance, stock_pgsql
from fixtures import PGSQL_RA, Bench, Unavailable
from timing import interleaved, not_measured, row

SECTION = "catalog"
GOAL = 1.2
PGSQL_GOAL = 1.0      # issue 14: no dearer than the stock pgsql monitor, wall and CPU
FULL_ROWS = 5_000_000
QUICK_ROWS = 20_000


def run(bench: Bench) -> List[dict]:
    rows_in_big = QUICK_ROWS if bench.quick else FULL_ROWS
    what = f"bacula-catalog-check monitor, File table {rows_in_big:,} rows"
    try:
        empty = bench.catalog("empty")
        big = bench.catalog("big", fill_rows=rows_in_big)
    except Unavailable as exc:
        return [not_measured("catalog/monitor-big-vs-empty", SECTION, what, "same, empty catalog", str(exc),
                             f"<= {GOAL:g} x"),
                not_measured("catalog/monitor-vs-pgsql", SECTION, what, "ocf:heartbeat:pgsql monitor", str(exc),
                             f"<= {PGSQL_GOAL:g} x")]
    agents = {
        "big": Instance(bench, "catalog-big", bench.agent("bacula-catalog-check"), big.params(), "cat-big"),
        "empty": Instance(bench, "catalog-empty", bench.agent("bacula-catalog-check"), empty.params(), "cat-empty"),
    }
    out: List[dict] = []
    started = {name: inst.action("start")() for name, inst in agents.items()}
    if any(started.values()):
        reason = f"the agent's start failed in the bench environment: {started}"
        return [not_measured("catalog/monitor-big-vs-empty", SECTION, what, "same, empty catalog", reason,
                             f"<= {GOAL:g} x"),
                not_measured("catalog/monitor-vs-pgsql", SECTION, what, "ocf:heartbeat:pgsql monitor", reason)]
    subjects = {name: inst.action("monitor", interval_ms=10000) for name, inst in agents.items()}
    pgsql_ok = os.access(PGSQL_RA, os.X_OK)
    if pgsql_ok:
        subjects["pgsql"] = stock_pgsql(bench, big.pg, "pgsql").action("monitor", interval_ms=30000)
    bench.log(f"catalog: monitor on {rows_in_big:,} File rows vs empty" + (" vs pgsql" if pgsql_ok else ""))
    try:
        samples = interleaved(subjects, bench.runs(30, 5), bench.warmup)
    finally:
        for inst in agents.values():
            inst.action("stop")()
    out.append(row("catalog/monitor-big-vs-empty", SECTION, what, "same, empty catalog",
                   samples["big"], samples["empty"], goal=GOAL))
    if pgsql_ok:
        out.append(row("catalog/monitor-vs-pgsql", SECTION, what, "ocf:heartbeat:pgsql monitor (same server)",
                       samples["big"], samples["pgsql"], goal=PGSQL_GOAL, cpu_too=True))
    else:
        out.append(not_measured("catalog/monitor-vs-pgsql", SECTION, what, "ocf:heartbeat:pgsql monitor",
                                "resource-agents' pgsql agent not installed"))
    return out
