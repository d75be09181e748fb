# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull against real git repositories (each test makes its own remote and clone)."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from support.agents import ocf_env
from support.fake_server import LoopbackServer
from support.gitrepo import Repo, allowed_signers, git, gpg_key, gpg_stop, ssh_key
from support.paths import agent_path
from support.runners import PullRunner
from support.scripts import shell_script
from bacula_ha.ocf.codes import Exit

FAKE_DIR = """# A parse-only stand-in for `bacula-dir -t -c FILE`: a line containing BROKEN is an error.
config="$3"
line=$(grep -n BROKEN "$config" | head -1 | cut -d: -f1)
if [ -n "$line" ]; then
  echo "bacula-dir: ERROR TERMINATION at parse_conf.c:1157"
  echo 'Config error: Keyword "BROKEN" not permitted in this resource.'
  echo "            : line $line, col 1 of file $config"
  exit 1
fi
exit 0
"""


def fake_director(base) -> str:
    return shell_script(os.path.join(str(base), "fake-bacula-dir"), FAKE_DIR)


@pytest.fixture
def repo(tmp_path):
    r = Repo(str(tmp_path / "git"))
    return r


@pytest.fixture
def signer(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    good = ssh_key(str(keys), "admin")
    other = ssh_key(str(keys), "intruder")
    signers = allowed_signers(str(keys / "allowed_signers"), good)
    return {"good": good, "other": other, "allowed": signers}


# -- basic lifecycle ---------------------------------------------------------
def test_lifecycle_never_deletes_live_config(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull.probe().rc == Exit.NOT_RUNNING          # probe, never started
    assert pull.monitor().rc == Exit.NOT_RUNNING
    assert pull("start").rc == Exit.SUCCESS
    assert pull("start").rc == Exit.SUCCESS                           # idempotent
    assert pull.monitor().rc == Exit.SUCCESS
    assert pull.probe().rc == Exit.SUCCESS          # probe of a running instance
    assert pull.deployed() is None                         # unpromoted: nothing deployed
    assert pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == first and pull.read() == "one\n"
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull.probe().rc == Exit.RUNNING_PROMOTED
    assert pull("demote").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.SUCCESS
    assert pull.read() == "one\n"
    assert pull("stop").rc == Exit.SUCCESS
    assert pull("stop").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.NOT_RUNNING
    assert pull.read() == "one\n"                          # stop keeps the live config
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == first


def test_existing_real_config_dir_is_moved_aside_never_deleted(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "from git\n"})
    pull = PullRunner(tmp_path, repo)
    os.makedirs(pull.live)
    with open(os.path.join(pull.live, "bacula-dir.conf"), "w") as fh:
        fh.write("hand made\n")
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == first
    backups = [n for n in os.listdir(os.path.dirname(pull.live)) if n.startswith("bacula.bha-backup-")]
    assert len(backups) == 1
    with open(os.path.join(os.path.dirname(pull.live), backups[0], "bacula-dir.conf")) as fh:
        assert fh.read() == "hand made\n"


@pytest.mark.root
def test_deployed_files_have_owner_group_mode(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "x\n", "conf.d/client.conf": "y\n"})
    pull = PullRunner(tmp_path, repo, owner="root", group="bacula", mode="0640")
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    import grp
    gid = grp.getgrnam("bacula").gr_gid
    for rel, mode in (("bacula-dir.conf", 0o640), ("conf.d/client.conf", 0o640), ("conf.d", 0o750), (".", 0o750)):
        st = os.stat(os.path.join(pull.live, rel))
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, 0, gid), rel


def test_promote_without_any_validated_commit_fails_with_reason(tmp_path, repo, signer):
    repo.commit({"bacula-dir.conf": "unsigned\n"})
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS
    res = pull("promote")
    assert res.rc == Exit.ERR_GENERIC and "no commit" in res.reason
    assert pull.deployed() is None


# -- signatures --------------------------------------------------------------
def test_unsigned_and_wrong_key_commits_are_refused(tmp_path, repo, signer):
    good = repo.commit({"bacula-dir.conf": "good\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == good

    unsigned = repo.commit({"bacula-dir.conf": "unsigned\n"})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED
    assert unsigned[:12] in res.reason and "not signed" in res.reason
    assert pull.deployed() == good and pull.read() == "good\n"

    wrong = repo.commit({"bacula-dir.conf": "wrong key\n"}, ssh=signer["other"])
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED
    assert wrong[:12] in res.reason and "not allowed" in res.reason
    assert pull.deployed() == good

    # a signed commit on top of refused ones does not launder them (issue 12, item 3) ...
    on_top = repo.commit({"bacula-dir.conf": "signed on top\n"}, ssh=signer["good"])
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and on_top[:12] in res.reason and unsigned[:12] in res.reason
    assert "not signed" in res.reason and pull.deployed() == good
    # ... the refused commits are replaced: a signed commit straight on the deployed one
    git("reset", "-q", "--hard", good, cwd=repo.work)
    fixed = repo.commit({"bacula-dir.conf": "signed again\n"}, ssh=signer["good"], push=False)
    repo.force(fixed)
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull.deployed() == fixed and pull.read() == "signed again\n"


def test_unpromoted_monitor_reports_refused_newest_commit(tmp_path, repo, signer):
    repo.commit({"bacula-dir.conf": "good\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS
    bad = repo.commit({"bacula-dir.conf": "bad\n"})
    res = pull.monitor()
    assert res.rc == Exit.DEGRADED and bad[:12] in res.reason
    assert pull.monitor().rc == Exit.DEGRADED                      # remembered, not re-verified


def test_signature_formats_cannot_cross_policies(tmp_path, repo, signer):
    key = gpg_key(str(tmp_path))
    try:
        ssh_signed = repo.commit({"bacula-dir.conf": "ssh\n"}, ssh=signer["good"])
        gpg_only = PullRunner(tmp_path / "a", repo, gpg_keyring=key["public"])
        assert gpg_only("start").rc == Exit.SUCCESS
        res = gpg_only.monitor()
        assert res.rc == Exit.DEGRADED and ssh_signed[:12] in res.reason and "SSH signature" in res.reason

        gpg_signed = repo.commit({"bacula-dir.conf": "gpg\n"}, gpg=key)
        assert gpg_only.monitor().rc == Exit.SUCCESS
        assert gpg_only("promote").rc == Exit.SUCCESS and gpg_only.deployed() == gpg_signed

        ssh_only = PullRunner(tmp_path / "b", repo, allowed_signers=signer["allowed"])
        assert ssh_only("start").rc == Exit.SUCCESS
        res = ssh_only.monitor()
        assert res.rc == Exit.DEGRADED and gpg_signed[:12] in res.reason and "GPG signature" in res.reason
        assert ssh_only("promote").rc == Exit.SUCCESS and ssh_only.deployed() == ssh_signed   # walked back

        both = PullRunner(tmp_path / "c", repo, allowed_signers=signer["allowed"], gpg_keyring=key["public"])
        assert both("start").rc == Exit.SUCCESS and both.monitor().rc == Exit.SUCCESS
        assert both("promote").rc == Exit.SUCCESS and both.deployed() == gpg_signed

        stranger = gpg_key(str(tmp_path), "Somebody Else")
        try:
            foreign = repo.commit({"bacula-dir.conf": "foreign gpg\n"}, gpg=stranger)
        finally:
            gpg_stop(stranger)
        res = gpg_only.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and foreign[:12] in res.reason and "unknown key" in res.reason
        assert gpg_only.deployed() == gpg_signed
    finally:
        gpg_stop(key)


def test_signature_format_and_director_error_line():
    from bacula_ha.agents.configpull.signature import signature_format
    from bacula_ha.agents.configpull.validation import error_line
    head = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n"
    assert signature_format(head + "\nmessage\n") is None
    assert signature_format(head + "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NI\n -----END SSH SIGNATURE-----\n\nm\n") == "ssh"
    assert signature_format(head + "gpgsig -----BEGIN PGP SIGNATURE-----\n x\n\nm\n") == "openpgp"
    assert signature_format(head + "\ngpgsig -----BEGIN SSH SIGNATURE----- (in the message)\n") is None
    out = ("bacula-dir: ERROR TERMINATION at parse_conf.c:1172\n"
           'Config error: Attempt to define second "Client" resource named "lab-fd" is not permitted.\n'
           "            : line 40, col 1 of file /c/deploy/.stage-abc-1/bacula-dir.conf\n  Client {\n")
    line = error_line(out, "/c/deploy/.stage-abc-1")
    assert line.startswith('Config error: Attempt to define second "Client"')
    assert "line 40, col 1 of file bacula-dir.conf" in line and ".stage" not in line


# -- validation ----------------------------------------------------------------
def test_broken_commit_refused_last_known_good_kept_fake_director(tmp_path, repo):
    good = repo.commit({"bacula-dir.conf": "Director {}\n"})
    pull = PullRunner(tmp_path, repo, validate="true", binary=fake_director(tmp_path))
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    bad = repo.commit({"bacula-dir.conf": "Director {}\nBROKEN\n"})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED
    assert bad[:12] in res.reason and 'Config error: Keyword "BROKEN"' in res.reason
    assert "line 2" in res.reason and pull.cache not in res.reason
    assert pull.deployed() == good


def test_missing_main_config_is_refused(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    gone = repo.commit({"bacula-dir.conf": None, "other.conf": "y\n"})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and gone[:12] in res.reason and "bacula-dir.conf is missing" in res.reason
    assert pull.deployed() == first


# -- Git outages ---------------------------------------------------------------
def test_remote_unreachable_promote_deploys_from_cache(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "cached\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS
    os.rename(repo.remote, repo.remote + ".away")
    res = pull.monitor()
    assert res.rc == Exit.DEGRADED and "Git unreachable" in res.reason and first[:12] in res.reason
    assert pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == first and pull.read() == "cached\n"
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "Git unreachable" in res.reason
    os.rename(repo.remote + ".away", repo.remote)
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED


def test_start_with_git_down_and_empty_cache_cannot_promote(tmp_path, repo):
    pull = PullRunner(tmp_path, repo, repository="file://" + str(tmp_path / "nowhere.git"))
    assert pull("start").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.DEGRADED
    res = pull("promote")
    assert res.rc == Exit.ERR_GENERIC and "no commit" in res.reason


@pytest.mark.parametrize("url", ["https://deploy:s3cr3t-pw@127.0.0.1:1/config.git",
                                 "https://s3cr3t-pw@127.0.0.1:1/config.git",
                                 "ssh://deploy:s3cr3t-pw@127.0.0.1:1/config.git"])
def test_credentials_in_the_url_are_refused_without_showing_them(tmp_path, repo, url):
    """git-remote-https would show the URL (and its token) in /proc/PID/cmdline (issue 12, item 4)."""
    pull = PullRunner(tmp_path, repo, repository=url, fetch_timeout="5")
    for action in ("validate-all", "start"):
        res = pull(action)
        assert res.rc == Exit.ERR_CONFIGURED and "credential_file" in res.reason
        assert "s3cr3t-pw" not in res.stderr and "s3cr3t-pw" not in res.reason
    assert not os.path.exists(pull.cache)


# -- live config health, drift -------------------------------------------------
def test_promoted_monitor_fails_when_live_config_replaced(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    os.unlink(pull.live)
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.FAILED_PROMOTED and "missing" in res.reason
    assert pull.probe().rc == Exit.FAILED_PROMOTED
    assert pull("promote").rc == Exit.SUCCESS and pull.deployed() == first   # recovery redeploys
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED


def test_drift_is_reported_without_push_changes(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "x\n", "conf.d/a.conf": "a\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    with open(os.path.join(pull.live, "conf.d", "a.conf"), "w") as fh:
        fh.write("edited by hand\n")
    with open(os.path.join(pull.live, "new.conf"), "w") as fh:
        fh.write("new\n")
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "local edits" in res.reason
    assert "conf.d/a.conf" in res.reason and "new.conf" in res.reason
    assert repo.remote_head() == first                        # nothing pushed


def test_drift_is_pushed_with_push_changes(tmp_path, repo):
    first = repo.commit({"bacula-dir.conf": "x\n", "a.conf": "a\n"})
    pull = PullRunner(tmp_path, repo, push_changes="true")
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    with open(os.path.join(pull.live, "a.conf"), "w") as fh:
        fh.write("edited by hand\n")
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.RUNNING_PROMOTED, res.reason
    pushed = repo.remote_head()
    assert pushed != first
    assert git("--git-dir", repo.remote, "show", f"{pushed}:a.conf") == "edited by hand"
    assert git("--git-dir", repo.remote, "rev-parse", f"{pushed}^") == first
    assert pull.deployed() == pushed and pull.read("a.conf") == "edited by hand\n"
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED


# -- parameters, scores ----------------------------------------------------------
@pytest.mark.parametrize("key,value", [("repository", "not a url"), ("config_dir", "relative/dir"),
                                       ("main_config", "../escape.conf"), ("mode", "rw-r-----"),
                                       ("branch", "bad..branch")])
def test_invalid_parameters_are_err_configured(tmp_path, repo, key, value):
    pull = PullRunner(tmp_path, repo)
    assert pull("validate-all", **{key: value}).rc == Exit.ERR_CONFIGURED
    assert pull("start", **{key: value}).rc == Exit.ERR_CONFIGURED
    assert pull("stop", **{key: value}).rc == Exit.SUCCESS


def test_missing_key_file_is_this_nodes_problem(tmp_path, repo):
    pull = PullRunner(tmp_path, repo, allowed_signers=str(tmp_path / "absent"))
    assert pull("validate-all").rc == Exit.SUCCESS                       # level 0: syntax only
    assert pull("validate-all", check_level=10).rc == Exit.ERR_ARGS
    assert pull("start").rc == Exit.ERR_ARGS


def test_stale_scores_order_by_commit_age():
    from bacula_ha.agents.configpull.engine import FRESH_SCORE, Engine
    import time

    class _E(Engine):
        def __init__(self, validated, when):
            from bacula_ha.agents.configpull.signature import Policy
            from bacula_ha.agents.configpull.state import CacheState
            self.state = CacheState(validated=validated, validated_time=when)
            self.policy = Policy()          # no signature policy: no high-water mark

    now = int(time.time())
    assert _E("", now).score(True) is None
    assert _E("a", now).score(True) == FRESH_SCORE
    newer, older = _E("a", now - 60).score(False), _E("b", now - 7200).score(False)
    assert FRESH_SCORE > newer > older >= 1
    assert _E("c", 0).score(False) == 1


# -- compliance -------------------------------------------------------------------
@pytest.mark.compliance
def test_ocf_tester_passes(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "x\n"})
    live, cache = tmp_path / "live", tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "HA_"))}
    env["HA_RSCTMP"] = str(tmp_path / "rsctmp")
    proc = subprocess.run(["ocf-tester", "-n", "cfgpull_tester", "-o", f"repository={repo.url}",
                           "-o", f"config_dir={live}", "-o", f"cache_dir={cache}", "-o", "validate=false",
                           agent_path("bacula-config-pull")], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed all tests" in proc.stdout
    assert os.path.islink(live) and os.path.isfile(live / "bacula-dir.conf")


def test_agent_executable_end_to_end(tmp_path, repo):
    """The real executable (fresh interpreter, -IS) for start/promote/monitor/stop."""
    first = repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo, in_process=False, instance="cfg_exe:1")
    assert pull("start").rc == Exit.SUCCESS
    assert pull("promote").rc == Exit.SUCCESS
    assert pull.monitor(interval_ms=29000, role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull("stop").rc == Exit.SUCCESS
    assert pull.deployed() == first


def test_probe_of_an_instance_not_started_here_stays_light(tmp_path):
    """With its parameters set (unlike the generic lazy-import test), a probe imports no engine."""
    from test_lazy_imports import imported_modules
    env = ocf_env({"repository": "file:///srv/git/cfg.git"}, interval_ms=0, rsctmp=str(tmp_path),
                  instance="cfg_lazy:0")
    rc, mods = imported_modules("bacula-config-pull", "monitor", env)
    assert rc == Exit.NOT_RUNNING
    assert not {"subprocess", "json", "dataclasses", "typing", "shutil",
                "bacula_ha.agents.configpull.engine"} & mods


def test_changed_trust_anchors_are_applied_from_the_cache_with_git_down(tmp_path, repo, signer):
    signed = repo.commit({"bacula-dir.conf": "signed\n"}, ssh=signer["good"])
    unsigned = repo.commit({"bacula-dir.conf": "unsigned\n"})
    pull = PullRunner(tmp_path, repo)                               # no signature policy yet
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == unsigned
    os.rename(repo.remote, repo.remote + ".away")
    pull.base_params["allowed_signers"] = signer["allowed"]        # the CIB now demands signatures
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "Git unreachable" in res.reason and signed[:12] in res.reason
    assert pull.deployed() == signed                          # re-judged from the cache


def test_git_calls_carry_no_url_or_key_in_argv(tmp_path, repo, monkeypatch):
    import bacula_ha.ocf.command as command
    calls = []
    real_run = command.run

    def recording_run(argv, deadline, **kw):
        shown = list(argv)[4:] if argv[0] == "timeout" else list(argv)   # timeout -s KILL N git ...
        calls.append((shown, dict(kw.get("env") or {})))
        return real_run(argv, deadline, **kw)

    monkeypatch.setattr(command, "run", recording_run)
    key, known = tmp_path / "deploy_key", tmp_path / "known_hosts"
    key.write_text("not really a key\n")
    known.write_text("")
    pull = PullRunner(tmp_path, repo, repository="ssh://deployer@127.0.0.1:1/srv/cfg.git",
                ssh_key=str(key), known_hosts=str(known), fetch_timeout="10")
    assert pull("start").rc == Exit.SUCCESS
    assert pull.monitor().rc == Exit.DEGRADED
    git_calls = [(argv, env) for argv, env in calls if argv[0] == "git"]
    fetches = [(argv, env) for argv, env in git_calls if "fetch" in argv]
    assert fetches
    for argv, env in git_calls:
        assert not any("deployer@" in a or str(key) in a for a in argv), argv
        assert env["GIT_TERMINAL_PROMPT"] == "0"
    ssh_cmd = fetches[0][1]["GIT_SSH_COMMAND"]
    assert f"-i {key}" in ssh_cmd and f"UserKnownHostsFile={known}" in ssh_cmd
    assert "BatchMode=yes" in ssh_cmd and "StrictHostKeyChecking=yes" in ssh_cmd


def test_actions_of_one_instance_are_serialised(tmp_path, repo):
    import threading
    from bacula_ha.ocf.deadline import Deadline
    from bacula_ha.ocf.lock import instance_lock
    first = repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS
    lock = os.path.join(pull.rsctmp, "bacula-config-pull-cfg.lock")
    assert os.path.exists(lock)
    results = []
    with instance_lock(lock, Deadline(30)):                   # e.g. a long monitor holds it
        worker = threading.Thread(target=lambda: results.append(pull("promote")))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and pull.deployed() is None   # promote waits for the lock
    worker.join(timeout=60)
    assert results and results[0].rc == Exit.SUCCESS and pull.deployed() == first
    with instance_lock(lock, Deadline(30)):                   # a hung action: stop still succeeds
        res = pull("stop", timeout_ms=4000)
    assert res.rc == Exit.SUCCESS and "without the lock" in res.stderr
    assert pull.monitor().rc == Exit.NOT_RUNNING and pull.deployed() == first


def test_config_dir_that_is_a_file_fails_promote_with_reason(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo)
    os.makedirs(os.path.dirname(pull.live))
    with open(pull.live, "w") as fh:
        fh.write("a file, not a directory\n")
    assert pull("start").rc == Exit.SUCCESS
    res = pull("promote")
    assert res.rc == Exit.ERR_GENERIC and "cannot deploy commit" in res.reason
    with open(pull.live) as fh:
        assert fh.read() == "a file, not a directory\n"


def test_promotion_scores_follow_freshness(tmp_path, repo, signer, monkeypatch):
    """crm_attribute replaced by a recorder: which scores the agent publishes, and when."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "crm_attribute.log"
    fake = bindir / "crm_attribute"
    shell_script(fake, f'echo "$OCF_RESOURCE_INSTANCE $*" >> {record}\nexit 0\n')
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}")

    def calls():  # promotion scores only (the high-water mark is tested on a real offline CIB)
        lines = record.read_text().splitlines() if record.exists() else []
        record.write_text("")
        return [line for line in lines if "--promotion" in line]

    repo.commit({"bacula-dir.conf": "x\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    pull.extra_env = {"PATH": os.environ["PATH"]}             # the agent's own PATH finds the recorder
    assert pull("start").rc == Exit.SUCCESS
    assert calls() == ["cfg:0 --promotion -v 1000"]
    assert pull.monitor().rc == Exit.SUCCESS
    assert calls() == []                                      # unchanged: not published again
    os.rename(repo.remote, repo.remote + ".away")
    assert pull.monitor().rc == Exit.DEGRADED                          # serving from the cache: lower
    (line,) = calls()
    assert line.startswith("cfg:0 --promotion -v ") and 1 <= int(line.split()[-1]) < 1000
    assert pull("promote").rc == Exit.SUCCESS
    assert pull.monitor(role="Promoted").rc == Exit.DEGRADED_PROMOTED         # promoted and healthy keeps 1000
    assert calls() == ["cfg:0 --promotion -v 1000"]
    assert pull("stop").rc == Exit.SUCCESS
    assert calls() == ["cfg:0 --promotion -D"]

    # a node whose only commits are refused cannot be promoted: its score is deleted
    unsigned_only = Repo(str(tmp_path / "git2"))
    unsigned_only.commit({"bacula-dir.conf": "unsigned\n"})
    nobody = PullRunner(tmp_path / "nobody", unsigned_only, allowed_signers=signer["allowed"])
    nobody.extra_env = {"PATH": os.environ["PATH"]}
    assert nobody("start").rc == Exit.SUCCESS
    assert calls() == ["cfg:0 --promotion -D"]


def test_reload_command_runs_after_a_promoted_deployment(tmp_path, repo):
    record = tmp_path / "reloads"
    script = tmp_path / "reload-director"
    shell_script(script, f'readlink "$1" >> {record}\nexit ${{RELOAD_RC:-0}}\n')
    repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    pull.base_params["reload_command"] = f"{script} {pull.live}"
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert not record.exists()                                # promote: the Director starts after it
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert not record.exists()                                # nothing new: no reload
    second = repo.commit({"bacula-dir.conf": "two\n"})
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert record.read_text().split() == [os.path.join(pull.cache, "deploy", second)]
    script.write_text("#!/bin/sh\necho 'Director not answering' >&2\nexit 3\n")
    third = repo.commit({"bacula-dir.conf": "three\n"})
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "reload after deploying" in res.reason and third[:12] in res.reason
    assert "Director not answering" in res.reason and pull.deployed() == third


@pytest.mark.root
def test_config_test_runs_as_test_user_not_root(repo):
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="bha-cfgpull-user-")        # traversable by the test user
    try:
        os.chmod(base, 0o755)
        fake = os.path.join(base, "whoami-dir")
        with open(fake, "w") as fh:
            fh.write('#!/bin/sh\ntest -r "$3" || { echo "Config error: cannot read $3"; exit 1; }\n'
                     'echo "Config error: test ran as $(id -un):$(id -gn) groups $(id -Gn)"\nexit 1\n')
        os.chmod(fake, 0o755)
        commit = repo.commit({"bacula-dir.conf": "x\n"})
        pull = PullRunner(base, repo, validate="true", binary=fake, test_user="bacula")
        assert pull("start").rc == Exit.SUCCESS
        res = pull.monitor()
        assert res.rc == Exit.DEGRADED and commit[:12] in res.reason
        assert "test ran as bacula:bacula" in res.reason
        assert "root" not in res.reason.split("groups", 1)[1]   # root's supplementary groups dropped
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_signed_rollback_is_not_deployed(tmp_path, repo, signer):
    old = repo.commit({"bacula-dir.conf": "old, known bad\n"}, ssh=signer["good"])
    new = repo.commit({"bacula-dir.conf": "new\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    assert pull.deployed() == new
    git("push", "-q", "--force", "origin", f"{old}:refs/heads/main", cwd=repo.work)
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and old[:12] in res.reason and "does not descend" in res.reason
    assert pull.deployed() == new and pull.read() == "new\n"
    cache_git = os.path.join(pull.cache, "repo.git")
    assert git("--git-dir", cache_git, "rev-parse", "refs/bha/deployed") == new   # pinned against gc
    git("reset", "-q", "--hard", old, cwd=repo.work)
    newer = repo.commit({"bacula-dir.conf": "forward again\n"}, ssh=signer["good"])  # on top of `old`
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and newer[:12] in res.reason                 # still not a descendant of `new`
    git("push", "-q", "--force", "origin", f"{new}:refs/heads/main", cwd=repo.work)
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED and pull.deployed() == new


def test_without_signature_policy_the_branch_is_authoritative(tmp_path, repo):
    old = repo.commit({"bacula-dir.conf": "old\n"})
    repo.commit({"bacula-dir.conf": "new\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    git("push", "-q", "--force", "origin", f"{old}:refs/heads/main", cwd=repo.work)
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull.deployed() == old


def test_inconclusive_test_is_retried_from_the_cache_while_git_is_down(tmp_path, repo):
    gate = tmp_path / "catalog-up"
    fake = tmp_path / "flaky-dir"
    shell_script(fake, f'[ -e {gate} ] && exit 0\n'
                 'echo \'Could not open Catalog "MyCatalog", database "bacula".\'\nexit 1\n')
    commit = repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo, validate="true", binary=str(fake))
    assert pull("start").rc == Exit.SUCCESS
    res = pull.monitor()
    assert res.rc == Exit.DEGRADED and "inconclusive" in res.reason and "Could not open Catalog" in res.reason
    assert pull("promote").rc == Exit.ERR_GENERIC                            # not refused, but not validated either
    os.rename(repo.remote, repo.remote + ".away")
    gate.write_text("")
    res = pull.monitor()
    assert res.rc == Exit.DEGRADED and "Git unreachable" in res.reason and commit[:12] in res.reason
    assert pull("promote").rc == Exit.SUCCESS and pull.deployed() == commit


def test_pushed_drift_refused_by_policy_is_not_pushed_again(tmp_path, repo, signer):
    first = repo.commit({"bacula-dir.conf": "x\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, push_changes="true", allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    with open(os.path.join(pull.live, "bacula-dir.conf"), "w") as fh:
        fh.write("edited\n")
    res = pull.monitor(role="Promoted")
    pushed = repo.remote_head()
    assert pushed != first and res.rc == Exit.DEGRADED_PROMOTED and pushed[:12] in res.reason and "not signed" in res.reason
    res = pull.monitor(role="Promoted")                    # same drift: no second push
    assert res.rc == Exit.DEGRADED_PROMOTED and repo.remote_head() == pushed and "could not be pushed" not in res.reason
    assert pull.deployed() == first and pull.read() == "edited\n"


def test_stop_succeeds_even_when_ha_rsctmp_is_unusable(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "x\n"})
    pull = PullRunner(tmp_path, repo)
    pull.rsctmp = str(tmp_path / "not-a-dir")
    with open(pull.rsctmp, "w") as fh:
        fh.write("a file where HA_RSCTMP should be\n")
    assert pull("stop").rc == Exit.SUCCESS


class SilentGitServer(LoopbackServer):
    """Accepts TCP connections on 127.0.0.1 and never answers: a blackholed Git server."""


def test_monitors_back_off_after_a_fetch_timed_out(tmp_path, repo):
    """A silent remote would hold every monitor for fetch_timeout; after a timeout, monitors serve
    the cache without fetching until the backoff ends (fast failures are not backed off)."""
    import json
    server = SilentGitServer()
    try:
        pull = PullRunner(tmp_path, repo, repository=f"git://127.0.0.1:{server.port}/cfg.git", fetch_timeout="2")
        assert pull("start").rc == Exit.SUCCESS                      # degraded start: nothing cached yet
        assert len(server.accepted) == 1
        res = pull.monitor()
        assert res.rc == Exit.DEGRADED and "next fetch in" in res.reason
        assert len(server.accepted) == 1                  # no second fetch during the backoff
        state_file = os.path.join(pull.cache, "state.json")
        with open(state_file) as fh:
            state = json.load(fh)
        assert state["fetch_timeouts"] == 1 and state["retry_at"] > 0
        state["retry_at"] = 0                              # the backoff has run out
        with open(state_file, "w") as fh:
            json.dump(state, fh)
        res = pull.monitor()
        assert res.rc == Exit.DEGRADED and "next fetch in" not in res.reason
        assert len(server.accepted) == 2
        with open(state_file) as fh:
            assert json.load(fh)["fetch_timeouts"] == 2
    finally:
        server.close()
