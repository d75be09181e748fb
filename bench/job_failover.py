# SPDX-License-Identifier: GPL-2.0-or-later
"""Backups across a node crash: how soon an interrupted backup runs again, ours vs stock.

From the lab's fault records (lib/bacula_ha/lab/faults.py): the node-crash fault hits a long,
bandwidth-limited backup; the records carry when the agent's rerun of it started and ended
(`rerun_running_s`, `rerun_done_s`: catalog StartTime/EndTime of the rerun, seconds after the
crash). With the stock agents nothing ever runs it again: the reference column says so (no
time), the row says how many stock runs were recorded. Same results file as lab_failover
(`bench/run --lab-runs N` makes one, or the lab fault suite's).
"""

from __future__ import annotations

import json
from typing import List, Optional

from lab_failover import results_path
from timing import not_measured, percentile

SECTION = "lab"
ROWS = (("rerun_running_s", "node crash during a backup -> that backup running again (rerun)"),
        ("rerun_done_s", "node crash during a backup -> its rerun finished (T)"))
REFERENCE = "same lab, stock agents (never rerun)"
GOAL = "rerun exactly once, ends T; stock: never"


def run(bench, explicit_path: Optional[str] = None) -> List[dict]:
    path = results_path(explicit_path or getattr(bench, "lab_records_path", None))
    try:
        with open(path) as fh:
            records = [r for r in json.load(fh).get("results", []) if r.get("fault") == "node-crash"
                       and r.get("interrupted_jobid") and r.get("nodes") == 2]
    except (OSError, ValueError, AttributeError) as exc:
        return [not_measured(f"lab/{key}", SECTION, what, REFERENCE,
                             f"no lab results with a backup interrupted by a node crash ({exc.__class__.__name__})",
                             GOAL) for key, what in ROWS]
    ours = [r for r in records if r.get("agents") == "ours"]
    stock = [r for r in records if r.get("agents") == "stock"]
    rows = []
    for key, what in ROWS:
        values = [r[key] * 1000.0 for r in ours if r.get(key) is not None and r.get("rerun_status") == "T"]
        if not values:
            rows.append(not_measured(f"lab/{key}", SECTION, what, REFERENCE,
                                     "no node-crash record with a finished rerun (our agents)", GOAL))
            continue
        exactly_once = all(r.get("reruns") == 1 and not r.get("overlap") for r in ours)
        stock_never = all(not r.get("rerun_jobid") for r in stock)
        rows.append({
            "id": f"lab/{key}", "section": SECTION, "what": what, "reference": REFERENCE,
            "status": "measured", "runs": len(values), "ref_runs": len(stock),
            "median_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
            "ref_median_ms": None, "ref_p95_ms": None, "ratio": None, "goal": GOAL,
            "met": exactly_once and (stock_never if stock else True),
            "note": f"{len(values)} crashes with our agents: rerun {'exactly once each' if exactly_once else 'NOT once'}"
                    f", never alongside its orphan; stock agents: "
                    + (f"{len(stock)} crashes, rerun {'never' if stock_never else 'SOMETIMES?'}" if stock
                       else "no record"),
        })
    return rows
