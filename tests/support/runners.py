# SPDX-License-Identifier: GPL-2.0-or-later
"""One runner per agent: a resource instance driven the way pacemaker-execd drives it.

Every call of one runner shares the instance name and HA_RSCTMP, so what a start records
the next monitor sees, as on a node. The verbs read like the cluster's:

    agent("start")                 # any action, with per-call parameter overrides
    agent.monitor(10)              # a recurring monitor (interval 10 s) at OCF_CHECK_LEVEL 10
    agent.probe()                  # the one-off monitor (interval 0) Pacemaker runs first
    agent.env("monitor", ...)      # the environment alone, for a test that watches the process

A call without `interval_ms` is a recurring op when the action is `monitor` (use probe()
for the probe) and a one-off otherwise. `in_process=True` dispatches inside the test
(fast, for many runs); otherwise the agent runs as its executable, a fresh interpreter.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional

from .agents import AgentResult, dispatch_agent, ocf_env, run_agent

RECURRING_MS = 10000


class AgentRunner:
    """One instance of the agent `agent`; `params` are its resource parameters."""

    agent = ""
    timeout_ms = 20000

    def __init__(self, rsctmp: str, instance: str, params: Optional[Mapping[str, object]] = None, *,
                 in_process: bool = False, extra_env: Optional[Mapping[str, str]] = None) -> None:
        self.rsctmp = str(rsctmp)
        self.instance = instance
        self.base_params: Dict[str, object] = dict(params or {})
        self.in_process = in_process
        self.extra_env: Dict[str, str] = dict(extra_env or {})   # inherited environment (HOME, ...)
        self.results: List[AgentResult] = []

    def params(self, **overrides: object) -> Dict[str, object]:
        return {**self.base_params, **overrides}

    def env(self, action: str, *, interval_ms: Optional[int] = None, timeout_ms: Optional[int] = None,
            check_level: Optional[int] = None, role: str = "", **overrides: object) -> Dict[str, str]:
        if interval_ms is None:
            interval_ms = RECURRING_MS if action == "monitor" else 0
        return ocf_env(self.params(**overrides), instance=self.instance, rsctmp=self.rsctmp,
                       timeout_ms=timeout_ms or self.timeout_ms, interval_ms=interval_ms,
                       check_level=check_level, role=role, extra=self.extra_env)

    def __call__(self, action: str, **kw) -> AgentResult:
        env = self.env(action, **kw)
        if self.in_process:
            result = dispatch_agent(self.agent, action, env)
        else:
            wall = int(env["OCF_RESKEY_CRM_meta_timeout"]) / 1000 + 60   # guards the test, not the agent
            result = run_agent(self.agent, action, env=env, wall_timeout=wall)
        self.results.append(result)
        return result

    def monitor(self, level: Optional[int] = None, **kw) -> AgentResult:
        return self("monitor", check_level=level, **kw)

    def probe(self, **kw) -> AgentResult:
        return self("monitor", interval_ms=0, **kw)


class DirectorRunner(AgentRunner):
    """bacula-director for one tests/support/director.DirectorLab (its params() at every call),
    or with `params` alone when `lab` is None (parameter checks that need no Director)."""

    agent = "bacula-director"
    timeout_ms = 30000

    def __init__(self, lab, rsctmp: str, instance: Optional[str] = None, **params: object) -> None:
        super().__init__(rsctmp, instance or (f"dir{lab.port}" if lab is not None else "test"), params)
        self.lab = lab

    def params(self, **overrides: object) -> Dict[str, object]:
        merged = super().params(**overrides)
        return self.lab.params(**merged) if self.lab is not None else merged


class CatalogRunner(AgentRunner):
    """bacula-catalog-check, for a tests/support/catalog.CatalogServer or bare `params`.

    With a server it runs with HA_debug into a log file and keeps every output, so that
    assert_no_password() can look for the catalog password in all of them."""

    agent = "bacula-catalog-check"

    def __init__(self, rsctmp: str, instance: str = "test", server=None, **kw) -> None:
        super().__init__(rsctmp, instance, **kw)
        self.server = server
        self.logfile = os.path.join(self.rsctmp, "agent.log")
        if server is not None:
            self.extra_env.update({"HA_DEBUGLOG": self.logfile, "HA_debug": "1"})

    def params(self, **overrides: object) -> Dict[str, object]:
        merged = super().params(**overrides)
        return self.server.params(**merged) if self.server is not None else merged

    def assert_no_password(self, *more: str) -> None:
        log = open(self.logfile).read() if os.path.exists(self.logfile) else ""
        outputs = [r.stdout + r.stderr for r in self.results] + list(more)
        assert outputs
        for text in outputs + [log]:
            assert self.server.password not in text


class PullRunner(AgentRunner):
    """bacula-config-pull (in-process) with its live dir, cache and HA_RSCTMP under `base`;
    `repo` is a tests/support/gitrepo.Repo or a repository URL."""

    agent = "bacula-config-pull"
    timeout_ms = 30000

    def __init__(self, base, repo, *, in_process: bool = True, instance: str = "cfg:0", **params: object) -> None:
        self.base = str(base)
        self.live = os.path.join(self.base, "etc", "bacula")
        self.cache = os.path.join(self.base, "cache")
        super().__init__(os.path.join(self.base, "rsctmp"), instance,
                         {"repository": getattr(repo, "url", repo), "config_dir": self.live, "cache_dir": self.cache,
                          "validate": "false", "test_user": "", **params}, in_process=in_process)

    def deployed(self) -> Optional[str]:
        """The commit the live link points at (None: nothing deployed)."""
        try:
            return os.path.basename(os.readlink(self.live))
        except OSError:
            return None

    def read(self, name: str = "bacula-dir.conf") -> str:
        with open(os.path.join(self.live, name)) as fh:
            return fh.read()
