"""The Director's deep (level 10) monitor vs one bconsole `status dir` round trip.

Both ask the running Director the same authenticated question; the agent does it
in-process (no bconsole, no second process), so the goal (bench/README.md, Goals) is <= 0.5 x.
bconsole's own cost is about 50 ms, and both pay the Director's occasional
whole-second wake-up of its worker thread (see p95).
"""

from __future__ import annotations

from typing import List

from agent_actions import Instance
from fixtures import BCONSOLE, Bench, Unavailable
from timing import command, interleaved, not_measured, row

SECTION = "director"
GOAL = 0.5
WHAT = "bacula-director monitor, OCF_CHECK_LEVEL=10"
REF = "bconsole `status dir`"


def run(bench: Bench) -> List[dict]:
    try:
        bench.require_file(BCONSOLE, "bacula-console")
        lab = bench.director_lab()
    except Unavailable as exc:
        return [not_measured("director/monitor-10-vs-bconsole", SECTION, WHAT, REF, str(exc), f"<= {GOAL:g} x")]
    agent = Instance(bench, "bacula-director", bench.agent("bacula-director"), lab.params(), instance="bench-dir")
    rc = agent.action("start")()
    if rc != 0:
        return [not_measured("director/monitor-10-vs-bconsole", SECTION, WHAT, REF,
                             f"the agent could not start the Director (rc {rc})", f"<= {GOAL:g} x")]
    try:
        bench.log("director: level-10 monitor vs bconsole status dir")
        samples = interleaved({
            "monitor": agent.action("monitor", interval_ms=60000, check_level=10),
            "bconsole": command([BCONSOLE, "-c", lab.console_config], stdin="status dir\nquit\n"),
        }, bench.runs(30, 5), bench.warmup)
    finally:
        agent.action("stop")()
    return [row("director/monitor-10-vs-bconsole", SECTION, WHAT, REF, samples["monitor"], samples["bconsole"],
                goal=GOAL)]
