# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull: atomic deployments under a concurrent reader, and histories (hypothesis)."""

from __future__ import annotations

import os
import tempfile
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support.gitrepo import Repo, allowed_signers, ssh_key
from support.runners import PullRunner
from test_configpull import fake_director
from bacula_ha.ocf.codes import Exit

N_FILES = 12


def generation(i: int):
    """A tree whose every file names generation i (so a mixed read is visible)."""
    files = {f"conf.d/f{n:02d}.conf": f"generation {i}\n" for n in range(N_FILES)}
    files["bacula-dir.conf"] = f"generation {i}\n"
    return files


def read_tree(live: str):
    """Read all files through ONE resolution of config_dir, as a correct reader does.

    Returns (set of contents, number of files), or None when the tree was retired
    (pruned) while being read.
    """
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    try:
        contents, count = set(), 0
        opener_fd = fd
        for name in sorted(os.listdir(fd)):
            if name == "conf.d":
                sub = os.open("conf.d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                try:
                    for inner in sorted(os.listdir(sub)):
                        with open(inner, opener=lambda p, f: os.open(p, f, dir_fd=sub)) as fh:
                            contents.add(fh.read())
                            count += 1
                finally:
                    os.close(sub)
                continue
            with open(name, opener=lambda p, f: os.open(p, f, dir_fd=opener_fd)) as fh:
                contents.add(fh.read())
                count += 1
        return contents, count
    except FileNotFoundError:
        if os.fstat(fd).st_nlink == 0:
            return None  # this old tree was pruned while we read it: not a mixed view
        raise
    finally:
        os.close(fd)


def test_reader_never_sees_a_mixed_or_partial_tree(tmp_path):
    repo = Repo(str(tmp_path / "git"))
    repo.commit(generation(0))
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS

    stop = threading.Event()
    errors, seen, reads = [], set(), [0]

    def reader():
        while not stop.is_set() and len(errors) < 5:
            time.sleep(0.0005)  # let the deployments run (GIL)
            try:
                result = read_tree(pull.live)
            except Exception as exc:  # a missing config_dir or file is a failure too
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if result is None:
                continue
            contents, count = result
            if len(contents) != 1 or count != N_FILES + 1:
                errors.append(f"mixed or partial tree: {sorted(contents)} in {count} files")
            seen.update(contents)
            reads[0] += 1

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(1, 16):
            commit = repo.commit(generation(i))
            assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
            assert pull.deployed() == commit
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert reads[0] >= 15 and len(seen) >= 3          # the reader really ran across deployments
    assert pull.read() == "generation 15\n"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("cfgpull-keys")
    good, other = ssh_key(str(base), "admin"), ssh_key(str(base), "intruder")
    return {"good": good, "other": other, "allowed": allowed_signers(str(base / "allowed"), good),
            "fake": fake_director(base)}


KINDS = st.sampled_from(["good", "broken", "unsigned", "wrong-key"])


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(KINDS, min_size=1, max_size=3), min_size=1, max_size=3))
def test_deployed_commit_is_always_the_newest_good_one(keys, batches):
    with tempfile.TemporaryDirectory(prefix="bha-cfgpull-") as base:
        repo = Repo(os.path.join(base, "git"))
        newest_good = repo.commit({"bacula-dir.conf": "Director { gen 0 }\n"}, ssh=keys["good"])
        pull = PullRunner(base, repo, allowed_signers=keys["allowed"], validate="true", binary=keys["fake"])
        assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
        n = 0
        tainted = False     # a commit the policy refuses sits in the history: nothing above it goes live
        for batch in batches:
            for kind in batch:
                n += 1
                text = f"Director {{ gen {n} }}\n" + ("BROKEN\n" if kind == "broken" else "")
                signer = {"good": keys["good"], "broken": keys["good"], "unsigned": None,
                          "wrong-key": keys["other"]}[kind]
                commit = repo.commit({"bacula-dir.conf": text}, ssh=signer)
                tainted = tainted or kind in ("unsigned", "wrong-key")
                if kind == "good" and not tainted:
                    newest_good = commit
            res = pull.monitor(role="Promoted")
            assert res.rc == (Exit.RUNNING_PROMOTED if batch[-1] == "good" and not tainted
                              else Exit.DEGRADED_PROMOTED), res.reason
            assert pull.deployed() == newest_good
            if res.rc == Exit.DEGRADED_PROMOTED:
                assert repo.head()[:12] in res.reason
