# SPDX-License-Identifier: GPL-2.0-or-later
"""Wall-clock timing of commands, interleaved, and the rows bench/run reports.

Machines here are noisy, so only ratios measured side by side in the same run
mean anything: every subject of a comparison is timed in the same loop, in a
rotating order (A B C, B C A, ...), so a burst of load hits all of them alike.
A sample is `time.perf_counter()` around one `subprocess.run`, spawn included:
that is what Pacemaker's executor pays too. The CPU time (user + system) of the
command and its children is recorded beside it: under load, wall time stretches
with the machine's other work, CPU time much less, so a CPU ratio close to the
wall ratio says the comparison was fair, and a big gap says "look again".
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

#: A subject: a callable run once per sample, returning the exit code.
Action = Callable[[], int]


def command(argv: Sequence[str], env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None,
            timeout: float = 120, cwd: Optional[str] = None) -> Action:
    """An Action running `argv` (output discarded); returns its exit code.

    Waits with a blocking wait4(), never `subprocess.run(timeout=...)`: with a
    timeout, Popen.wait() polls with doubling sleeps (0.5, 1, 2, 4, ... 50 ms),
    which rounds every measured time up to the next step (7.5, 15.5, 31.5 ms...)
    and makes ratios of fast commands meaningless. A timer kills a hung command.
    """
    data = stdin.encode() if stdin is not None else None

    def run() -> int:
        proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None,
                                stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            if data is not None:
                try:
                    proc.stdin.write(data)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            _, status, _ = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        return proc.returncode
    return run


class Samples:
    """Durations (ms) and exit codes of one subject."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ms: List[float] = []
        self.cpu_ms: List[float] = []
        self.rcs: List[int] = []

    @property
    def median(self) -> float:
        return percentile(self.ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.ms, 95)

    @property
    def cpu_median(self) -> float:
        return percentile(self.cpu_ms, 50)

    def unexpected_rcs(self, expected: Sequence[int]) -> List[int]:
        return sorted({rc for rc in self.rcs if rc not in expected})


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method); NaN when empty."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * pct / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def interleaved(subjects: Mapping[str, Action], runs: int, warmup: int = 1,
                before: Optional[Mapping[str, Action]] = None) -> Dict[str, Samples]:
    """Time every subject `runs` times, rotating their order each round.

    `before[name]`, when given, runs untimed right before each timed sample of
    `name` (to put the subject back in the state the measurement needs).
    """
    names = list(subjects)
    result = {name: Samples(name) for name in names}
    before = before or {}
    for round_no in range(warmup + runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            if name in before:
                before[name]()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            rc = subjects[name]()
            elapsed = (time.perf_counter() - t0) * 1000.0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if round_no >= warmup:
                result[name].ms.append(elapsed)
                result[name].cpu_ms.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000.0)
                result[name].rcs.append(rc)
    return result


def row(row_id: str, section: str, what: str, reference: str, target: Samples, ref: Samples, *,
        goal: Optional[float] = None, expected_rc: Sequence[int] = (0,), ref_expected_rc: Sequence[int] = (0,),
        note: str = "", cpu_too: bool = False) -> Dict[str, object]:
    """A measured row: target vs reference, ratio of medians, goal `ratio <= goal`.

    `cpu_too`: the goal holds for the CPU ratio as well (comparisons with a stock
    agent, where the wall time alone could hide work done in another process).
    """
    problems = []
    bad = target.unexpected_rcs(expected_rc)
    if bad:
        problems.append(f"{what} exited {bad} (expected {list(expected_rc)})")
    bad = ref.unexpected_rcs(ref_expected_rc)
    if bad:
        problems.append(f"reference exited {bad} (expected {list(ref_expected_rc)})")
    ratio = target.median / ref.median if ref.median > 0 else math.nan
    cpu_ratio = target.cpu_median / ref.cpu_median if ref.cpu_median > 0 else None
    met = None
    if goal is not None:
        met = ratio <= goal and (not cpu_too or (cpu_ratio is not None and cpu_ratio <= goal))
    out: Dict[str, object] = {
        "id": row_id, "section": section, "what": what, "reference": reference,
        "status": "measured", "runs": len(target.ms),
        "median_ms": round(target.median, 3), "p95_ms": round(target.p95, 3),
        "ref_median_ms": round(ref.median, 3), "ref_p95_ms": round(ref.p95, 3),
        "ratio": round(ratio, 3),
        "cpu_median_ms": round(target.cpu_median, 3), "ref_cpu_median_ms": round(ref.cpu_median, 3),
        "cpu_ratio": round(cpu_ratio, 3) if cpu_ratio is not None else None,
        "goal": (f"<= {goal:g} x" + (" (wall and CPU)" if cpu_too else "")) if goal is not None else None,
        "met": met,
        "note": note,
    }
    if problems:
        # A failing command is not a measurement of the thing: say so, never hide it.
        out["status"] = "error"
        out["met"] = False if goal is not None else None
        out["reason"] = "; ".join(problems)
    return out


def not_measured(row_id: str, section: str, what: str, reference: str, reason: str,
                 goal: Optional[str] = None) -> Dict[str, object]:
    """A row whose prerequisites are missing: explicit, never a crash."""
    return {"id": row_id, "section": section, "what": what, "reference": reference,
            "status": "not measured", "reason": reason, "goal": goal, "met": None,
            "runs": 0, "median_ms": None, "p95_ms": None, "ref_median_ms": None, "ref_p95_ms": None,
            "ratio": None, "note": ""}


def timed(fn: Callable[[], object]) -> Tuple[object, float]:
    """(result, seconds) of one call, for setup steps the report mentions."""
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0
