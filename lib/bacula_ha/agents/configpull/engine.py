# SPDX-License-Identifier: GPL-2.0-or-later
"""The config-pull engine: refresh the cache, judge commits, deploy, watch drift.

Why one object: start, monitor and promote share the same steps in different
orders; the handlers in actions.py only decide roles and exit codes.

Commit selection: after a fetch, the first-parent history of the upstream tip
is walked newest first (at most MAX_WALK commits, within the action's budget).
The first commit that is correctly signed and passes the config test is the
"newest validated commit". Verdicts are remembered per commit, so a commit is
verified and tested once; an unchanged tip costs one fetch and nothing else.

Rollback protection (with a signature policy): a commit is chosen, deployed or
scored as promotable only if it descends from every high-water mark: this node's
`floor` (newest commit it validated or deployed, kept across settings changes)
and the cluster's mark (newest commit any node deployed, a crm_config property
every node reads), and only if every commit on its first-parent path down to
the mark is itself signed by a trusted key. So a force-push back to an older
signed commit, or another branch's signed commit sitting on an unsigned one,
never goes live, whatever the settings did and whatever a node's cache holds.
"""

from __future__ import annotations

import os
import time

from ...ocf.codes import Exit, OcfError
from . import deploy, problems, signature, state as cstate, validation
from .gitrunner import UPSTREAM_REF, Git, GitError, GitOptions, scrub
from .settings import PullSettings

#: Commits of first-parent history examined per refresh.
MAX_WALK = 20
#: Commits between a high-water mark and a candidate whose signatures are checked; a longer
#: path is refused (ask for a signed commit nearer the mark, or reset the mark).
MAX_PATH = 200
#: The cluster property holding an instance's high-water mark (suffix: the clone-free instance).
MARK_PREFIX = "bacula-config-pull-high-water-"
#: Prepared trees kept besides the deployed, previous and newest validated ones.
KEEP_EXTRA_TREES = 3
#: Seconds of budget a config test is not started without.
MIN_TEST_BUDGET = 2.0
#: Backoff of monitors after a fetch timed out: 30 s, doubling, at most 4 min.
FETCH_BACKOFF_S = 30.0
FETCH_BACKOFF_MAX_S = 240.0
#: Promotion scores: a node that just confirmed it holds the newest validated commit,
#: and the ceiling for a node serving from its cache (older commits score lower).
FRESH_SCORE = 1000
STALE_CEILING = 900


TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import List, Optional


class Refresh:
    """Outcome of one refresh: did the fetch work, and why the instance is degraded (a Problem)."""

    __slots__ = ("fetched", "problem", "newly_validated")

    def __init__(self, fetched: bool, problem: "problems.Problem" = problems.HEALTHY,
                 newly_validated: bool = False) -> None:
        self.fetched = fetched
        self.problem = problem
        self.newly_validated = newly_validated


class Engine:
    def __init__(self, settings: PullSettings, ctx, lock_fd: "Optional[int]" = None) -> None:
        self.settings = settings
        self.ctx = ctx
        self.log = ctx.log
        self.policy = signature.Policy(settings.allowed_signers, settings.gpg_keyring,
                                       settings.gnupg_home)
        self.git = Git(settings.repo, ctx.run, GitOptions(settings.ssh_key, settings.known_hosts,
                                                          credential_file=settings.credential_file),
                       base_env=ctx.environ, deadline=ctx.deadline,
                       keep_fds=() if lock_fd is None else (lock_fd,))
        self.state = cstate.load(settings.state_file)
        if self.state.problem and not self.state.problem_kind:
            # written by a version without kinds: judge the tip again rather than trust the text
            self.state.problem_kind = problems.INCONCLUSIVE
        self._mark: Optional[str] = None  # the cluster's high-water mark, read once per action

    # -- bookkeeping ---------------------------------------------------
    def policy_fingerprint(self) -> str:
        s = self.settings
        return (f"{self.policy.fingerprint()};validate={s.validate};main={s.main_config};"
                f"owner={s.owner}:{s.group}:{s.mode:o}")

    def save(self) -> None:
        cstate.save(self.settings.state_file, self.state)

    def ensure_cache(self) -> None:
        """The cache layout and its modes: others may only traverse (0711) to the deployed trees
        the Director reads; the repository, indexes, GnuPG home and state stay private."""
        from .settings import check_cache_dir
        check_cache_dir(self.settings.cache_dir)
        for path, mode in ((self.settings.cache_dir, 0o711), (self.settings.deploy_root, 0o711),
                           (self.settings.index_root, 0o700)):
            os.makedirs(path, mode=mode, exist_ok=True)
            os.chmod(path, mode)  # the Director (bacula) must traverse to the deployed tree
        cstate.remove_leftovers(self.settings.state_file)
        if os.path.exists(self.settings.state_file):
            os.chmod(self.settings.state_file, 0o600)  # written 0644 by earlier versions
        self.git.ensure(self.settings.repository, self.settings.branch)

    # -- refresh -------------------------------------------------------
    def refresh(self, allow_backoff: bool = False) -> Refresh:
        """Fetch, judge new commits, remember the newest validated one. Never raises for Git trouble.

        With `allow_backoff` (monitors), a remote whose last fetches timed out is not fetched again
        until `retry_at`: a silent remote would otherwise hold every monitor for fetch_timeout, and
        long-running monitors delay Pacemaker's transitions (seen in the lab after a fencing).
        Fast failures (connection refused, no such repository) cost nothing and are retried every time.
        """
        if allow_backoff and self.state.retry_at > time.time() and self.state.problem_kind:
            wait = self.state.retry_at - time.time()
            return Refresh(False, problems.Problem(self.state.problem_kind,
                                                   f"{self.state.problem} (next fetch in {wait:.0f}s)"))
        self.ensure_cache()
        fp = self.policy_fingerprint()
        if self.state.policy != fp:
            if self.state.policy:
                self.log.info("signature/validation settings changed: earlier verdicts are reconsidered")
            self.state.reset_verdicts(fp)
        if self.policy.enforced:
            try:
                signature.prepare_gnupg_home(self.policy, self.git)
            except (GitError, OSError) as exc:
                raise OcfError(Exit.ERR_ARGS, scrub(str(exc)))
        from ...ocf.command import CommandTimeout
        budget = self.ctx.deadline.remaining()
        try:
            tip = self.git.fetch(timeout=min(float(self.settings.fetch_timeout), max(1.0, budget * 0.5)))
        except (GitError, CommandTimeout) as exc:
            if isinstance(exc, CommandTimeout):
                self.state.fetch_timeouts += 1
                self.state.retry_at = time.time() + min(FETCH_BACKOFF_MAX_S,
                                                        FETCH_BACKOFF_S * 2 ** (self.state.fetch_timeouts - 1))
            else:
                self.state.fetch_timeouts, self.state.retry_at = 0, 0.0
            # Judge what the cache holds: after a settings change (verdicts reset), or to retry a
            # config test that was inconclusive. Cheap when every verdict is already known.
            cached = self.git.has_ref(UPSTREAM_REF)
            if cached:
                self._judge(cached)
            from .settings import foreign_owner
            why = foreign_owner(self.settings.repository) or f"Git unreachable ({scrub(str(exc))})"
            problem = problems.Problem(problems.UNREACHABLE, f"{why}; serving cached commit "
                                                             f"{cstate.short(self.state.validated)}")
            self._remember(problem)
            self.save()
            return Refresh(False, problem)
        self.state.fetched_at = time.time()
        self.state.fetch_timeouts, self.state.retry_at = 0, 0.0
        if tip == self.state.tip and self.state.problem_kind not in problems.RETRY_KINDS:
            self.save()
            return Refresh(True, problems.Problem(self.state.problem_kind, self.state.problem))
        before = self.state.validated
        problem = self._judge(tip)
        self.state.tip = tip
        self._remember(problem)
        self.save()
        self.prune()
        self._housekeeping()
        return Refresh(True, problem, self.state.validated != before)

    def _remember(self, problem: "problems.Problem") -> None:
        self.state.problem_kind = problem.kind
        self.state.problem = problem.message

    def _housekeeping(self) -> None:
        """Pin the commits the cache serves, then let git pack (after new commits only)."""
        try:
            self._pin()
            left = self.ctx.deadline.remaining()
            if left > 10:
                self.git.gc(timeout=min(20.0, left * 0.3))
        except Exception as exc:  # housekeeping never fails an action
            self.log.warning(f"cache housekeeping: {scrub(str(exc))}")

    def _pin(self) -> None:
        st = self.state
        self.git.pin({"validated": st.validated, "deployed": st.deployed, "previous": st.previous})

    def _judge(self, tip: str) -> "problems.Problem":
        """Walk tip's first-parent history; set state.validated; return the tip's problem, if any."""
        try:
            chain = self.git.first_parents(tip, MAX_WALK)
        except GitError as exc:
            return problems.Problem(problems.INCONCLUSIVE, f"inconclusive: {exc}")
        tip_problem = ""
        for commit in chain:
            if commit in self.state.good:
                break
            reason = self.state.refused.get(commit)
            if reason is None:
                try:
                    reason = self._evaluate(commit)
                except _Inconclusive as exc:
                    return problems.Problem(problems.INCONCLUSIVE, f"inconclusive: {exc}; serving "
                                                                   f"{cstate.short(self.state.validated)}")
            if reason is None:
                break
            if commit == tip:
                tip_problem = reason
        else:
            commit = ""
        if commit:
            rollback = self._choose(commit)
            if rollback:
                refused = f"; newest commit refused: {tip_problem}" if tip_problem else ""
                return problems.Problem(problems.ROLLBACK, f"{rollback}{refused}; serving "
                                                           f"{cstate.short(self.state.validated)}")
        if tip_problem:
            return problems.Problem(problems.REFUSED, f"newest commit refused: {tip_problem}; serving "
                                                      f"{cstate.short(self.state.validated)}")
        return problems.HEALTHY

    def _choose(self, commit: str) -> str:
        """Make `commit` the newest validated one; "" or why not (a roll-back under a signature policy).

        With signatures enforced, someone who can push but not sign could still push an older
        signed commit (a roll-back to a known-vulnerable configuration) or another branch's
        signed commit on top of an unsigned one. So the validated commit only ever moves forward,
        through signed commits, from every high-water mark (see rollback_reason).
        """
        if commit == self.state.validated:
            return ""
        if self.policy.enforced:
            why = self.rollback_reason(commit)
            if why:
                return why
            self.state.floor = commit
        self.state.validated = commit
        try:
            self.state.validated_time = self.git.commit_time(commit)
        except (GitError, ValueError):
            self.state.validated_time = int(time.time())
        self.log.info(f"newest validated commit is now {cstate.short(commit)}")
        return ""

    # -- high-water mark -------------------------------------------------
    @property
    def mark_name(self) -> str:
        return MARK_PREFIX + self.ctx.env.clone_free_instance

    def cluster_mark(self) -> str:
        """The newest commit any node of the cluster deployed ("" unknown, or outside a cluster)."""
        if self._mark is None:
            from ...ocf import attributes
            value = attributes.get_cluster_property(self.mark_name, self.ctx.deadline, self.log,
                                                    self.ctx.environ) or ""
            if value and not (len(value) in (40, 64) and all(c in "0123456789abcdef" for c in value)):
                self.log.warning(f"cluster property {self.mark_name} is not a commit id: ignored")
                value = ""
            self._mark = value
        return self._mark

    def floors(self) -> List[str]:
        """The high-water marks a commit must descend from (only under a signature policy)."""
        if not self.policy.enforced:
            return []
        marks = [m for m in (self.state.floor, self.cluster_mark()) if m]
        return marks if len(marks) < 2 or marks[0] != marks[1] else marks[:1]

    def rollback_reason(self, commit: str, path: bool = True) -> str:
        """Why `commit` must not go live, or "" when it descends from every high-water mark
        (and, with `path`, only through commits the signature policy accepts)."""
        short = cstate.short(commit)
        for floor in self.floors():
            if floor == commit:
                continue
            if not self.git.has_ref(floor):
                return (f"commit {short} cannot be related to high-water mark {cstate.short(floor)}, which "
                        f"is not in this node's cache (branch rewritten?): not deployed")
            if not self.git.is_ancestor(floor, commit):
                return (f"upstream commit {short} does not descend from {cstate.short(floor)}, the newest "
                        f"commit validated or deployed (branch rolled back or rewritten): not deployed")
            if path:
                between = self.git.first_parents_since(commit, floor, MAX_PATH + 1)[1:]
                if len(between) >= MAX_PATH:
                    return (f"commit {short} is more than {MAX_PATH} commits ahead of high-water mark "
                            f"{cstate.short(floor)}: not deployed")
                for other in reversed(between):  # oldest first: name the first bad step
                    if other in self.state.good:
                        continue
                    why = signature.check(self.git, self.policy, other)
                    if why:
                        return (f"commit {short} sits on {cstate.short(other)}, which the signature policy "
                                f"refuses ({why}): not deployed")
        return ""

    def publish_mark(self, commit: str) -> None:
        """Raise the high-water marks to the commit just deployed (signature policy only)."""
        if not self.policy.enforced:
            return
        if self.state.floor != commit:
            self.state.floor = commit
            self.save()
        if self.cluster_mark() != commit:
            from ...ocf import attributes
            if attributes.set_cluster_property(self.mark_name, commit, self.ctx.deadline, self.log,
                                               self.ctx.environ):
                self._mark = commit

    def _evaluate(self, commit: str) -> Optional[str]:
        """None when `commit` passes (its tree is then prepared), else the refusal reason (remembered)."""
        short = cstate.short(commit)
        try:
            reason = signature.check(self.git, self.policy, commit)
        except GitError as exc:
            raise _Inconclusive(f"signature check of {short} failed: {exc}") from None
        if reason is None:
            reason = self._prepare(commit, test=True)
        if reason is None:
            self.state.remember_good(commit)
            self.save()
            return None
        self.log.warning(f"refusing commit {short}: {reason}")
        self.state.refuse(commit, reason)
        self.save()
        return reason

    def _prepare(self, commit: str, test: bool) -> Optional[str]:
        """Write commit's tree to a staging dir, own it, test it, move it to deploy/<commit>."""
        import shutil
        s = self.settings
        short = cstate.short(commit)
        final = s.tree(commit)
        stage = os.path.join(s.deploy_root, f".stage-{commit}-{os.getpid()}")
        index = s.index(commit) + f".stage-{os.getpid()}"
        try:
            bad = next((p for p in self.git.paths(commit) if _unsafe_path(p)), None)
        except GitError as exc:
            raise _Inconclusive(f"cannot list {short}: {exc}") from None
        if bad is not None:
            # git refuses to check such a tree out: the commit's fault, refused for good
            return f"commit {short}: its tree holds a path git never checks out ({bad[:80]!r})"
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage, mode=0o700)
        try:
            try:
                self.git.checkout(commit, stage, index)
                uid, gid = s.ids()
                deploy.apply_ownership(stage, uid, gid, s.mode)
            except (GitError, OSError) as exc:
                raise _Inconclusive(f"cannot stage {short}: {scrub(str(exc))}") from None
            if not os.path.isfile(os.path.join(stage, s.main_config)):
                return f"commit {short}: {s.main_config} is missing"
            if test and s.validate:
                left = self.ctx.deadline.remaining()
                if left < MIN_TEST_BUDGET:
                    raise _Inconclusive(f"no time left to test {short}")
                try:
                    test_uid, test_gid = s.test_ids()
                except OcfError as exc:
                    raise _Inconclusive(exc.reason) from None
                outcome = validation.director_test(self.ctx.run, s.binary, stage, s.main_config, left,
                                                   test_uid, test_gid)
                if not outcome.ok:
                    if not outcome.conclusive:
                        raise _Inconclusive(f"config test of {short}: {outcome.message}")
                    return f"commit {short}: {outcome.message}"
            if os.path.lexists(final):
                if final in self._protected_trees():
                    return None  # an identical tree is live: keep it (drift is watched separately)
                shutil.rmtree(final, ignore_errors=True)
            os.rename(stage, final)
            os.replace(index, s.index(commit))
            deploy.fsync_dir(s.deploy_root)
            self.git.run(["--work-tree", final, "update-index", "-q", "--refresh"],
                         env={"GIT_INDEX_FILE": s.index(commit)}, check=False, cwd=final)
            return None
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            try:
                os.unlink(index)
            except FileNotFoundError:
                pass

    def ensure_tree(self, commit: str) -> None:
        """The prepared tree of an already validated commit, rebuilt from the cache if it vanished."""
        if os.path.isdir(self.settings.tree(commit)) and os.path.isfile(self.settings.index(commit)):
            return
        try:
            reason = self._prepare(commit, test=False)
        except _Inconclusive as exc:
            raise OcfError(Exit.ERR_GENERIC, str(exc)) from None
        if reason:
            raise OcfError(Exit.ERR_GENERIC, reason)

    # -- deployment ----------------------------------------------------
    def live_target(self) -> Optional[str]:
        return deploy.current_target(self.settings.config_dir)

    def live_problem(self) -> str:
        """Why the live configuration is not the deployed commit ("" when it is)."""
        s = self.settings
        deployed = self.state.deployed
        if not deployed:
            return "nothing was deployed to config_dir"
        target = self.live_target()
        if target is None:
            what = "missing" if not os.path.lexists(s.config_dir) else "not a symlink to a deployed tree"
            return f"{s.config_dir} is {what}"
        if os.path.normpath(target) != s.tree(deployed):
            return f"{s.config_dir} points to {target}, not to deployed commit {cstate.short(deployed)}"
        if not os.path.isfile(os.path.join(s.config_dir, s.main_config)):
            return f"{s.main_config} is missing from {s.config_dir}"
        return ""

    def deploy(self, commit: str) -> bool:
        """Make `commit` live (atomic swap); True when config_dir changed."""
        s = self.settings
        why = self.rollback_reason(commit, path=False)
        if why:
            raise OcfError(Exit.ERR_GENERIC, why)
        self.ensure_tree(commit)
        target = s.tree(commit)
        if self.live_target() == target and self.state.deployed == commit:
            self.publish_mark(commit)
            return False
        try:
            backup = deploy.swap(s.config_dir, target)
        except OSError as exc:
            raise OcfError(Exit.ERR_GENERIC, f"cannot deploy commit {cstate.short(commit)} to "
                                             f"{s.config_dir}: {exc}") from None
        if backup:
            self.log.warning(f"{s.config_dir} was a real directory: kept as {backup}")
        if self.state.deployed and self.state.deployed != commit:
            self.state.previous = self.state.deployed
        self.state.deployed = commit
        self.save()
        try:
            self._pin()
        except GitError as exc:
            self.log.warning(f"cannot pin deployed commit: {exc}")
        self.log.info(f"deployed commit {cstate.short(commit)} to {s.config_dir}"
                      f" (last known good: {cstate.short(self.state.previous)})")
        self.publish_mark(commit)
        return True

    def _protected_trees(self) -> set:
        keep = {self.settings.tree(c) for c in (self.state.deployed, self.state.previous, self.state.validated) if c}
        target = self.live_target()
        if target:
            keep.add(os.path.normpath(target))
        return keep

    def prune(self) -> None:
        """Drop old prepared trees; never the live, last-known-good or newest validated one."""
        import shutil
        root = self.settings.deploy_root
        try:
            names = os.listdir(root)
        except OSError:
            return
        keep = self._protected_trees()
        trees = []
        for name in names:
            path = os.path.join(root, name)
            if name.startswith(".stage-"):
                shutil.rmtree(path, ignore_errors=True)  # leftovers of a killed action (we hold the lock)
            elif path not in keep and os.path.isdir(path):
                trees.append((os.stat(path).st_mtime, path, name))
        trees.sort(reverse=True)
        for _, path, name in trees[KEEP_EXTRA_TREES:]:
            shutil.rmtree(path, ignore_errors=True)
            try:
                os.unlink(self.settings.index(name))
            except FileNotFoundError:
                pass

    def reload(self) -> str:
        """Run reload_command after a deployment; "" when it worked, else why not (a RELOAD_FAILED message)."""
        from ...ocf.command import CommandTimeout
        argv = self.settings.reload_command.split()
        if not argv:
            return ""
        try:
            result = self.ctx.run(argv, timeout=min(30.0, max(1.0, self.ctx.deadline.remaining() * 0.5)),
                                  env=validation.minimal_env(), replace_env=True)
        except (CommandTimeout, OcfError) as exc:
            return f"reload after deploying {cstate.short(self.state.deployed)} failed: {exc}"
        if result.returncode != 0:
            return (f"reload after deploying {cstate.short(self.state.deployed)} failed: "
                    f"{scrub(result.first_line())}")
        self.log.info(f"reloaded with {os.path.basename(argv[0])} after deploying {cstate.short(self.state.deployed)}")
        return ""

    # -- drift -----------------------------------------------------------
    def drift(self) -> List[str]:
        """Paths of the live tree that differ from the deployed commit."""
        commit = self.state.deployed
        if not commit or not os.path.isfile(self.settings.index(commit)):
            return []
        return self.git.changes(self.settings.tree(commit), self.settings.index(commit))

    def push_drift(self, paths: List[str]) -> str:
        """Commit the live tree on top of the deployed commit and push it; return the new commit.

        When the upstream tip already is exactly that (pushed by an earlier monitor, perhaps
        refused since), nothing is pushed again.
        """
        import shutil
        commit = self.state.deployed
        tmp_index = self.settings.index(commit) + f".push-{os.getpid()}"
        shutil.copyfile(self.settings.index(commit), tmp_index)
        try:
            shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
            node = self.ctx.env.node or os.uname().nodename
            message = (f"config-pull: local edits on {node}\n\nChanged in {self.settings.config_dir}: {shown}\n"
                       f"Recorded on top of {commit}.\n")
            tree_id = self.git.write_live_tree(self.settings.tree(commit), tmp_index)
            tip = self.state.tip
            if tip and self.git.tree_of(tip) == tree_id and tip != commit:
                return tip
            new = self.git.commit_tree(tree_id, commit, message)
        finally:
            try:
                os.unlink(tmp_index)
            except FileNotFoundError:
                pass
        self.git.push(new, self.settings.branch, timeout=min(float(self.settings.fetch_timeout),
                                                      max(1.0, self.ctx.deadline.remaining() * 0.5)))
        return new

    # -- promotion score ---------------------------------------------------
    def score(self, fresh: bool) -> Optional[int]:
        """FRESH_SCORE when this node confirmed upstream now; else lower the older its commit.
        None (not promotable) when its commit does not descend from the high-water marks."""
        if not self.state.validated:
            return None
        if self.rollback_reason(self.state.validated, path=False):
            return None
        if fresh:
            return FRESH_SCORE
        age_h = max(0, int((time.time() - self.state.validated_time) // 3600))
        return max(1, STALE_CEILING - min(age_h, STALE_CEILING - 1))


def _unsafe_path(path: str) -> bool:
    """A tree path with an empty, `.`, `..` or `.git` component (git's verify_path refuses it)."""
    for part in path.split("/"):
        if part in ("", ".", "..") or part.rstrip(". ").lower() == ".git":
            return True
    return False


class _Inconclusive(Exception):
    """A commit could not be judged now (catalog down, out of time): try again later."""
