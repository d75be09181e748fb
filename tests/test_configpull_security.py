# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-config-pull attacked as issue 12 did: forged signatures, rollbacks, leaked secrets.

Each test plays someone who can push to the configuration repository (or write where the
agent reads) but holds no trusted key, against real git, gpg and ssh-keygen.
"""

from __future__ import annotations

import os

import pytest

from bacula_ha.ocf.codes import Exit
from support.gitrepo import gpg_key, gpg_stop
from support.procs import pids_whose
from support.runners import PullRunner
from support.scripts import shell_script
from test_configpull import repo, signer  # noqa: F401  (fixtures)


# -- 1. the signature format comes from the header git verifies ------------------------------
def test_fake_pgp_header_before_an_untrusted_ssh_signature_is_refused(tmp_path, repo, signer):
    """A gpg policy; the commit has a decoy `gpgsig-sha256` PGP block (copied from a real admin
    commit) before the `gpgsig` header git verifies, which holds an SSH signature by a stranger."""
    admin = gpg_key(str(tmp_path))
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = PullRunner(tmp_path, repo, gpg_keyring=admin["public"])
        assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == good
        _, pgp_block = repo.signature_block(good)
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, ssh=signer["other"], push=False)
        forged = repo.forge(evil, [("gpgsig-sha256", pgp_block)])
        repo.force(forged)
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and forged[:12] in res.reason and "2 signature headers" in res.reason
        assert pull.deployed() == good and pull.read() == "admin\n"
    finally:
        gpg_stop(admin)


def test_ssh_signature_by_untrusted_key_never_passes_a_gpg_policy(tmp_path, repo, signer):
    """Only one header this time: the format check refuses it (never `U` alone)."""
    admin = gpg_key(str(tmp_path))
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = PullRunner(tmp_path, repo, gpg_keyring=admin["public"])
        assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, ssh=signer["other"])
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and evil[:12] in res.reason and "SSH signature" in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(admin)


def test_gpg_key_outside_the_keyring_is_refused_even_when_gpg_trusts_it(tmp_path, repo):
    """Both an admin key (in gpg_keyring) and a stranger key that the *inherited* GnuPG home
    trusts ultimately: only the keyring's fingerprints count."""
    admin = gpg_key(str(tmp_path))
    stranger = gpg_key(str(tmp_path), "Stranger")
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = PullRunner(tmp_path, repo, gpg_keyring=admin["public"])
        pull.extra_env = {"GNUPGHOME": stranger["home"], "HOME": str(tmp_path)}
        assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == good
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, gpg=stranger)
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and evil[:12] in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(admin)
        gpg_stop(stranger)


# -- 2. a PGP signature never passes an ssh-only policy ---------------------------------------
def test_pgp_signature_trusted_by_inherited_gnupghome_fails_an_ssh_policy(tmp_path, repo, signer):
    """ssh-only policy; the agent inherits GNUPGHOME where the attacker's key is trusted; the commit
    carries a decoy SSH header before the PGP `gpgsig` git verifies."""
    stranger = gpg_key(str(tmp_path), "Stranger")
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, ssh=signer["good"])
        _, ssh_block = repo.signature_block(good)
        pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
        pull.extra_env = {"GNUPGHOME": stranger["home"], "HOME": os.path.dirname(stranger["home"])}
        assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == good
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, gpg=stranger, push=False)
        forged = repo.forge(evil, [("gpgsig-sha256", ssh_block)])
        repo.force(forged)
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and forged[:12] in res.reason
        assert pull.deployed() == good and pull.read() == "admin\n"
        repo.force(evil)                                  # the plain PGP commit, no decoy
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and evil[:12] in res.reason and "GPG signature" in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(stranger)


# -- 3. rollback: high-water marks -------------------------------------------------------------
MARK = "bacula-config-pull-high-water-cfg"


def offline_cib(base) -> str:
    """A real (offline) Pacemaker CIB shared by the test's "nodes", with this host as a node so
    crm_attribute can store promotion scores in it too."""
    import subprocess
    path = os.path.join(str(base), "cib.xml")
    xml = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    node = os.uname().nodename
    xml = xml.replace("<nodes/>", f'<nodes><node id="1" uname="{node}"/></nodes>')
    with open(path, "w") as fh:
        fh.write(xml)
    return path


def crm(cib: str, *args: str):
    import subprocess
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CIB_file": cib, "OCF_RESOURCE_INSTANCE": "cfg:0"}
    return subprocess.run(["crm_attribute", *args], env=env, capture_output=True, text=True, timeout=30)


def cluster_mark(cib: str) -> str:
    res = crm(cib, "--type", "crm_config", "--name", MARK, "--query", "--quiet")
    return res.stdout.strip() if res.returncode == 0 else ""


def promotion_score(cib: str):
    res = crm(cib, "--promotion", "-G", "-q")
    return int(res.stdout) if res.returncode == 0 and res.stdout.strip() else None


def node(base, repo, cib, **params) -> PullRunner:
    pull = PullRunner(base, repo, **params)
    pull.extra_env = {"CIB_file": cib}
    return pull


@pytest.mark.parametrize("change", ["allowed_signers", "validate", "main_config", "mode"])
def test_settings_change_does_not_reopen_a_rollback(tmp_path, repo, signer, change):
    from test_configpull import fake_director
    old = repo.commit({"bacula-dir.conf": "old, known bad\n", "alt.conf": "old\n"}, ssh=signer["good"])
    new = repo.commit({"bacula-dir.conf": "new\n", "alt.conf": "new\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == new
    repo.force(old)
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "does not descend" in res.reason and pull.deployed() == new
    if change == "allowed_signers":
        second = os.path.join(str(tmp_path), "allowed2")
        with open(signer["allowed"]) as src, open(second, "w") as dst:
            dst.write(src.read() + f'other@example.org namespaces="git" {signer["other"]["public"]}\n')
        pull.base_params["allowed_signers"] = second
    elif change == "validate":
        pull.base_params.update(validate="true", binary=fake_director(tmp_path))
    elif change == "main_config":
        pull.base_params["main_config"] = "alt.conf"
    else:
        pull.base_params["mode"] = "0600"
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and old[:12] in res.reason and "does not descend" in res.reason
    assert pull.deployed() == new and pull.read() == "new\n"
    assert pull("demote").rc == Exit.SUCCESS
    pull("promote")                                       # nothing newer validated: refused or a no-op
    assert pull.deployed() == new and pull.read() == "new\n"


def test_node_with_empty_cache_neither_scores_nor_deploys_a_rewound_branch(tmp_path, repo, signer):
    cib = offline_cib(tmp_path)
    old = repo.commit({"bacula-dir.conf": "old, known bad\n"}, ssh=signer["good"])
    new = repo.commit({"bacula-dir.conf": "new\n"}, ssh=signer["good"])
    a = node(tmp_path / "a", repo, cib, allowed_signers=signer["allowed"])
    assert a("start").rc == Exit.SUCCESS and a("promote").rc == Exit.SUCCESS and a.deployed() == new
    assert cluster_mark(cib) == new                       # every node sees it
    repo.force(old)                                       # the attacker rewinds the branch
    b = node(tmp_path / "b", repo, cib, allowed_signers=signer["allowed"])
    assert b("start").rc == Exit.SUCCESS
    assert promotion_score(cib) is None                   # b is not promotable
    res = b.monitor()
    assert res.rc == Exit.DEGRADED and old[:12] in res.reason and new[:12] in res.reason
    res = b("promote")
    assert res.rc == Exit.ERR_GENERIC and b.deployed() is None
    assert cluster_mark(cib) == new


def test_unpromoted_node_behind_the_mark_is_not_promotable(tmp_path, repo, signer):
    import shutil
    cib = offline_cib(tmp_path)
    first = repo.commit({"bacula-dir.conf": "one\n"}, ssh=signer["good"])
    mirror = os.path.join(str(tmp_path), "mirror.git")
    shutil.copytree(repo.remote, mirror)
    a = node(tmp_path / "a", repo, cib, allowed_signers=signer["allowed"])
    b = node(tmp_path / "b", repo, cib, allowed_signers=signer["allowed"], repository="file://" + mirror)
    assert a("start").rc == Exit.SUCCESS and b("start").rc == Exit.SUCCESS and a("promote").rc == Exit.SUCCESS
    shutil.rmtree(mirror)                                 # b's Git is gone; b holds `first`
    second = repo.commit({"bacula-dir.conf": "two\n"}, ssh=signer["good"])
    assert a.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED and a.deployed() == second
    assert cluster_mark(cib) == second
    res = b.monitor()
    assert res.rc == Exit.DEGRADED and "Git unreachable" in res.reason
    assert promotion_score(cib) is None                   # b's `first` is behind the mark
    assert b("promote").rc == Exit.ERR_GENERIC and b.deployed() is None


def test_signed_commit_of_another_branch_on_an_unsigned_one_never_goes_live(tmp_path, repo, signer):
    from support.gitrepo import git
    base = repo.commit({"bacula-dir.conf": "base\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == base
    git("checkout", "-q", "-b", "testing", cwd=repo.work)  # a branch where unsigned work is fine
    unsigned = repo.commit({"bacula-dir.conf": "experiment\n"}, push=False)
    signed = repo.commit({"bacula-dir.conf": "signed for testing only\n"}, ssh=signer["good"], push=False)
    repo.force(signed)                                    # pushed to main by someone who cannot sign
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and signed[:12] in res.reason and unsigned[:12] in res.reason
    assert pull.deployed() == base and pull.read() == "base\n"


# -- 4. https credentials: a 0600 file and a credential helper, never a command line ----------
def test_https_credentials_come_from_a_0600_file_and_never_show_in_any_cmdline(tmp_path, repo):
    import secrets
    import stat
    from support.gitrepo import HttpsGitServer, cmdlines_holding
    token = "tok-" + secrets.token_hex(12)
    first = repo.commit({"bacula-dir.conf": "over https\n"})
    server = HttpsGitServer(repo, "deploy", token)
    try:
        cred = tmp_path / "git-credentials"
        cred.write_text(f"username=deploy\npassword={token}\n")
        cred.chmod(0o644)
        pull = PullRunner(tmp_path, repo, repository=server.url, credential_file=str(cred))
        res = pull("start")
        assert res.rc == Exit.ERR_ARGS and "0600" in res.reason            # readable by others: refused
        cred.chmod(0o600)
        assert pull("start").rc == Exit.SUCCESS                            # degraded: the test CA is not trusted yet
        with open(os.path.join(pull.cache, "repo.git", "config"), "a") as fh:
            fh.write(f"[http]\n\tsslCAInfo = {server.cert}\n")  # the site's CA, as an operator would
        res = pull.monitor()
        assert res.rc == Exit.SUCCESS, res.reason
        assert server.authenticated >= 1 and server.leaks == []
        assert pull("promote").rc == Exit.SUCCESS and pull.deployed() == first
        assert token not in res.stderr and not cmdlines_holding(token.encode())
        for name in os.listdir(os.path.join(pull.cache, "repo.git")):
            path = os.path.join(pull.cache, "repo.git", name)
            if os.path.isfile(path):
                with open(path, errors="replace") as fh:
                    assert token not in fh.read(), name
        assert stat.S_IMODE(os.stat(cred).st_mode) == 0o600 and token in cred.read_text()
    finally:
        server.close()


# -- 5. programs started on a candidate's behalf get a minimal environment ---------------------
def test_config_test_reload_and_crm_attribute_get_a_minimal_environment(tmp_path, repo):
    dumps, bindir = tmp_path / "env", tmp_path / "bin"
    dumps.mkdir()
    bindir.mkdir()

    def dumper(name: str) -> str:
        path = bindir / name
        shell_script(path, f'env > {dumps}/{name}.$$\nexit 0\n')
        return str(path)

    dumper("crm_attribute")
    run = PullRunner(tmp_path, repo, in_process=False, validate="true", binary=dumper("bacula-dir"),
                     reload_command=dumper("reload-director"), fetch_timeout="10")
    run.extra_env = {"HOME": "/root", "PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "BHA_CANARY": "leak-me",
                     "GNUPGHOME": "/root/.gnupg"}
    repo.commit({"bacula-dir.conf": "one\n"})
    assert run("start").rc == Exit.SUCCESS and run("promote").rc == Exit.SUCCESS
    repo.commit({"bacula-dir.conf": "two\n"})
    assert run.monitor(interval_ms=29000, role="Promoted").rc == Exit.RUNNING_PROMOTED
    seen = {}
    for dump in os.listdir(dumps):
        with open(dumps / dump) as fh:
            seen.setdefault(dump.split(".")[0], []).append(fh.read())
    assert set(seen) == {"bacula-dir", "reload-director", "crm_attribute"}
    for name, texts in seen.items():
        for text in texts:
            assert "OCF_RESKEY_" not in text and "leak-me" not in text, name
            assert "HOME=/root" not in text and "GNUPGHOME" not in text, name


# -- 6. passwords of a refused candidate stay out of reasons, logs and state -------------------
def test_password_in_a_refused_candidate_never_reaches_reason_log_or_state(tmp_path, repo):
    """A real `bacula-dir -t` quotes the token it chokes on: `Password "X"` lacks its `=`."""
    import json
    import stat
    commit = repo.commit({"bacula-dir.conf": 'Director {\n  Name = x-dir\n  Password "Secret-Pw-123"\n}\n'})
    pull = PullRunner(tmp_path, repo, validate="true", binary="/usr/sbin/bacula-dir", test_user="")
    assert pull("start").rc == Exit.SUCCESS
    res = pull.monitor()
    assert res.rc == Exit.DEGRADED and commit[:12] in res.reason and "expected an equals, got: ******" in res.reason
    assert "Secret-Pw-123" not in res.reason and "Secret-Pw-123" not in res.stderr
    state_file = os.path.join(pull.cache, "state.json")
    with open(state_file) as fh:
        text = fh.read()
    assert "Secret-Pw-123" not in text and "expected an equals" in json.loads(text)["refused"][commit]
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pull.cache).st_mode) == 0o711                   # traverse only
    assert stat.S_IMODE(os.stat(os.path.join(pull.cache, "repo.git")).st_mode) == 0o700


@pytest.mark.parametrize("text", [
    'Director {\n  Name = d\n  Password =\n    "Wrapped-Secret-1" }\n',
    'Director {\n  Name = d\n  Password =\n}\n"Wrapped-Secret-1" }\n',
])
def test_director_conf_reader_never_quotes_a_wrapped_password(text):
    from bacula_ha.agents.director.conf import ConfError, parse_text
    with pytest.raises(ConfError) as err:
        parse_text(text, "bacula-dir.conf")
    assert "Wrapped-Secret-1" not in str(err.value) and "hidden" in str(err.value)


# -- low: transports, the cache's own hooks and config, tree paths, leftovers ------------------
@pytest.mark.parametrize("kind", ["foo", "ext", "fd", "http"])
def test_only_https_ssh_git_and_file_transports(tmp_path, repo, kind):
    """`foo::x` runs git-remote-foo from PATH, `ext::` a command: neither passes, nor plain http."""
    marker, bindir = tmp_path / "ran", tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "git-remote-foo"
    shell_script(helper, f"touch {marker}\nexit 1\n")
    url = {"foo": f"foo::{tmp_path}/x", "ext": f"ext::{helper}", "fd": "fd::7",
           "http": "http://127.0.0.1:1/cfg.git"}[kind]
    pull = PullRunner(tmp_path, repo, repository=url)
    pull.extra_env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"}
    assert pull("validate-all").rc == Exit.ERR_CONFIGURED
    assert pull("start").rc == Exit.ERR_CONFIGURED and not marker.exists()
    from bacula_ha.agents.paramchecks import git_url
    assert git_url(url)                                   # bacula-ha check and render refuse it too


def test_git_calls_refuse_other_transports_even_past_the_settings(tmp_path):
    """Defence in depth: the git runner itself passes protocol.allow=never plus explicit allows."""
    from bacula_ha.agents.configpull.gitrunner import Git, GitError
    from bacula_ha.ocf.command import run
    from bacula_ha.ocf.deadline import Deadline
    marker, bindir = tmp_path / "ran", tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "git-remote-foo"
    shell_script(helper, f"touch {marker}\nexit 1\n")
    g = Git(str(tmp_path / "cache.git"), lambda argv, **kw: run(argv, Deadline(30), **kw),
            base_env={"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"})
    for url in (f"foo::{tmp_path}/x", f"ext::{helper}"):
        g.ensure(url, "main")
        with pytest.raises(GitError):
            g.fetch(timeout=20)
        assert not marker.exists(), url


def test_hooks_and_fsmonitor_planted_in_the_cache_never_run(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    marker = tmp_path / "ran"
    script = tmp_path / "planted"
    shell_script(script, f"echo \"$0 $*\" >> {marker}\nexit 0\n")
    cache_git = os.path.join(pull.cache, "repo.git")
    os.makedirs(os.path.join(cache_git, "hooks"), exist_ok=True)
    for hook in ("reference-transaction", "pre-auto-gc", "post-checkout", "post-index-change"):
        os.symlink(script, os.path.join(cache_git, "hooks", hook))
    with open(os.path.join(cache_git, "config"), "a") as fh:
        fh.write(f"[core]\n\tfsmonitor = {script}\n")
    with open(os.path.join(pull.live, "bacula-dir.conf"), "w") as fh:
        fh.write("drift, so that git status runs\n")
    second = repo.commit({"bacula-dir.conf": "two\n"})
    pull.monitor(role="Promoted")
    assert pull.deployed() == second
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("how", ["mode", pytest.param("owner", marks=pytest.mark.root)])
def test_cache_dir_another_user_can_write_is_refused(tmp_path, repo, how):
    repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    os.makedirs(pull.cache)
    if how == "mode":
        os.chmod(pull.cache, 0o777)
    else:
        os.chown(pull.cache, 65534, 65534)
    res = pull("start")
    assert res.rc == Exit.ERR_ARGS and "cache_dir" in res.reason
    assert not os.path.exists(os.path.join(pull.cache, "repo.git"))


def test_signed_commit_with_a_dotdot_tree_entry_is_refused_for_good(tmp_path, repo, signer):
    import json
    good = repo.commit({"bacula-dir.conf": "good\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    for name in ("..", ".git", ".GIT"):
        tree = repo.crafted_tree({"bacula-dir.conf": "evil\n", name: "escape\n"})
        bad = repo.commit_tree(tree, ssh=signer["good"])
        repo.force(bad, checkout=False)
        res = pull.monitor(role="Promoted")
        assert res.rc == Exit.DEGRADED_PROMOTED and bad[:12] in res.reason and "inconclusive" not in res.reason, name
        with open(os.path.join(pull.cache, "state.json")) as fh:
            assert bad in json.load(fh)["refused"], name
        assert pull.deployed() == good
        repo.force(good)


def test_state_tmp_files_left_by_a_killed_action_are_removed(tmp_path, repo):
    repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS
    leftover = os.path.join(pull.cache, "state.json.tmp.999999")
    with open(leftover, "w") as fh:
        fh.write("{half")
    assert pull.monitor().rc == Exit.SUCCESS
    assert not os.path.exists(leftover)


def _processes_using(git_dir: str):
    """PIDs whose environment names `git_dir` (git and everything it started)."""
    return pids_whose("environ", f"GIT_DIR={git_dir}".encode() + b"\0")


def test_git_orphaned_by_a_killed_agent_keeps_the_lock_and_dies_at_the_deadline(tmp_path):
    """kill -9 of the agent mid-fetch (Pacemaker's op timeout): the git it started must neither run
    beside the next action nor outlive the deadline (a git:// fetch of a silent server never ends)."""
    import fcntl
    import signal
    import subprocess
    import time
    from support.paths import agent_path
    from test_configpull import SilentGitServer
    server = SilentGitServer()
    pull = PullRunner(tmp_path, f"git://127.0.0.1:{server.port}/cfg.git", fetch_timeout="60")
    env = pull.env("start", timeout_ms=8000)
    git_dir = os.path.join(pull.cache, "repo.git")
    proc = subprocess.Popen([agent_path("bacula-config-pull"), "start"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while not server.accepted and time.monotonic() - started < 6:
            time.sleep(0.05)
        assert server.accepted, "the fetch never reached the server"
        proc.kill()
        proc.wait(timeout=10)
        orphans = _processes_using(git_dir)
        assert orphans                                    # git outlived the agent ...
        lock = os.path.join(pull.rsctmp, "bacula-config-pull-cfg.lock")
        fd = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(OSError):                  # ... and still holds the instance lock
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        while _processes_using(git_dir) and time.monotonic() - started < 12:
            time.sleep(0.1)
        assert _processes_using(git_dir) == []            # gone by the deadline (8 s) and a bit
    finally:
        for pid in _processes_using(git_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
        server.close()


@pytest.mark.root
def test_file_remote_owned_by_another_user_gets_the_real_reason(tmp_path, repo):
    import subprocess
    first = repo.commit({"bacula-dir.conf": "one\n"})
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == first
    subprocess.run(["chown", "-R", "65534:65534", repo.remote], check=True, timeout=30)
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and "owned by uid 65534" in res.reason and "safe.directory" in res.reason
    assert "Git unreachable" not in res.reason and first[:12] in res.reason
    assert pull("stop").rc == Exit.SUCCESS
    res = pull("start")
    assert res.rc == Exit.ERR_ARGS and "owned by uid 65534" in res.reason


# -- what held in issue 12 (kept tested) -------------------------------------------------------
def test_held_unsigned_merge_of_signed_work_is_refused(tmp_path, repo, signer):
    from support.gitrepo import git
    base = repo.commit({"bacula-dir.conf": "base\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    git("checkout", "-q", "-b", "side", cwd=repo.work)
    repo.commit({"side.conf": "signed side work\n"}, ssh=signer["good"], push=False)
    git("checkout", "-q", "main", cwd=repo.work)
    git("merge", "-q", "--no-ff", "-m", "unsigned merge", "side", cwd=repo.work)
    repo.push()
    res = pull.monitor(role="Promoted")
    assert res.rc == Exit.DEGRADED_PROMOTED and repo.head()[:12] in res.reason and "not signed" in res.reason
    assert pull.deployed() == base


def test_held_remote_tags_never_shadow_the_branch(tmp_path, repo, signer):
    from support.gitrepo import git
    base = repo.commit({"bacula-dir.conf": "base\n"}, ssh=signer["good"])
    pull = PullRunner(tmp_path, repo, allowed_signers=signer["allowed"])
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    evil = repo.commit({"bacula-dir.conf": "evil\n"}, push=False)
    for ref in ("refs/tags/main", "refs/tags/refs/bha/upstream", "refs/heads/refs/bha/upstream"):
        git("push", "-q", "origin", f"{evil}:{ref}", cwd=repo.work)
    git("reset", "-q", "--hard", base, cwd=repo.work)
    newer = repo.commit({"bacula-dir.conf": "newer\n"}, ssh=signer["good"])
    assert pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED
    assert pull.deployed() == newer and pull.read() == "newer\n"


def test_held_symlinks_out_of_the_tree_are_deployed_as_links_never_followed(tmp_path, repo):
    outside = tmp_path / "outside.secret"
    outside.write_text("not for the Director\n")
    outside.chmod(0o600)
    os.symlink(str(outside), os.path.join(repo.work, "leak.conf"))
    os.symlink("/", os.path.join(repo.work, "root"))
    commit = repo.commit({"bacula-dir.conf": "@leak.conf\n"})
    pull = PullRunner(tmp_path, repo, mode="0644")
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS and pull.deployed() == commit
    assert os.readlink(os.path.join(pull.live, "leak.conf")) == str(outside)
    assert os.readlink(os.path.join(pull.live, "root")) == "/"
    assert (outside.stat().st_mode & 0o777) == 0o600 and outside.read_text() == "not for the Director\n"
    assert (os.stat("/").st_mode & 0o777) == 0o755


@pytest.mark.parametrize("url", ["ssh://-oProxyCommand=pwn/cfg.git", "ssh://git@-oProxyCommand=pwn/cfg.git",
                                 "-oProxyCommand=pwn:cfg.git"])
def test_held_proxycommand_in_the_url_never_runs(tmp_path, repo, url):
    marker, bindir = tmp_path / "pwned", tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "pwn"
    shell_script(script, f"touch {marker}\n")
    pull = PullRunner(tmp_path, repo, repository=url, fetch_timeout="5")
    pull.extra_env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin"}
    pull("start")
    pull.monitor()
    assert not marker.exists()


def test_held_kill_9_at_random_points_leaves_one_whole_commit_live(tmp_path, repo):
    import random
    import signal
    import subprocess
    import time
    from support.paths import agent_path
    rng = random.Random(12)
    contents = {}
    first = repo.commit({"bacula-dir.conf": "generation 0\n", "conf.d/a.conf": "a0\n"})
    contents[first] = "generation 0\n"
    pull = PullRunner(tmp_path, repo)
    assert pull("start").rc == Exit.SUCCESS and pull("promote").rc == Exit.SUCCESS
    env = pull.env("monitor", interval_ms=29000, role="Promoted", timeout_ms=4000)
    for n in range(1, 26):
        commit = repo.commit({"bacula-dir.conf": f"generation {n}\n", "conf.d/a.conf": f"a{n}\n"})
        contents[commit] = f"generation {n}\n"
        proc = subprocess.Popen([agent_path("bacula-config-pull"), "monitor"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        live = pull.deployed()
        assert live in contents, live
        assert pull.read() == contents[live]
        assert pull.read("conf.d/a.conf") == f"a{contents[live].split()[1]}\n"
    # A monitor that finds the lock held by the last kill's orphans (git under timeout(1), at most
    # the 4 s deadline), or backs off after a fetch cut short (30 s), reports the live commit
    # without deploying: a later one catches up.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if pull.monitor(role="Promoted").rc == Exit.RUNNING_PROMOTED and pull.deployed() == repo.head():
            break
        time.sleep(0.5)
    assert pull.deployed() == repo.head() and pull.read() == "generation 25\n"
