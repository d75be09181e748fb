# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull with the real Director config test (`bacula-dir -t`) and a real catalog."""

from __future__ import annotations

import os

import pytest

from support.gitrepo import Repo
from support.pg import PgCluster
from support.runners import PullRunner
from bacula_ha.ocf.codes import Exit

pytestmark = [pytest.mark.daemons, pytest.mark.root]

CATALOG_PW = "cfgpull-cat-pw"


def director_conf(work: str, port: int, extra: str = "") -> str:
    return f"""Director {{
  Name = cfgpull-dir
  DIRport = 19101
  DirAddress = 127.0.0.1
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "{work}"
  PidDirectory = "{work}"
  Password = "cfgpull-console"
  Messages = Daemon
{extra}}}
@{{CATALOG}}
Messages {{
  Name = Daemon
  console = all, !skipped, !saved
}}
Job {{
  Name = "cfgpull-job"
  Type = Backup
  Client = cfgpull-fd
  FileSet = "cfgpull-fs"
  Storage = cfgpull-sd
  Pool = Default
  Messages = Daemon
}}
FileSet {{
  Name = "cfgpull-fs"
  Include {{
    File = /etc/hostname
  }}
}}
Client {{
  Name = cfgpull-fd
  Address = 127.0.0.1
  Password = "cfgpull-fd-pw"
  Catalog = MyCatalog
}}
Storage {{
  Name = cfgpull-sd
  Address = 127.0.0.1
  Password = "cfgpull-sd-pw"
  Device = FileStorage
  Media Type = File
}}
Pool {{
  Name = Default
  Pool Type = Backup
}}
"""


@pytest.fixture
def catalog():
    pg = PgCluster().init().start()
    try:
        pg.make_bacula_catalog(CATALOG_PW)
        yield pg
    finally:
        pg.destroy()


def test_director_test_refuses_broken_commit_and_keeps_last_known_good(tmp_path, catalog):
    work = tmp_path / "dir-work"
    work.mkdir()
    # the catalog resource sits outside the repository (it holds the password), included by path
    catalog_conf = tmp_path / "catalog.conf"
    catalog_conf.write_text(f'Catalog {{\n  Name = MyCatalog\n  dbname = "bacula"; DB Address = "127.0.0.1"; '
                            f'DB Port = {catalog.port}; dbuser = "bacula"; dbpassword = "{CATALOG_PW}"\n}}\n')
    conf = director_conf(str(work), catalog.port).replace("{CATALOG}", str(catalog_conf))
    repo = Repo(str(tmp_path / "git"))
    good = repo.commit({"bacula-dir.conf": conf})
    pull = PullRunner(tmp_path, repo, validate="true", binary="/usr/sbin/bacula-dir")
    assert pull("start").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.SUCCESS
    assert pull("promote").rc == Exit.SUCCESS and pull.deployed() == good

    broken = repo.commit({"bacula-dir.conf": director_conf(str(work), catalog.port,
                                                           "  Maximum Concurent Jobs = 5\n")
                          .replace("{CATALOG}", str(catalog_conf))})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED
    assert broken[:12] in res.reason
    assert 'Config error: Keyword "MaximumConcurentJobs" not permitted in this resource.' in res.reason
    assert "line 10" in res.reason
    assert pull.deployed() == good
    with open(os.path.join(pull.live, "bacula-dir.conf")) as fh:
        assert "Concurent" not in fh.read()

    # catalog down: the test is inconclusive (bounded by the monitor's budget), not a refusal
    catalog.stop()
    fixed = repo.commit({"bacula-dir.conf": conf + "# fixed\n"})
    res = pull.monitor(role="Promoted", timeout_ms=6000)
    assert res.rc == Exit.DEGRADED_PROMOTED and "inconclusive" in res.reason and fixed[:12] in res.reason
    assert pull.deployed() == good
    catalog.start()
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull.deployed() == fixed
