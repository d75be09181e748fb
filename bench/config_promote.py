# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull promote from a warm cache vs the Director's own config test.

A failover promotes config-pull on the survivor: its cache already holds the
fetched and validated commit, so promote should cost about what one `bacula-dir -t`
of the same tree costs, or less (goal: <= 1.5 x, see bench/README.md, Goals). The tree has N clients,
one file each (Client + Job + FileSet), included from bacula-dir.conf: 10,000 in a
full run, 100 with --quick. Before each timed promote the instance is demoted and
config_dir removed (untimed), so every promote really deploys.
"""

from __future__ import annotations

import os
from typing import List

from agent_actions import Instance
from fixtures import BACULA_DIR, Bench, Unavailable
from timing import command, interleaved, not_measured, row

SECTION = "config-pull"
GOAL = 1.5
FULL_CLIENTS = 10_000
QUICK_CLIENTS = 100


def _main_conf(work: str, catalog_conf: str, clients: int) -> str:
    # Relative includes: config-pull runs `bacula-dir -t` inside the staged tree.
    includes = "\n".join(f"@clients/c{i:05d}.conf" for i in range(clients))
    return f"""# bench: {clients} clients, one file each
Director {{
  Name = bench-dir
  DIRport = 19199
  DirAddress = 127.0.0.1
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "{work}"
  PidDirectory = "{work}"
  Password = "bench-console"
  Messages = Daemon
}}
@{catalog_conf}
Messages {{
  Name = Daemon
  console = all, !skipped, !saved
}}
Storage {{
  Name = bench-sd
  Address = 127.0.0.1
  Password = "bench-sd-pw"
  Device = FileStorage
  Media Type = File
}}
Pool {{
  Name = Default
  Pool Type = Backup
}}
{includes}
"""


def _client_conf(i: int) -> str:
    return f"""Client {{
  Name = c{i:05d}-fd
  Address = 127.0.0.1
  Password = "fd-{i}"
  Catalog = MyCatalog
}}
FileSet {{
  Name = "fs-c{i:05d}"
  Include {{
    File = /etc/hostname
  }}
}}
Job {{
  Name = "job-c{i:05d}"
  Type = Backup
  Client = c{i:05d}-fd
  FileSet = "fs-c{i:05d}"
  Storage = bench-sd
  Pool = Default
  Messages = Daemon
}}
"""


def run(bench: Bench) -> List[dict]:
    clients = QUICK_CLIENTS if bench.quick else FULL_CLIENTS
    what = f"bacula-config-pull promote, warm cache, {clients:,} clients (Client+Job+FileSet, one file each)"
    ref_label = "bacula-dir -t of the same tree"
    row_id = "config-pull/promote-vs-dir-t"
    try:
        bench.require_file(BACULA_DIR, "bacula-director")
        catalog = bench.catalog("empty")
        repo = bench.git_repo("promote")
    except Unavailable as exc:
        return [not_measured(row_id, SECTION, what, ref_label, str(exc), f"<= {GOAL:g} x")]
    work = bench.dir("promote", "work")
    catalog_conf = bench.path("promote", "catalog.conf")
    with open(catalog_conf, "w") as fh:
        fh.write(f'Catalog {{\n  Name = MyCatalog\n  dbname = "bacula"; DB Address = "127.0.0.1"; '
                 f'DB Port = {catalog.pg.port}; dbuser = "bacula"; dbpassword = "{catalog.password}"\n}}\n')
    live = bench.path("promote", "etc", "bacula")
    files = {"bacula-dir.conf": _main_conf(work, catalog_conf, clients)}
    files.update({f"clients/c{i:05d}.conf": _client_conf(i) for i in range(clients)})
    bench.log(f"config-pull: committing {clients:,} client files")
    repo.commit(files, "bench tree")
    pull = Instance(bench, "config-pull-promote", bench.agent("bacula-config-pull"), {
        "repository": repo.url, "config_dir": live, "cache_dir": bench.dir("promote", "cache"),
        "validate": "true", "binary": BACULA_DIR}, instance="bench-promote:0")
    for action in ("start", "promote"):
        rc = pull.action(action)()
        if rc != 0:
            return [not_measured(row_id, SECTION, what, ref_label,
                                 f"config-pull {action} failed (rc {rc}) in the bench environment", f"<= {GOAL:g} x")]
    tree = os.path.realpath(live)
    demote = pull.action("demote")

    def reset() -> int:
        rc = demote()
        if os.path.islink(live):
            os.unlink(live)
        return rc

    bench.log(f"config-pull: promote vs bacula-dir -t ({clients:,} clients)")
    try:
        samples = interleaved({
            "promote": pull.action("promote"),
            "dir-t": command([BACULA_DIR, "-t", "-c", os.path.join(tree, "bacula-dir.conf")], cwd=tree),
        }, bench.runs(15, 3), bench.warmup, before={"promote": reset})
    finally:
        pull.action("stop")()
    note = "config_dir removed and the instance demoted before each promote (untimed)"
    if bench.quick:
        note += f"; quick mode: {clients} clients, the goal is set for {FULL_CLIENTS:,} (bacula-dir -t grows with the tree, promote hardly)"
    return [row(row_id, SECTION, what, ref_label, samples["promote"], samples["dir-t"], goal=GOAL, note=note)]
