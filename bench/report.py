# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/results.json and the markdown table (bench/results.md)."""

from __future__ import annotations

import json
import os
from typing import Dict, List

SECTIONS = (("agents", "Agent actions"), ("director", "Director console"), ("catalog", "Catalog size"),
            ("config-pull", "Configuration promote"), ("lab", "Lab failover"))


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _met(row: Dict[str, object]) -> str:
    if row.get("status") == "not measured":
        return "–"
    if row.get("status") == "error":
        return "**no (error)**"
    met = row.get("met")
    return "–" if met is None else ("yes" if met else "**NO**")


def markdown(result: Dict[str, object]) -> str:
    facts = result["machine"]
    lines = [
        f"Benchmarks ({'quick smoke run' if result['quick'] else 'full run'}), {facts['date_utc']}: "
        f"{facts['nproc']} CPU ({facts['cpu_model']}), {facts['memory_gib']} GiB, kernel {facts['kernel']}, "
        f"Python {facts['python']}, Pacemaker {facts['pacemaker']}, resource-agents {facts['resource_agents']}, "
        f"Bacula {facts['bacula_director']}, PostgreSQL {facts['postgresql']}; load at start "
        f"{facts['loadavg_at_start']}.",
        "",
        "Times in ms (median and p95 of the runs); ratio = median / reference median, both measured "
        "in the same run, interleaved. Only the ratios mean anything. CPU ratio: the same for the CPU "
        "time (user + system) of the commands, less sensitive to the machine's other load; the goals "
        "are judged on the wall-clock ratio, and those against a stock agent on the CPU ratio too.",
    ]
    if result.get("note"):
        lines += ["", f"Note on this run: {result['note']}"]
    if facts.get("installed_agents_match_checkout") is False:
        lines += ["", "Note: the installed agents (`make install`, used by the lab nodes) differ from this "
                      "checkout; the agent rows measure the checkout's."]
    rows: List[Dict[str, object]] = result["rows"]
    for key, title in SECTIONS:
        section = [r for r in rows if r["section"] == key]
        if not section:
            continue
        lines += ["", f"#### {title}", "",
                  "| what | reference | median | p95 | ref. median | ratio | CPU ratio | goal | met |",
                  "|---|---|---:|---:|---:|---:|---:|---|---|"]
        for r in section:
            if r["status"] == "not measured":
                lines.append(f"| {r['what']} | {r['reference']} | not measured: {r['reason']} | | | | | "
                             f"{r.get('goal') or '–'} | – |")
                continue
            ratio = "–" if r.get("ratio") is None else f"{r['ratio']:.2f}"
            cpu = "–" if r.get("cpu_ratio") is None else f"{r['cpu_ratio']:.2f}"
            what = r["what"] + (f" (error: {r['reason']})" if r["status"] == "error" else "")
            lines.append(f"| {what} | {r['reference']} | {_ms(r['median_ms'])} | {_ms(r['p95_ms'])} | "
                         f"{_ms(r['ref_median_ms'])} | {ratio} | {cpu} | {r.get('goal') or '–'} | {_met(r)} |")
        notes = [r for r in section if r.get("note") or r.get("breakdown")]
        if notes:
            lines.append("")
        for r in notes:
            extra = r.get("note") or ""
            if r.get("breakdown"):
                parts = []
                for who, phases in r["breakdown"].items():
                    shown = ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in phases.items() if v is not None)
                    parts.append(f"{who}: {shown}")
                extra = (extra + "; " if extra else "") + "medians " + " / ".join(parts)
            lines.append(f"* `{r['id']}`: {extra}")
    lines += _monitor_set(result.get("monitor_set"))
    missed = [r for r in rows if r.get("met") is False]
    lines += ["", "Goals missed: " + (", ".join(r["id"] for r in missed) if missed else "none") + "."]
    return "\n".join(lines) + "\n"


def _monitor_set(data) -> List[str]:
    """The monitor set's CPU seconds per hour per node, ours vs stock (bench/director_console.py)."""
    if not data:
        return []
    lines = ["", "#### Monitor set: CPU seconds per hour on the node running the Director", "",
             "| stack | monitor | interval | CPU per run (ms, median) | CPU s / hour |", "|---|---|---:|---:|---:|"]
    for who in ("ours", "stock"):
        side = data[who]
        for m in side["monitors"]:
            cpu = "–" if m["cpu_ms"] is None else f"{m['cpu_ms']:.1f}"
            per_hour = "–" if m["cpu_s_per_hour"] is None else f"{m['cpu_s_per_hour']:.1f}"
            lines.append(f"| {who} | {m['monitor']} | {m['interval_s']} s | {cpu} | {per_hour} |")
        lines.append(f"| **{who}** | **total** | | | **{side['total_cpu_s_per_hour']:.1f}** |")
    for key, label in (("depth0_choices", "bacula-director depth 0"), ("anything_choices", "stock anything")):
        if data.get(key):
            lines.append("")
            lines.append(f"{label} at other intervals (CPU s / hour): " +
                         ", ".join(f"{i} s: {v:.1f}" for i, v in data[key].items()))
    return lines


def write(result: Dict[str, object], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for name, text in (("results.json", json.dumps(result, indent=1) + "\n"), ("results.md", markdown(result))):
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
