# SPDX-License-Identifier: GPL-2.0-or-later
"""The bacula-config-pull agent's actions: roles, locking and exit codes.

Exit codes (OCF 1.1, promotable):

=========================================  =====
monitor, not started (or probe after boot)   7
monitor, unpromoted, healthy                 0
monitor, promoted, healthy                   8
monitor, unpromoted, Git unreachable or
  newest commit refused / not testable     190
monitor, promoted, same, or local drift    191
monitor, promoted, live config missing or
  not the deployed commit                    9
promote with nothing ever validated          1
=========================================  =====

The role survives between actions in a marker under HA_RSCTMP (cleared at
boot, so a probe after a reboot says 7). demote and stop never touch the live
configuration; stop always succeeds.
"""

from __future__ import annotations

from ...ocf.codes import Exit, OcfError

# Everything else is imported inside the handlers: a probe of an instance that is not
# started here must cost no more than the runtime itself (see tests/test_lazy_imports.py).

ROLE = "role"
SCORE = "score"
PROMOTED, UNPROMOTED = "promoted", "unpromoted"


# -- helpers -------------------------------------------------------------
def _settings(ctx):
    from .gitrunner import url_secret
    from .settings import from_params
    ctx.secrets.add(url_secret(ctx.params.repository or ""))
    return from_params(ctx.params, ctx.env.clone_free_instance)


def _check_local(settings) -> None:
    from .settings import check_local
    check_local(settings)


def _role(ctx):
    text = ctx.state().read(ROLE)
    return text.strip() if text else None


def _locked(ctx, deadline=None):
    """The instance lock: actions of one instance never interleave."""
    from ...ocf.lock import instance_lock
    return instance_lock(ctx.state().path("lock"), deadline or ctx.deadline)


def _engine(ctx, s, lock_fd=None):
    from .engine import Engine  # the probe path stays light
    return Engine(s, ctx, lock_fd)


def _publish_score(ctx, engine, fresh: bool) -> None:
    """Set or delete this node's promotion score; harmless outside a cluster."""
    from ...ocf import attributes
    value = engine.score(fresh)
    text = "" if value is None else str(value)
    st = ctx.state()
    ctx.log.debug(f"promotion score {'none' if value is None else value} (fresh={fresh})"
                  f"{', unchanged' if st.read(SCORE) == text else ''}")
    if st.read(SCORE) == text:
        return
    instance = ctx.env.instance
    if value is None:
        ok = attributes.delete_promotion_score(ctx.deadline, ctx.log, instance, ctx.environ)
    else:
        ok = attributes.set_promotion_score(value, ctx.deadline, ctx.log, instance, ctx.environ)
    if ok:
        st.write(SCORE, text)


def _fresh(result) -> bool:
    """A refresh that reached Git and judged the tip: the node may publish the fresh score."""
    from .problems import INCONCLUSIVE
    return result.fetched and result.problem.kind != INCONCLUSIVE


def _promoted_code(problems) -> int:
    from .problems import joined
    if any(problems):
        raise OcfError(Exit.DEGRADED_PROMOTED, joined(problems))
    return Exit.RUNNING_PROMOTED


# -- actions -------------------------------------------------------------
def validate(ctx) -> int:
    s = _settings(ctx)
    if ctx.env.check_level >= 10:
        _check_local(s)
    return Exit.SUCCESS


def start(ctx) -> int:
    s = _settings(ctx)
    _check_local(s)
    with _locked(ctx) as lock_fd:
        if _role(ctx) is None:
            ctx.state().write(ROLE, UNPROMOTED)
        engine = _engine(ctx, s, lock_fd)
        result = engine.refresh()
        ctx.log.debug(f"start refresh: fetched={result.fetched} problem={result.problem.message or 'none'}")
        if result.problem:
            ctx.log.warning(f"started degraded: {result.problem.message}")
        _publish_score(ctx, engine, _fresh(result))
    return Exit.SUCCESS


def stop(ctx) -> int:
    """Forget the role; the live configuration stays. Always succeeds: a failed stop gets the
    node fenced, and nothing here runs that could still be running."""
    try:
        with _locked(ctx, ctx.deadline.sub(0.5)):
            ctx.state().remove(ROLE)
    except Exception as exc:
        ctx.log.warning(f"stop without the lock: {getattr(exc, 'reason', exc)}")
        try:
            ctx.state().remove(ROLE)
        except OSError as err:
            ctx.log.warning(f"stop: cannot remove the role marker: {err}")
    try:
        if ctx.state().read(SCORE) not in (None, ""):
            from ...ocf import attributes
            attributes.delete_promotion_score(ctx.deadline, ctx.log, ctx.env.instance, ctx.environ)
        ctx.state().remove(SCORE)
    except OSError as err:
        ctx.log.warning(f"stop: {err}")
    return Exit.SUCCESS


def promote(ctx) -> int:
    s = _settings(ctx)
    with _locked(ctx) as lock_fd:
        role = _role(ctx)
        if role is None:
            raise OcfError(Exit.ERR_GENERIC, "cannot promote: the instance is not started")
        engine = _engine(ctx, s, lock_fd)
        engine.ensure_cache()
        commit = engine.state.validated
        if not commit:
            raise OcfError(Exit.ERR_GENERIC, "cannot promote: no commit of the repository was ever "
                                             f"validated on this node ({engine.state.problem or 'none fetched'})")
        why = engine.rollback_reason(commit, path=False)
        if why:
            raise OcfError(Exit.ERR_GENERIC, f"cannot promote: {why}")
        ctx.log.debug(f"promote: deploying validated commit {commit[:12]} "
                      f"(deployed before: {(engine.state.deployed or 'none')[:12]})")
        engine.deploy(commit)
        ctx.state().write(ROLE, PROMOTED)
        if engine.state.problem:
            ctx.log.warning(f"promoted from the cache, degraded: {engine.state.problem}")
    return Exit.SUCCESS


def demote(ctx) -> int:
    with _locked(ctx) as lock_fd:
        if _role(ctx) is not None:
            ctx.state().write(ROLE, UNPROMOTED)
    return Exit.SUCCESS


def monitor(ctx) -> int:
    role = _role(ctx)
    ctx.log.debug(f"role marker: {role or 'none (not started here)'}")
    if role is None:
        return Exit.NOT_RUNNING
    if role != PROMOTED and ctx.env.is_probe:
        ctx.log.debug("probe of an unpromoted instance: running, no fetch")
        return Exit.SUCCESS
    try:
        s = _settings(ctx)
    except OcfError:
        if ctx.env.is_probe:
            return Exit.NOT_RUNNING
        raise
    with _locked(ctx) as lock_fd:
        role = _role(ctx)  # may have changed while we waited
        if role is None:
            return Exit.NOT_RUNNING
        engine = _engine(ctx, s, lock_fd)
        if role != PROMOTED:
            if ctx.env.is_probe:
                return Exit.SUCCESS
            result = engine.refresh(allow_backoff=True)
            ctx.log.debug(f"unpromoted refresh: fetched={result.fetched} "
                          f"problem={result.problem.message or 'none'}")
            _publish_score(ctx, engine, _fresh(result))
            if result.problem:
                raise OcfError(Exit.DEGRADED, result.problem.message)
            return Exit.SUCCESS
        return _monitor_promoted(ctx, s, engine)


def _monitor_promoted(ctx, s, engine) -> int:
    from . import problems as P
    broken = engine.live_problem()
    if broken:
        raise OcfError(Exit.FAILED_PROMOTED, f"live configuration broken: {broken}")
    if ctx.env.is_probe:
        return Exit.RUNNING_PROMOTED
    found = []
    changed = engine.drift()
    if changed:
        shown = ", ".join(changed[:5]) + (f" (+{len(changed) - 5})" if len(changed) > 5 else "")
        if s.push_changes:
            from .gitrunner import GitError
            from ...ocf.command import CommandTimeout
            try:
                new = engine.push_drift(changed)
                ctx.log.info(f"local edits in {s.config_dir} ({shown}) are upstream as commit {new[:12]}")
            except (GitError, CommandTimeout, OSError) as exc:
                found.append(P.Problem(P.PUSH_FAILED,
                                       f"local edits in {s.config_dir} ({shown}) could not be pushed: {exc}"))
        else:
            found.append(P.Problem(P.LOCAL_EDITS, f"local edits in {s.config_dir} not in Git: {shown}"))
    result = engine.refresh(allow_backoff=True)
    ctx.log.debug(f"promoted refresh: fetched={result.fetched} problem={result.problem.message or 'none'}; "
                  f"validated={(engine.state.validated or 'none')[:12]} deployed={(engine.state.deployed or 'none')[:12]}")
    if result.problem:
        found.insert(0, result.problem)
    if engine.state.validated and engine.state.validated != engine.state.deployed:
        if changed and not s.push_changes:
            ctx.log.warning(f"deploying {engine.state.validated[:12]} over local edits; they stay in "
                            f"{s.tree(engine.state.deployed)}")
        try:
            engine.deploy(engine.state.validated)
        except OcfError as exc:  # the live configuration is untouched: degraded, not failed
            found.append(P.Problem(P.DEPLOY_FAILED, exc.reason))
        else:
            engine.prune()
            reload_problem = engine.reload()
            if reload_problem:
                found.append(P.Problem(P.RELOAD_FAILED, reload_problem))
            # the edited tree is no longer live: its edits are no longer a problem of config_dir
            found = [p for p in found if p.kind != P.LOCAL_EDITS]
    # The promoted instance serves a healthy live configuration: it keeps the fresh score even
    # when only it cannot reach Git, so a Git outage seen by one node never moves the Director.
    _publish_score(ctx, engine, True)
    return _promoted_code(found)
