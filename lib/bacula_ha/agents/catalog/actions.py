# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-catalog-check actions: start waits for a usable catalog, monitor re-checks it.

The agent manages no process. A state marker under HA_RSCTMP says "started
here"; a probe or monitor without it answers 7 at once, without loading
libpq. With the marker, monitor runs the catalog probe (probe.py) within the op
timeout: a failing catalog is a failure in mode=local (Pacemaker recovers the
group) and degraded (190) in mode=external (moving the Director cannot repair
a catalog it does not own).
"""

from __future__ import annotations

import time

from ...ocf.codes import Exit, OcfError

# A probe of a stopped instance imports nothing beyond this (no typing, json, dataclasses, ctypes).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from ...ocf.agent import Context
    from .errors import Target

MARKER = "started"

#: Pause between start attempts: short, the catalog is usually seconds from ready.
RETRY_PAUSE_S = 1.0
#: No retry begins with less time left than this.
MIN_ATTEMPT_S = 1.0
#: mode=local: the catalog's own resource (pgsql) is ordered before us and its start returns only
#: once the server accepts connections, so an unreachable server at our start will not come back by
#: waiting. Waiting would hold the transition that has to restart PostgreSQL (measured in the lab:
#: a PostgreSQL kill -9 took 65 s to recover). Fail after this grace instead.
LOCAL_UNREACHABLE_GRACE_S = 5.0


# -- shared pieces -------------------------------------------------------------
def _nodename() -> str:
    from posix import uname   # not `os`: off the monitor's import path (ocf/environment.py)
    return uname().nodename


def _target(ctx: Context) -> Target:
    from .errors import Target
    p = ctx.params
    return Target(host=p.host, port=int(p.port), dbname=p.dbname, user=p.user)


def _marker(ctx: Context) -> Optional[dict]:
    """The marker's content ({} when unreadable), None when not started here."""
    text = ctx.state().read(MARKER)
    if text is None:
        return None
    return _flat_ints(text)


def _flat_ints(text: str) -> dict:
    """The integer fields of the marker's flat JSON object ({} when it is anything else).

    Not `json`: its import (re, enum) cost every monitor ~20-70 ms; start writes the
    marker with json.dumps, and only these flat integers are ever read back.
    """
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return {}
    out = {}
    for item in body[1:-1].split(","):
        key, sep, value = item.partition(":")
        key, value = key.strip(), value.strip()
        if sep and len(key) >= 2 and key[0] == key[-1] == '"' and value.lstrip("-").isdigit() and value.isascii():
            out[key[1:-1]] = int(value)
    return out


def expected_version(ctx: Context, marker: Optional[dict] = None) -> int:
    """expected_version, else what the installed Director's catalog script inserts.

    A running instance falls back to the value it was started with, so that a
    package removed under it does not turn a monitor into a configuration error.
    """
    if ctx.params.given("expected_version") and ctx.params.expected_version is not None:
        return int(ctx.params.expected_version)
    from . import version
    try:
        found, path = version.discover()
        ctx.log.debug(f"expected VersionId {found} from {path}")
        return found
    except version.VersionUnknown as why:
        remembered = (marker or {}).get("expected_version")
        if isinstance(remembered, int):
            return remembered
        raise OcfError(Exit.ERR_CONFIGURED, "expected_version is not set and the installed Director's "
                                            f"catalog version cannot be found ({why}): set expected_version")


def _passfile_problem(ctx: Context) -> Optional[OcfError]:
    from . import passfile as pgpass
    problem = pgpass.problem(ctx.params.passfile)
    if problem is None and ctx.params.passfile:
        for password in pgpass.passwords(ctx.params.passfile):
            ctx.secrets.add(password)
    return problem


def _settings(ctx: Context, expected: int):
    from .probe import ProbeSettings
    p = ctx.params
    return ProbeSettings(target=_target(ctx), passfile=p.passfile, sslmode=p.sslmode,
                    connect_timeout=float(p.connect_timeout), expected_version=expected,
                    write_check=bool(p.write_check), node=ctx.env.node or _nodename())


# -- actions ---------------------------------------------------------------------
def validate(ctx: Context) -> int:
    """Configuration and this node's prerequisites; no connection (that is start's job)."""
    problem = _passfile_problem(ctx)
    if problem is not None:
        raise problem
    from . import libpq
    try:
        libpq.load()
    except libpq.Missing as exc:
        raise OcfError(Exit.ERR_INSTALLED, str(exc)) from None
    expected_version(ctx)
    return Exit.SUCCESS


def start(ctx: Context) -> int:
    """Wait within the start timeout until every check passes; then mark the instance started."""
    problem = _passfile_problem(ctx)
    if problem is not None:
        raise problem
    import json

    from .probe import check
    from .errors import CLIENT, UNREACHABLE, CheckFailure
    expected = expected_version(ctx)
    settings = _settings(ctx, expected)
    began, attempts, last, logged = time.monotonic(), 0, None, None
    while True:
        left = ctx.deadline.remaining()
        if attempts and left < MIN_ATTEMPT_S:
            break  # a starved last attempt would only replace the real reason with "timeout"
        attempts += 1
        try:
            report = check(settings, min(left, 2.0 * settings.connect_timeout))
        except CheckFailure as failure:
            last = failure
            ctx.log.debug(f"attempt {attempts}: {failure.kind}{' (permanent)' if failure.permanent else ''}: "
                          f"{failure.reason}; {ctx.deadline.remaining():.1f} s left")
            if failure.kind == CLIENT:
                raise OcfError(Exit.ERR_INSTALLED, failure.reason) from None
            if failure.permanent:
                raise OcfError(Exit.ERR_GENERIC, failure.reason) from None
            if (ctx.params.mode == "local" and failure.kind == UNREACHABLE
                    and time.monotonic() - began >= LOCAL_UNREACHABLE_GRACE_S):
                raise OcfError(Exit.ERR_GENERIC, f"{failure.reason} (mode=local: the catalog's own "
                                                 "resource should be running; not waiting)") from None
            if failure.reason != logged:
                ctx.log.info(f"catalog not ready yet: {failure.reason}")
                logged = failure.reason
            if not ctx.deadline.sleep(RETRY_PAUSE_S):
                break
            continue
        ctx.state().write(MARKER, json.dumps({"expected_version": expected, "started": int(time.time())}))
        ctx.log.info(f"catalog ready: {settings.target.describe()}, VersionId {report.version}"
                     f"{', write committed' if report.wrote else ''} (attempt {attempts})")
        return Exit.SUCCESS
    reason = last.reason if last else "no time left to check the catalog"
    raise OcfError(Exit.ERR_GENERIC, f"{reason} (still failing after {attempts} attempts "
                                     f"in {time.monotonic() - began:.0f} s)")


def monitor(ctx: Context) -> int:
    """7 when not started here; else the checks, bounded by the op timeout."""
    marker = _marker(ctx)
    if marker is None:
        ctx.log.debug("no start marker: not started on this node")
        return Exit.NOT_RUNNING
    failed = Exit.DEGRADED if ctx.params.mode == "external" else Exit.ERR_GENERIC
    ctx.log.debug(f"started here; mode={ctx.params.mode}: a failing check is "
                  f"{'degraded (190)' if failed == Exit.DEGRADED else 'a failure (1)'}")
    problem = _passfile_problem(ctx)
    if problem is not None:
        raise OcfError(failed, problem.reason)
    from .probe import check
    from .errors import CLIENT, CheckFailure
    settings = _settings(ctx, expected_version(ctx, marker))
    try:
        report = check(settings, ctx.deadline.remaining())
    except CheckFailure as failure:
        raise OcfError(Exit.ERR_INSTALLED if failure.kind == CLIENT else failed, failure.reason) from None
    ctx.log.debug(f"catalog ok: VersionId {report.version} in {report.seconds * 1000:.1f} ms")
    return Exit.SUCCESS


def stop(ctx: Context) -> int:
    """Forget the instance. Always succeeds: there is nothing to stop."""
    try:
        ctx.state().remove(MARKER)
    except OSError as exc:
        ctx.log.warning(f"cannot remove the state marker: {exc}")
    return Exit.SUCCESS
