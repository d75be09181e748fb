# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull with the real Director config test (`bacula-dir -t`) and a real catalog."""

from __future__ import annotations

import os

import pytest

from bacula_ha.lab import dirconf
from support.gitrepo import Repo
from support.pg import PgCluster
from support.runners import PullRunner
from bacula_ha.ocf.codes import Exit

pytestmark = [pytest.mark.daemons, pytest.mark.root]

CATALOG_PW = "cfgpull-cat-pw"


def director_conf(work: str, catalog_conf: str) -> str:
    """A Director listening on loopback whose Catalog (with its password) lives outside the repository."""
    return dirconf.director_conf(dirconf.LabDirectorConf(
        working_dir=work, db_address="127.0.0.1", db_password="", console_password="cfgpull-console",
        pid_dir=work, name="cfgpull-dir", port=19101, listen="127.0.0.1", catalog_file=catalog_conf))


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
    catalog_conf.write_text(dirconf.catalog_resource("127.0.0.1", catalog.port, CATALOG_PW))
    conf = director_conf(str(work), str(catalog_conf))
    repo = Repo(str(tmp_path / "git"))
    good = repo.commit({"bacula-dir.conf": conf})
    pull = PullRunner(tmp_path, repo, validate="true", binary="/usr/sbin/bacula-dir")
    assert pull("start").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.SUCCESS
    assert pull("promote").rc == Exit.SUCCESS and pull.deployed() == good

    bad = conf.replace("Maximum Concurrent Jobs = 5", "Maximum Concurent Jobs = 5", 1)
    bad_line = bad.splitlines().index("  Maximum Concurent Jobs = 5") + 1
    broken = repo.commit({"bacula-dir.conf": bad})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED
    assert broken[:12] in res.reason
    assert 'Config error: Keyword "MaximumConcurentJobs" not permitted in this resource.' in res.reason
    assert f"line {bad_line}," in res.reason
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
