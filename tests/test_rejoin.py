# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-ha rejoin on real PostgreSQL: a crashed primary that committed rows the new
primary never saw is brought back as its standby (pg_rewind, or pg_basebackup keeping
the old directory), and it refuses what would lose data or cannot work."""

from __future__ import annotations

import os

import pytest

from bacula_ha.admin.rejoin import Rejoin, RejoinError, Source
from support.pg import PG_BIN, PgCluster

pytestmark = [pytest.mark.daemons, pytest.mark.root]


SECRET = "rejoin-s3cret"


@pytest.fixture
def diverged():
    """old (crashed former primary, one diverged row) and new (the promoted standby)."""
    old = PgCluster(name="old").init("wal_log_hints = on\nwal_keep_size = 256MB\n").start()
    new = None
    try:
        old.psql(f"ALTER ROLE postgres PASSWORD '{SECRET}'")
        old.psql("CREATE TABLE catalog(id int primary key, what text)")
        old.psql("INSERT INTO catalog VALUES (1, 'before the failover')")
        new = old.make_standby(name="new")
        old.psql("SELECT pg_switch_wal()")
        assert new.wait_ready()
        _wait(lambda: new.psql("SELECT count(*) FROM catalog") == "1")
        new.promote()
        _wait(lambda: new.psql("SELECT pg_is_in_recovery()") == "f")
        new.psql("INSERT INTO catalog VALUES (2, 'on the new primary')")
        old.psql("INSERT INTO catalog VALUES (3, 'only on the old primary')")   # the divergence
        old.stop("immediate")                                                  # the crash
        yield old, new
    finally:
        old.destroy()
        if new is not None:
            new.destroy()


def _wait(condition, seconds: float = 30) -> None:
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _passfile(cluster: PgCluster) -> str:
    """The libpq password file the command reads as the postgres user (0600)."""
    path = os.path.join(cluster.base, "rejoin.pgpass")
    with open(path, "w") as handle:
        handle.write(f"127.0.0.1:*:*:postgres:{SECRET}\n")
    os.chmod(path, 0o600)
    os.chown(path, *_owner(cluster.datadir))
    return path


def _rejoin(old: PgCluster, new: PgCluster, **kw) -> Rejoin:
    return Rejoin(old.datadir, Source("127.0.0.1", new.port, "postgres", _passfile(old)), PG_BIN, timeout=300, **kw)


def _follow(old: PgCluster, new: PgCluster) -> None:
    """Start `old` as a standby of `new` as PAF would (standby.signal + primary_conninfo)."""
    old.configure("hot_standby = on\n")   # pg_rewind copied new's postgresql.conf (port, sockets)
    with open(os.path.join(old.datadir, "postgresql.auto.conf"), "a") as handle:
        handle.write(f"\nprimary_conninfo = 'host=127.0.0.1 port={new.port} user=postgres application_name=old'\n"
                     "recovery_target_timeline = 'latest'\n")
    open(os.path.join(old.datadir, "standby.signal"), "w").close()
    os.chown(os.path.join(old.datadir, "standby.signal"), *_owner(old.datadir))
    old.start()
    new.psql("INSERT INTO catalog VALUES (4, 'after the rejoin')")
    _wait(lambda: old.psql("SELECT count(*) FROM catalog WHERE id = 4") == "1")


def _owner(path: str):
    st = os.stat(path)
    return st.st_uid, st.st_gid


def test_a_crashed_primary_is_rewound_and_follows(diverged):
    old, new = diverged
    job = _rejoin(old, new)
    result = job.run()
    assert result.method == "rewind"
    # what PAF's probe needs to start it as a standby (pg_rewind alone leaves "in archive recovery",
    # which PAF reads as a crashed standby: it refuses it and the node is fenced again)
    assert job.cluster_state() == "shut down in recovery"
    assert not os.path.exists(os.path.join(old.datadir, "standby.signal"))
    assert not os.path.exists(os.path.join(old.datadir, "postmaster.pid"))
    _follow(old, new)
    assert old.psql("SELECT id FROM catalog ORDER BY id") == "1\n2\n4"   # row 3 is gone, 2 and 4 arrived
    assert old.psql("SELECT pg_is_in_recovery()") == "t"


def test_basebackup_fallback_keeps_the_old_directory(diverged):
    old, new = diverged
    job = _rejoin(old, new)
    job.rewind = lambda: type("R", (), {"returncode": 1, "stdout": "", "stderr": "could not find common ancestor"})()
    with pytest.raises(RejoinError) as info:
        job.run()
    assert info.value.kind == RejoinError.REWIND
    result = job.run(allow_basebackup=True)
    assert result.method == "basebackup"
    assert os.path.isfile(os.path.join(result.kept, "PG_VERSION"))   # the old data, kept
    try:
        _follow(old, new)
        assert old.psql("SELECT id FROM catalog ORDER BY id") == "1\n2\n4"
    finally:
        import shutil
        shutil.rmtree(result.kept, ignore_errors=True)


def test_refuses_a_running_server_and_a_standby_source(diverged):
    old, new = diverged
    old.start()
    with pytest.raises(RejoinError) as info:
        _rejoin(old, new).run()
    assert info.value.kind == RejoinError.RUNNING
    old.stop("immediate")
    with pytest.raises(RejoinError) as info:   # nothing listens there
        Rejoin(old.datadir, Source("127.0.0.1", 1, "postgres"), PG_BIN, timeout=60).run()
    assert info.value.kind == RejoinError.NOT_PRIMARY
    assert os.path.isfile(os.path.join(old.datadir, "PG_VERSION"))   # untouched
