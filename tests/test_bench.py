# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/: the smoke run CI does (`bench/run --quick`) and the row bookkeeping.

No timing is asserted anywhere (speed is bench/'s output, never a test
condition); these tests check that every benchmark still runs and reports every
row with numbers, or says plainly why it could not.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from support.paths import ROOT

BENCH = os.path.join(ROOT, "bench")
AGENTS = ("bacula-director", "bacula-catalog-check", "bacula-config-pull")
AGENT_KEYS = ("probe", "meta-data", "validate-all", "monitor-0", "monitor-10", "monitor-20", "start", "stop")
EXPECTED = ([f"agent/{a}/{k}" for a in AGENTS for k in AGENT_KEYS]
            + [f"agent/{a}/{k}/vs-dummy" for a in AGENTS for k in AGENT_KEYS]
            + ["director/monitor-10-vs-bconsole", "director/monitor-20-vs-pgsql",
               "director/monitor-0-vs-anything", "director/probe-big-config", "director/probe-big-vs-small-config",
               "catalog/monitor-big-vs-empty", "catalog/monitor-vs-pgsql",
               "config-pull/promote-vs-dir-t"])
LAB = ["lab/node-crash", "lab/director-kill9"]
NUMERIC = ("median_ms", "p95_ms", "ref_median_ms", "ref_p95_ms", "ratio")


def _bench_modules():
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    import lab_failover
    import timing
    return lab_failover, timing


@pytest.mark.daemons
@pytest.mark.root
def test_quick_run_reports_every_row(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "BACULA_HA_LAB_RESULTS": str(tmp_path / "no-lab-results.json")}
    proc = subprocess.run([os.path.join(BENCH, "run"), "--quick", "--output-dir", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "results.json").read_text())
    assert result["quick"] is True
    for key in ("nproc", "cpu_model", "kernel", "python", "pacemaker", "bacula_director", "postgresql"):
        assert result["machine"].get(key), key
    rows = {r["id"]: r for r in result["rows"]}
    assert set(EXPECTED + LAB) <= set(rows), sorted(set(EXPECTED + LAB) - set(rows))
    for row_id in EXPECTED:  # everything these need is installed in CI: they must be measured
        r = rows[row_id]
        assert r["status"] == "measured", (row_id, r.get("reason"))
        for key in NUMERIC:
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] > 0, (row_id, key)
        assert r["runs"] >= 3
        if r.get("goal"):
            assert isinstance(r["met"], bool), row_id
    for row_id in LAB:  # no lab results here: an explicit reason, no numbers
        assert rows[row_id]["status"] == "not measured"
        assert "lab results" in rows[row_id]["reason"]
        assert rows[row_id]["median_ms"] is None
    assert rows["agent/bacula-director/probe"]["goal"] == "<= 1.5 x"
    assert rows["director/monitor-20-vs-pgsql"]["goal"] == "<= 1 x (wall and CPU)"
    for stack in ("ours", "stock"):   # the monitor set's cost, to choose the shipped intervals from
        assert result["monitor_set"][stack]["total_cpu_s_per_hour"] > 0
    text = (out / "results.md").read_text()
    for title in ("Agent actions", "Director console", "Catalog size", "Configuration promote", "Lab failover",
                  "Monitor set: CPU seconds per hour"):
        assert f"#### {title}" in text
    assert text.count("not measured:") >= len(LAB)
    # Nothing of this machine's scratch paths leaks into the results.
    blob = json.dumps(result) + text
    assert "/tmp/" not in blob and str(tmp_path) not in blob and "bha-bench-" not in blob


def test_lab_rows_from_a_results_file(tmp_path):
    lab_failover, _ = _bench_modules()

    def rec(fault, agents, detected, answering, fenced=None, ok=True):
        return {"fault": fault, "arch": "drbd", "nodes": 2, "agents": agents, "detected_s": detected,
                "fenced_s": fenced, "started_s": answering - 0.5, "answering_s": answering, "ok": ok}
    path = tmp_path / "fault-results.json"
    path.write_text(json.dumps({"format": 1, "results": [
        rec("node-crash", "ours", 6.7, 12.0, fenced=7.5), rec("node-crash", "ours", 6.8, 12.4, fenced=7.6),
        rec("node-crash", "stock", 6.6, 11.6, fenced=7.4),
        rec("director-kill9", "ours", 2.0, 4.9), rec("director-kill9", "stock", 2.0, 3.0),
        rec("director-kill9", "stock", 2.0, 99.0, ok=False),  # failed runs are not counted
    ]}))
    rows = {r["id"]: r for r in lab_failover.run(None, str(path))}
    crash = rows["lab/node-crash"]
    assert crash["status"] == "measured" and crash["met"] is True
    assert crash["median_ms"] == pytest.approx(12200.0) and crash["ref_median_ms"] == pytest.approx(11600.0)
    assert crash["breakdown"]["ours"]["fencing_s"] == pytest.approx(0.8)
    kill = rows["lab/director-kill9"]
    assert kill["met"] is False and kill["ref_median_ms"] == pytest.approx(3000.0)

    path.write_text(json.dumps({"format": 1, "results": [rec("node-crash", "ours", 6.7, 12.0)]}))
    rows = {r["id"]: r for r in lab_failover.run(None, str(path))}
    assert rows["lab/node-crash"]["status"] == "not measured"
    assert "stock agents" in rows["lab/node-crash"]["reason"]
    path.write_text("{not json")
    rows = lab_failover.run(None, str(path))
    assert all(r["status"] == "not measured" and "unreadable" in r["reason"] for r in rows)


def test_interleaving_and_percentiles():
    _, timing = _bench_modules()
    order = []
    subjects = {name: (lambda n=name: order.append(n) or 0) for name in "abc"}
    samples = timing.interleaved(subjects, runs=3, warmup=1)
    assert order == list("abc" "bca" "cab" "abc")  # rotating, warm-up round not recorded
    assert all(len(s.ms) == 3 and s.rcs == [0, 0, 0] for s in samples.values())
    assert timing.percentile([1, 2, 3, 4], 50) == 2.5
    assert timing.percentile([5.0], 95) == 5.0
    assert math.isnan(timing.percentile([], 50))


def test_failing_command_is_an_error_row_not_a_measurement():
    _, timing = _bench_modules()
    target, ref = timing.Samples("t"), timing.Samples("r")
    target.ms, target.rcs = [10.0, 12.0], [0, 1]
    ref.ms, ref.rcs = [5.0, 5.0], [0, 0]
    r = timing.row("x", "agents", "thing", "ref", target, ref, goal=2.0)
    assert r["status"] == "error" and r["met"] is False and "exited [1]" in r["reason"]


def test_cpu_too_goal_needs_both_ratios():
    """A stock comparison is met only when neither the wall nor the CPU ratio exceeds the goal."""
    _, timing = _bench_modules()
    target, ref = timing.Samples("t"), timing.Samples("r")
    target.ms, target.cpu_ms, target.rcs = [10.0], [30.0], [0]
    ref.ms, ref.cpu_ms, ref.rcs = [20.0], [20.0], [0]
    assert timing.row("x", "agents", "t", "r", target, ref, goal=1.0)["met"] is True
    both = timing.row("x", "agents", "t", "r", target, ref, goal=1.0, cpu_too=True)
    assert both["met"] is False and both["ratio"] == 0.5 and both["cpu_ratio"] == 1.5


@pytest.mark.root
def test_missing_prerequisites_are_rows_not_crashes():
    """Without root (no PostgreSQL, no Director) the daemon rows say why, and the run still writes."""
    import pathlib
    import shutil
    import tempfile
    out = pathlib.Path(tempfile.mkdtemp(prefix="bha-bench-nobody-"))  # pytest's tmp_path is 0700
    os.chmod(out, 0o777)
    try:
        _run_as_nobody(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _run_as_nobody(out):
    proc = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", os.path.join(BENCH, "run"),
                           "--quick", "--only", "director", "--only", "catalog", "--only", "config-pull",
                           "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["id"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    for row_id in ("director/monitor-10-vs-bconsole", "catalog/monitor-big-vs-empty", "catalog/monitor-vs-pgsql",
                   "config-pull/promote-vs-dir-t"):
        assert rows[row_id]["status"] == "not measured"
        assert "needs root" in rows[row_id]["reason"]
    assert "Traceback" not in proc.stderr


def test_hung_command_is_killed_and_stdin_is_fed():
    _, timing = _bench_modules()
    assert timing.command(["/bin/sleep", "60"], timeout=0.2)() == -9
    assert timing.command(["/bin/sh", "-c", 'read line && test "$line" = hello'], stdin="hello\n")() == 0
    assert timing.command(["/bin/sh", "-c", "exit 3"])() == 3
