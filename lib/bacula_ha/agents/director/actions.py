# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-director actions: start, stop, monitor, reload, validate-all.

Exit code decisions (see docs/agents/bacula-director.md):
* invalid parameter values (relative config path, bad port) -> ERR_CONFIGURED
  (the runtime does that from the declarations);
* things this node lacks (binary, config or console config file, e.g. a config
  directory that is not mounted yet) -> ERR_INSTALLED; user/group -> ERR_ARGS;
* a configuration bacula-dir rejects -> ERR_GENERIC with the Director's own
  line. Not ERR_CONFIGURED: the file is node-local (pulled or mounted per node),
  and ERR_CONFIGURED would stop the Director on every node, also where the file
  is good. ERR_GENERIC lets Pacemaker try another node.
* a running Director whose catalog is down -> DEGRADED (190), not a failure.

Imports beyond proc happen inside the functions that need them, `os` and the
configuration reader included: the probe of a node without any bacula-dir
imports nothing else (tests/test_lazy_imports.py).
"""

from __future__ import annotations

import time

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional, Tuple

    from .settings import DirectorSettings

from ...ocf.codes import Exit, OcfError
from . import proc

START_OUTPUT = "start.out"
# Each step's wait is a share of the operation timeout (Deadline.part), never a fixed cap: a slow
# node (emulated CPUs, a loaded host) is given longer timeouts, and its steps must grow with them.
CONSOLE_ATTEMPT_SHARE = 1 / 12   # one console try during start: 5 s of the default 60 s
PORT_CHECK_SHARE = 1 / 15        # depth 0's port check: 2 s of the default 30 s
CATALOG_PRECHECK_SHARE = 0.25    # start's catalog login: 15 s of 60 s; -t and the start keep the rest
CATALOG_MONITOR_SHARE = 1 / 3    # depth 20's catalog check: 10 s of 30 s; the jobs follow-up keeps room


# -- finding the process ---------------------------------------------------------
def _find(ctx) -> Tuple[Optional[proc.ProcInfo], Optional[str], object]:
    """(the Director's process or None, its pid file, where it was located)."""
    if ctx.env.is_probe and not proc.live_directors():
        # No bacula-dir at all on this node: nothing to locate. Skips parsing the
        # configuration, which for a 10,000-client tree takes seconds.
        ctx.log.debug("probe: no bacula-dir process on this node; configuration not read")
        return None, None, None
    from .settings import locate
    loc = locate(ctx.params, ctx.state())
    info = None
    if loc.pidfile:
        pid = proc.read_pidfile(loc.pidfile)
        if pid:
            cand = proc.proc_info(pid)
            if cand is not None and cand.comm == proc.COMM and cand.alive:
                info = cand
            ctx.log.debug(f"pid file {loc.pidfile} names pid {pid}: "
                          f"{'a live bacula-dir' if info else 'not a live bacula-dir'}")
        else:
            ctx.log.debug(f"pid file {loc.pidfile} absent or empty")
    if info is None:
        found = proc.directors_using(ctx.params.config)
        if found:
            info = found[0]
            ctx.log.warning(f"bacula-dir pid {info.pid} runs with {ctx.params.config} "
                            f"but pid file {loc.pidfile or '(unknown)'} does not name it")
    return info, loc.pidfile, loc


def _stale(pidfile: Optional[str]) -> bool:
    if not pidfile:
        return False
    import os
    return os.path.exists(pidfile) and proc.lock_holder(pidfile) is None


def _remove_stale(pidfile: Optional[str]) -> bool:
    """Remove a pid file no live daemon holds (bacula-dir leaves it after a crash)."""
    if not _stale(pidfile):
        return False
    import os
    try:
        os.unlink(pidfile)
        return True
    except OSError:
        return False


# -- monitor ----------------------------------------------------------------------
def _level0(ctx, info: proc.ProcInfo, loc) -> None:
    if info.stopped:
        raise OcfError(Exit.ERR_GENERIC, f"bacula-dir pid {info.pid} is stopped (state {info.state}): "
                                         "it cannot serve (SIGSTOP or traced)")
    host = ctx.params.address or loc.address or "127.0.0.1"
    port = ctx.params.port or loc.port or 9101
    listening = proc.listens(info.pid, port)
    if listening:
        ctx.log.debug(f"depth 0: pid {info.pid} is running and listens on port {port}")
        return
    if listening is False:
        raise OcfError(Exit.ERR_GENERIC, f"bacula-dir pid {info.pid} runs but does not listen on port {port}")
    # /proc/PID/fd not readable (not root): fall back to a TCP connect
    problem = proc.port_accepts(host, port, ctx.deadline.part(PORT_CHECK_SHARE))
    if problem:
        raise OcfError(Exit.ERR_GENERIC, f"bacula-dir pid {info.pid} runs but {host}:{port} "
                                         f"does not accept connections: {problem}")


def _settings(ctx, with_catalog: bool = False, fresh: bool = True) -> DirectorSettings:
    """Resolved settings, secrets registered; `fresh=False` may use the last start's record."""
    from .conf import ConfError
    from .settings import for_checks, resolve
    for attempt in (1, 2):
        try:
            if fresh or with_catalog:
                settings = resolve(ctx.params, with_console=True, with_catalog=with_catalog)
            else:
                settings = for_checks(ctx.params, ctx.state())
            break
        except ConfError as exc:
            # a config deployment may swap the directory under us: look once more before failing
            if attempt == 1 and ctx.deadline.remaining() > 2.0:
                ctx.deadline.sleep(0.5)
                continue
            raise OcfError(Exit.ERR_GENERIC, f"cannot read the Director's configuration: {exc}") from None
    ctx.secrets.add(settings.console_password)
    if settings.catalog is not None:
        ctx.secrets.add(settings.catalog.password)
    return settings


class ConsoleFailed(OcfError):
    """A console request failed (ERR_GENERIC). `cause` is the typed console error
    (console.ConsoleRefused, WrongDirector, ConsoleTimeout, ...) that start and
    reload decide on; the reason is output only."""

    def __init__(self, cause: Exception, reason: str) -> None:
        super().__init__(Exit.ERR_GENERIC, reason)
        self.cause = cause


def console_round_trip(ctx, settings: DirectorSettings, deadline=None, command: str = "version") -> str:
    """An authenticated console command; ConsoleFailed with the typed cause when it fails."""
    from .console import ConsoleError, ConsoleTimeout, DirectorConsole
    deadline = deadline or ctx.deadline
    started = time.monotonic()
    try:
        with DirectorConsole(settings.address, settings.port, settings.console_name,
                             settings.console_password, deadline) as console:
            return console.command(command)
    except ConsoleTimeout as exc:
        raise ConsoleFailed(exc, f"{exc} after {time.monotonic() - started:.1f}s: "
                                 "Director hung or overloaded") from None
    except ConsoleError as exc:
        raise ConsoleFailed(exc, str(exc)) from None


def monitor(ctx) -> int:
    info, pidfile, loc = _find(ctx)
    if info is None:
        if _stale(pidfile) and not ctx.env.is_probe:
            pid = proc.read_pidfile(pidfile)
            raise OcfError(Exit.ERR_GENERIC, f"bacula-dir is not running but its pid file {pidfile} "
                                             f"remains (pid {pid}): it died")
        ctx.log.debug("no bacula-dir process and no stale pid file: cleanly stopped")
        return Exit.NOT_RUNNING
    _level0(ctx, info, loc)
    if ctx.env.check_level < 10:
        return Exit.SUCCESS
    settings = _settings(ctx, with_catalog=ctx.env.check_level >= 20, fresh=False)
    console_round_trip(ctx, settings)
    ctx.log.debug(f"depth 10: the Director answered an authenticated console request on "
                  f"{settings.address}:{settings.port}")
    if ctx.env.check_level < 20:
        return Exit.SUCCESS
    if settings.catalog is None:
        ctx.log.warning("no Catalog resource in the configuration: nothing to check at depth 20")
        return Exit.SUCCESS
    from ..catalog.errors import CheckFailure
    from .catalog import check
    try:
        check(settings.catalog, ctx.deadline.part(CATALOG_MONITOR_SHARE))
    except CheckFailure as failure:     # the Director runs; what it depends on does not
        raise OcfError(Exit.DEGRADED, failure.reason) from None
    return Exit.SUCCESS


# -- start ------------------------------------------------------------------------
def _require_binary(binary: str) -> None:
    import os
    if not os.path.isfile(binary):
        raise OcfError(Exit.ERR_INSTALLED, f"{binary} is not installed")
    if not os.access(binary, os.X_OK):
        raise OcfError(Exit.ERR_INSTALLED, f"{binary} is not executable")


def _ids(user: str, group: str) -> Tuple[int, int, set]:
    import grp
    import pwd
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise OcfError(Exit.ERR_ARGS, f"user {user!r} does not exist on this node") from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise OcfError(Exit.ERR_ARGS, f"group {group!r} does not exist on this node") from None
    groups = {gid, pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    return pw.pw_uid, gid, groups


def _writable_by(path: str, uid: int, groups: set) -> bool:
    """Could uid (with groups) create files in directory `path`? (root's os.access cannot tell)"""
    import os
    try:
        st = os.stat(path)
    except OSError:
        return False
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & 0o300 == 0o300)
    if st.st_gid in groups:
        return bool(st.st_mode & 0o030 == 0o030)
    return bool(st.st_mode & 0o003 == 0o003)


def _read_settings_for_start(ctx) -> DirectorSettings:
    import os
    p = ctx.params
    for path, what in ((p.config, "configuration"), (p.console_config, "console configuration")):
        if not os.path.exists(path):
            raise OcfError(Exit.ERR_INSTALLED, f"{what} {path} does not exist on this node (not mounted yet?)")
        if not os.access(path, os.R_OK):
            raise OcfError(Exit.ERR_INSTALLED, f"{what} {path} is not readable")
    return _settings(ctx, with_catalog=True)


def start(ctx) -> int:
    import os
    p = ctx.params
    _require_binary(p.binary)
    settings = _read_settings_for_start(ctx)
    uid, _gid, groups = _ids(p.user, p.group)

    info, _pidfile, loc = _find(ctx)
    if info is not None:
        _level0(ctx, info, loc)
        console_round_trip(ctx, settings)
        from .settings import save_runtime
        save_runtime(ctx.state(), settings)
        ctx.log.info(f"bacula-dir already running (pid {info.pid})")
        return Exit.SUCCESS

    from .reach import check_for_start
    check_for_start(settings.listen)
    if not _writable_by(settings.working_dir, uid, groups):
        raise OcfError(Exit.ERR_ARGS, f"WorkingDirectory {settings.working_dir} is missing or not "
                                      f"writable by {p.user}")
    if not os.path.isdir(settings.pid_dir):
        raise OcfError(Exit.ERR_ARGS, f"PidDirectory {settings.pid_dir} does not exist")

    from . import daemon
    if settings.catalog is not None:   # one login, bounded: bacula-dir -t would retry for 30 s
        from ..catalog.errors import CLIENT, CheckFailure
        from .catalog import check
        try:
            check(settings.catalog, ctx.deadline.part(CATALOG_PRECHECK_SHARE), full=False)
        except CheckFailure as failure:
            if failure.kind != CLIENT:
                raise OcfError(Exit.ERR_GENERIC, failure.reason) from None
            ctx.log.warning(f"catalog login pre-check skipped: {failure.reason}")   # -t still judges it
    # bound -t: it retries an unreachable catalog for ~30 s; keep room for the real start
    left = ctx.deadline.remaining()
    daemon.config_test(ctx, p.binary, p.config, p.user, p.group, budget=max(1.0, min(left * 0.6, left - 3.0)))
    ctx.log.debug(f"bacula-dir -t accepted {p.config}; {ctx.deadline.remaining():.1f} s left for the start")

    _remove_stale(settings.pidfile)
    from .jobs import before_start        # jobs a previous Director left running (jobs.py)
    before_start(ctx, settings)
    from .settings import save_runtime
    state = ctx.state()
    save_runtime(state, settings)
    outfile = state.path(START_OUTPUT)
    child = daemon.spawn(p.binary, p.config, p.user, p.group, outfile)
    ctx.log.info(f"started bacula-dir pid {child.pid}; waiting for an authenticated console answer")
    last = "no answer yet"
    while True:
        status = child.poll()
        if status is not None:
            reason = daemon.director_error(daemon.read_output(outfile)) or f"exit status {status}"
            _remove_stale(settings.pidfile)
            raise OcfError(Exit.ERR_GENERIC, f"bacula-dir exited during start-up: {reason}")
        try:
            console_round_trip(ctx, settings, deadline=ctx.deadline.window(ctx.deadline.part(CONSOLE_ATTEMPT_SHARE)))
            ctx.log.info(f"bacula-dir pid {child.pid} answers the console")
            return Exit.SUCCESS
        except ConsoleFailed as exc:
            last = exc.reason
            if _permanent(exc):
                daemon.terminate([child.pid], ctx.deadline, ctx.log)
                raise OcfError(Exit.ERR_GENERIC, f"bacula-dir started but {last}") from None
        if ctx.deadline.remaining() < 1.0:
            break
        ctx.deadline.sleep(0.05)
    output = daemon.director_error(daemon.read_output(outfile))
    daemon.signal_pid(child.pid, 9)
    daemon.wait_gone([child.pid], ctx.deadline, 1.0)
    _remove_stale(settings.pidfile)
    raise OcfError(Exit.ERR_GENERIC, f"bacula-dir did not answer the console before the start timeout "
                                     f"({last}){': ' + output if output else ''}")


def _permanent(failure: ConsoleFailed) -> bool:
    """Failures that retrying the console will not fix: our credentials are refused, or the
    peer failed our challenge (not our Director). Anything else may be a Director still starting."""
    from .console import ConsoleRefused, WrongDirector
    return isinstance(failure.cause, (ConsoleRefused, WrongDirector))


# -- stop -------------------------------------------------------------------------
def stop(ctx) -> int:
    from . import daemon
    from .settings import locate
    loc = locate(ctx.params, ctx.state())
    pids = set()
    if loc.pidfile:
        pid = proc.read_pidfile(loc.pidfile)
        info = proc.proc_info(pid) if pid else None
        if info is not None and info.comm == proc.COMM and info.alive:
            pids.add(info.pid)
    pids.update(i.pid for i in proc.directors_using(ctx.params.config))
    if pids:
        _record_running_jobs(ctx)
        ctx.log.info(f"stopping bacula-dir {', '.join(map(str, sorted(pids)))}")
        daemon.terminate(sorted(pids), ctx.deadline, ctx.log)
    else:
        ctx.log.debug(f"no bacula-dir process for {ctx.params.config}: already stopped")
    if _remove_stale(loc.pidfile):
        ctx.log.info(f"removed stale pid file {loc.pidfile}")
    return Exit.SUCCESS


def _record_running_jobs(ctx) -> None:
    """A planned stop: the next start reruns the jobs this Director runs (jobs.py)."""
    if ctx.params.interrupted_jobs != "rerun":
        return
    from .jobs import before_stop
    try:
        before_stop(ctx, _settings(ctx, with_catalog=True))
    except OcfError as exc:      # stop never fails for this
        ctx.log.warning(f"running jobs not recorded before the stop: {exc.reason}")


def monitor_jobs(ctx) -> int:
    """monitor, then (not on probes) the interrupted-job work a start left (jobs.py)."""
    rc = monitor(ctx)
    if rc != Exit.SUCCESS or ctx.env.is_probe:
        return rc
    from .settings import JOBS_MARKER
    if ctx.state().exists(JOBS_MARKER):
        from .jobs import follow_up
        follow_up(ctx)
    return rc


# -- reload -----------------------------------------------------------------------
def reload(ctx) -> int:
    import os
    from . import daemon
    p = ctx.params
    info, _pidfile, loc = _find(ctx)
    if info is None:
        raise OcfError(Exit.ERR_GENERIC, "bacula-dir is not running: nothing to reload")
    _level0(ctx, info, loc)
    _read_settings_for_start(ctx)
    left = ctx.deadline.remaining()
    try:
        daemon.config_test(ctx, p.binary, p.config, p.user, p.group, budget=max(1.0, min(left * 0.6, left - 3.0)))
    except OcfError as exc:
        raise OcfError(exc.code, f"reload refused, running Director left unchanged: {exc.reason}") from None
    settings = _settings(ctx)
    # the running Director listens where it was started, even if the new config moves DIRport
    settings.address = p.address or loc.address or settings.address
    settings.port = p.port or loc.port or settings.port
    try:
        output = console_round_trip(ctx, settings, command="reload")
        if output.strip():
            ctx.log.info(f"reload: {' '.join(output.split())[:300]}")
    except ConsoleFailed as exc:
        from .console import ConsoleRefused
        if not isinstance(exc.cause, ConsoleRefused):
            raise
        # new credentials the running Director learns only by reloading: SIGHUP reloads too
        ctx.log.warning(f"{exc.reason}; the new console password may not be loaded yet: sending SIGHUP")
        import signal
        os.kill(info.pid, signal.SIGHUP)
    for attempt in range(3):      # still answering (with the new credentials) after the reload
        try:
            console_round_trip(ctx, settings, deadline=ctx.deadline.window(ctx.deadline.part(CONSOLE_ATTEMPT_SHARE)))
            break
        except OcfError:
            if attempt == 2 or ctx.deadline.remaining() < 1.0:
                raise
            ctx.deadline.sleep(0.5)
    ctx.log.info(f"bacula-dir pid {info.pid} reloaded {p.config}")
    return Exit.SUCCESS


# -- validate-all -----------------------------------------------------------------
def validate(ctx) -> int:
    p = ctx.params
    _require_binary(p.binary)
    _ids(p.user, p.group)
    settings = _read_settings_for_start(ctx)
    if not settings.console_password:
        raise OcfError(Exit.ERR_GENERIC, f"{p.console_config} names no console password")
    from .reach import check_for_validate
    check_for_validate(settings.listen, ctx.log)
    return Exit.SUCCESS
