# SPDX-License-Identifier: GPL-2.0-or-later
"""Agent declaration and OCF action dispatch.

An agent executable declares its parameters and actions (handlers named as
"module:function" strings, imported only when that action runs) and calls
`Agent.main()`. The runtime applies the OCF rules every agent shares:

* `meta-data` and `usage` need no environment at all;
* parameter problems are `OCF_ERR_CONFIGURED` (the CIB is wrong everywhere),
  except for stop (succeeds: nothing can have started with that configuration)
  and probes (report "not running"): those never fail hard;
* handler exceptions become `OCF_ERR_GENERIC` with a one-line exit reason,
  never a traceback; probes never return a hard error (2, 4, 6);
* every action gets a deadline from `OCF_RESKEY_CRM_meta_timeout`.
"""

from __future__ import annotations

import sys
import time

from .codes import HARD_ERRORS, VALID_CODES, Exit, OcfError
from .deadline import Deadline
from .environment import OcfEnv, process_environ
from .log import Log, Secrets, one_line
from .params import Param, ParamValues, parse_params

# No dataclasses, enum or typing at run time: together they cost a probe ~15 ms of imports.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

#: Actions the runtime answers itself.
BUILTIN_ACTIONS = ("meta-data", "usage")

#: Actions whose ra-api-1.dtd names exist; anything else would break ocf-tester.
DTD_ACTION_NAMES = frozenset({
    "start", "stop", "recover", "monitor", "restart", "migrate_to", "migrate_from", "promote",
    "demote", "notify", "status", "reload", "meta-data", "usage", "methods", "validate-all",
})


class Op:
    """One `<action>` line of meta-data: a suggested operation for the action."""

    __slots__ = ("timeout", "interval", "role", "depth")

    def __init__(self, timeout: "Optional[int]" = None, interval: "Optional[int]" = None,
                 role: "Optional[str]" = None, depth: "Optional[int]" = None) -> None:
        self.timeout = timeout
        self.interval = interval
        self.role = role
        self.depth = depth


class Action:
    """An OCF action: its default timeout (seconds) and the handler that runs it."""

    __slots__ = ("name", "timeout", "handler", "ops")

    def __init__(self, name: str, timeout: int, handler: "Optional[str]" = None, ops: "Tuple[Op, ...]" = ()) -> None:
        if name not in DTD_ACTION_NAMES:
            raise ValueError(f"action {name!r} is not accepted by ra-api-1.dtd")
        self.name = name
        self.timeout = timeout
        self.handler = handler
        self.ops = tuple(ops)

    def metadata_entries(self) -> List[Dict[str, str]]:
        entries = []
        for op in self.ops or (Op(),):
            entry = {"name": self.name, "timeout": f"{op.timeout or self.timeout}s"}
            if op.interval is not None:
                entry["interval"] = f"{op.interval}s"
            if op.role:
                entry["role"] = op.role
            if op.depth is not None:
                entry["depth"] = str(op.depth)
            entries.append(entry)
        return entries


class Context:
    """Everything a handler needs for one action."""

    __slots__ = ("agent", "env", "params", "deadline", "log", "secrets", "environ")

    def __init__(self, agent: "Agent", env: OcfEnv, params: ParamValues, deadline: Deadline, log: Log,
                 secrets: Secrets, environ: "Mapping[str, str]") -> None:
        self.agent = agent
        self.env = env
        self.params = params
        self.deadline = deadline
        self.log = log
        self.secrets = secrets
        self.environ = environ

    def run(self, argv: Sequence[str], **kwargs: Any):
        """Run an external command bounded by this action's deadline (see command.run)."""
        from .command import run
        return run(argv, self.deadline, secrets=self.secrets, **kwargs)

    def state(self):
        """This instance's state files under HA_RSCTMP."""
        from .state import StateDir
        return StateDir(self.env.rsctmp, self.agent.name, self.env.clone_free_instance)


class Agent:
    """Declaration of one OCF agent; `main()` runs it."""

    def __init__(self, name: str, version: str, shortdesc: str, longdesc: str,
                 params: "Tuple[Param, ...]", actions: "Tuple[Action, ...]") -> None:
        self.name = name
        self.version = version
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.params = tuple(params)
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: duplicate parameter names")
        actions = list(actions)
        if not any(a.name == "meta-data" for a in actions):
            actions.append(Action("meta-data", timeout=5))
        self.actions = tuple(actions)
        self._by_name = {a.name: a for a in self.actions}

    # -- text outputs -------------------------------------------------
    def usage(self) -> str:
        names = [a.name for a in self.actions] + ["usage"]
        return f"usage: {self.name} {{{'|'.join(dict.fromkeys(names))}}}\n"

    def metadata(self) -> str:
        from .metadata import build_metadata
        return build_metadata(self)

    def action(self, name: str) -> Optional[Action]:
        return self._by_name.get(name)

    # -- running ------------------------------------------------------
    def main(self, argv: Optional[Sequence[str]] = None) -> None:
        sys.exit(self.dispatch(sys.argv if argv is None else argv, process_environ()))

    def dispatch(self, argv: Sequence[str], environ: Mapping[str, str],
                 stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:
        """Run the action named in argv[1] (or `__OCF_ACTION`); return its exit code."""
        out = stdout if stdout is not None else sys.stdout
        err = stderr if stderr is not None else sys.stderr
        args = list(argv[1:])
        action_name = args[0] if args else environ.get("__OCF_ACTION", "")
        if len(args) > 1 or not action_name:
            err.write(self.usage())
            return int(Exit.ERR_ARGS)
        if action_name in ("usage", "help", "-h", "--help"):
            out.write(self.usage())
            return int(Exit.SUCCESS)
        if action_name == "meta-data":
            try:
                out.write(self.metadata())
            except OcfError as exc:
                err.write(f"ocf-exit-reason:{exc.reason}\n")
                return int(exc.code)
            return int(Exit.SUCCESS)

        secrets = Secrets()
        env = OcfEnv.from_environ(action_name, environ, self.name)
        log = Log(self.name, env.instance, environ, secrets=secrets, stderr=err)
        try:
            return self._run_action(action_name, env, environ, log, secrets)
        except BaseException as exc:  # the last line of defence: never a traceback
            if isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code in VALID_CODES:
                return exc.code
            log.exit_reason(f"internal error in {action_name}: {type(exc).__name__}: {exc}")
            return int(Exit.ERR_GENERIC)

    def _run_action(self, action_name: str, env: OcfEnv, environ: Mapping[str, str],
                    log: Log, secrets: Secrets) -> int:
        started = time.monotonic()
        action = self._by_name.get(action_name)
        if action is None or action.handler is None:
            log.exit_reason(f"action {action_name!r} is not implemented by {self.name}")
            return int(Exit.ERR_UNIMPLEMENTED)

        values, problems = parse_params(self.params, environ)
        for spec in self.params:
            if spec.secret:
                secrets.add(environ.get(spec.env_name))
        if log.debugging:
            log.debug(f"{action_name}: {_describe_call(env)}")
            log.debug(f"{action_name}: parameters {_describe_params(self.params, values)}")
        missing_required = any(not values.given(p.name) and p.required for p in self.params)
        if problems:
            summary = "; ".join(problems)      # every problem: one fix round, not one per retry
            if action_name == "stop" or env.is_probe:
                for problem in problems:
                    log.warning(f"{action_name}: {problem}")
                if missing_required:
                    # Nothing can have been started with a configuration lacking required values.
                    log.debug(f"{action_name}: required parameters missing, so nothing can run here: "
                              f"{'success' if action_name == 'stop' else 'not running'}, handler not run")
                    return int(Exit.SUCCESS if action_name == "stop" else Exit.NOT_RUNNING)
                log.debug(f"{action_name}: invalid parameters do not fail a {action_name}: running it with defaults")
            else:
                if len(problems) > 1:   # the exit reason is capped in length: the log has each in full
                    for problem in problems:
                        log.error(problem)
                log.exit_reason(summary)
                return int(Exit.ERR_CONFIGURED)

        deadline = Deadline.from_env(environ, default_s=action.timeout)
        ctx = Context(agent=self, env=env, params=values, deadline=deadline, log=log,
                      secrets=secrets, environ=environ)
        try:
            handler = _resolve(action.handler)
        except ImportError as exc:
            log.exit_reason(f"{self.name} cannot load {action_name}: {exc} (is the package installed?)")
            return int(Exit.ERR_INSTALLED)
        try:
            result = handler(ctx)
            code = int(Exit.SUCCESS if result is None else result)
            if code not in VALID_CODES:
                log.exit_reason(f"internal error: {action_name} returned invalid code {code}")
                code = int(Exit.ERR_GENERIC)
        except OcfError as exc:
            code = int(exc.code)
            log.exit_reason(exc.reason)
        if env.is_probe and code in HARD_ERRORS and code != Exit.ERR_INSTALLED:
            log.warning(f"probe: downgrading hard error {code} to a soft failure")
            code = int(Exit.ERR_GENERIC)
        if log.debugging:
            log.debug(f"{action_name}: exit {code} ({code_name(code)}) after "
                      f"{time.monotonic() - started:.3f} s of {deadline.budget:g} s")
        return code


def code_name(code: int) -> str:
    """OCF_SUCCESS, OCF_NOT_RUNNING, ... for debug lines."""
    names = {v: k for k, v in vars(Exit).items() if k.isupper()}
    return "OCF_" + names.get(code, str(code))


def _describe_call(env: OcfEnv) -> str:
    """What Pacemaker asked: probe or recurring, depth, role, timeout (the inputs of every decision)."""
    kind = "probe" if env.is_probe else (f"every {env.interval_ms / 1000:g} s" if env.interval_ms else "one-shot")
    words = [kind, f"depth {env.check_level}", f"timeout {env.timeout_ms / 1000:g} s" if env.timeout_ms else
             "no timeout given (default)"]
    if env.role:
        words.append(f"role {env.role}")
    if env.node:
        words.append(f"node {env.node}")
    return ", ".join(words)


def _describe_params(specs: "Tuple[Param, ...]", values: ParamValues) -> str:
    """name=value for each parameter, `(default)` when not set; secrets never shown.

    Runs before the handler registers the secrets it derives (a password in a
    repository URL), so URL credentials are masked here by their shape.
    """
    import re
    parts = []
    for spec in specs:
        value = "******" if spec.secret and values.given(spec.name) else values[spec.name]
        shown = re.sub(r"(://)[^/@\s]+@", r"\1******@", repr(value))
        parts.append(f"{spec.name}={shown}{'' if values.given(spec.name) else ' (default)'}")
    return " ".join(parts)


def _resolve(spec: str) -> "Callable[[Context], Optional[int]]":
    module_name, _, func_name = spec.partition(":")
    __import__(module_name)      # not importlib.import_module: `importlib` (+ warnings) costs a probe ~1 ms
    module = sys.modules[module_name]
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise ImportError(f"{module_name} has no {func_name}") from None


__all__ = ["Agent", "Action", "Op", "Context", "Param", "Exit", "OcfError", "one_line"]
