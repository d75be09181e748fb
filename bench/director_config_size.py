# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-director's probe with a big configuration vs a bare Python, and vs the
same probe with the small test configuration.

A probe runs on every node at every cluster start, resource cleanup and
transition after a failure; it has to find the pid file, which means reading
the Director's configuration (PidDirectory, DIRport). With 10,000 clients (one
included file each, as in the config-pull row) that must still be cheap: the
probe goal (bench/README.md, Goals) is <= 2 x the bare interpreter, whatever the size.
"""

from __future__ import annotations

import os
from typing import List

from agent_actions import Instance
from config_promote import FULL_CLIENTS, QUICK_CLIENTS, _client_conf, _main_conf
from fixtures import PYTHON_BASELINE, Bench, Unavailable
from timing import command, interleaved, not_measured, row

SECTION = "director"
GOAL = 2.0


def run(bench: Bench) -> List[dict]:
    clients = QUICK_CLIENTS if bench.quick else FULL_CLIENTS
    what = f"bacula-director probe, {clients:,}-client configuration (one included file each)"
    try:
        lab = bench.director_lab()
    except Unavailable as exc:
        return [not_measured("director/probe-big-config", SECTION, what, "python3 -I -S -c pass", str(exc),
                             f"<= {GOAL:g} x"),
                not_measured("director/probe-big-vs-small-config", SECTION, what, "same probe, small configuration",
                             str(exc))]
    tree = bench.dir("director-big")
    os.makedirs(os.path.join(tree, "clients"), exist_ok=True)
    # The lab's own configuration plus N clients: same Director, same catalog include.
    with open(lab.config) as fh:
        base = fh.read()
    for i in range(clients):
        with open(os.path.join(tree, "clients", f"c{i:05d}.conf"), "w") as fh:
            fh.write(_client_conf(i).replace("Storage = bench-sd", "Storage = File1")
                     .replace("Messages = Daemon", "Messages = Standard").replace("Pool = Default", "Pool = File"))
    big = os.path.join(tree, "bacula-dir.conf")
    with open(big, "w") as fh:
        fh.write(base + "".join(f"@{tree}/clients/c{i:05d}.conf\n" for i in range(clients)))
    small_agent = Instance(bench, "director-small", bench.agent("bacula-director"), lab.params(), "probe-small")
    big_agent = Instance(bench, "director-big", bench.agent("bacula-director"), lab.params(config=big), "probe-big")
    bench.log(f"director: probe with {clients:,} clients vs small configuration vs python")
    samples = interleaved({"big": big_agent.action("monitor"), "small": small_agent.action("monitor"),
                           "python": command(PYTHON_BASELINE)}, bench.runs(20, 3), bench.warmup)
    return [row("director/probe-big-config", SECTION, what, "python3 -I -S -c pass", samples["big"],
                samples["python"], goal=GOAL, expected_rc=(7,)),
            row("director/probe-big-vs-small-config", SECTION, what, "same probe, small test configuration",
                samples["big"], samples["small"], expected_rc=(7,), ref_expected_rc=(7,))]
