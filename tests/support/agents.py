# SPDX-License-Identifier: GPL-2.0-or-later
"""Run an agent executable the way pacemaker-execd does: argv[1] = action, OCF_* environment."""

from __future__ import annotations

import functools
import io
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

from .paths import agent_path

BASE_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "OCF_ROOT": "/usr/lib/ocf",
    "OCF_RA_VERSION_MAJOR": "1",
    "OCF_RA_VERSION_MINOR": "1",
    "LC_ALL": "C",
}


@dataclass
class AgentResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def reason(self) -> Optional[str]:
        """The last `ocf-exit-reason:` line, as crm_mon would show it."""
        return last_exit_reason(self.stderr)


EXIT_REASON = "ocf-exit-reason:"


def exit_reasons(stderr: str) -> List[str]:
    """Every exit reason an agent wrote, in order (the text after `ocf-exit-reason:`)."""
    return [line[len(EXIT_REASON):] for line in stderr.splitlines() if line.startswith(EXIT_REASON)]


def last_exit_reason(stderr: str) -> Optional[str]:
    """The reason Pacemaker keeps: the last one written."""
    reasons = exit_reasons(stderr)
    return reasons[-1] if reasons else None


def ocf_env(params: Mapping[str, object], *, instance: str = "test", timeout_ms: int = 20000,
            interval_ms: int = 0, check_level: Optional[int] = None, role: str = "",
            rsctmp: Optional[str] = None, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = dict(BASE_ENV)
    env["OCF_RESOURCE_INSTANCE"] = instance
    env["OCF_RESKEY_CRM_meta_timeout"] = str(timeout_ms)
    env["OCF_RESKEY_CRM_meta_interval"] = str(interval_ms)
    if check_level is not None:
        env["OCF_CHECK_LEVEL"] = str(check_level)
    if role:
        env["OCF_RESKEY_CRM_meta_role"] = role
    if rsctmp:
        env["HA_RSCTMP"] = rsctmp
    for key, value in params.items():
        env["OCF_RESKEY_" + key] = str(value)
    env.update(extra or {})
    return env


def run_agent(name: str, action: str, params: Optional[Mapping[str, object]] = None, *,
              wall_timeout: float = 120, env: Optional[Mapping[str, str]] = None, **kwargs) -> AgentResult:
    """Run `agents/<name> <action>` with an OCF environment; a wall timeout guards the test itself."""
    full_env = dict(env) if env is not None else ocf_env(params or {}, **kwargs)
    proc = subprocess.run([agent_path(name), action], env=full_env, capture_output=True,
                          text=True, timeout=wall_timeout)
    return AgentResult(proc.returncode, proc.stdout, proc.stderr)


@functools.lru_cache(maxsize=None)
def load_agent(name: str):
    """The agent's declaration (its AGENT object), loaded in-process from agents/<name> (once).

    For fast property tests: `dispatch_agent(name, action, env)`.
    """
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader(f"_agent_{name.replace('-', '_')}", agent_path(name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.AGENT


def dispatch_agent(name: str, action: str, env: Mapping[str, str]) -> AgentResult:
    """Run one action in this process (no fork, no fresh interpreter): for many fast runs."""
    out, err = io.StringIO(), io.StringIO()
    rc = load_agent(name).dispatch([name, action], dict(env), out, err)
    return AgentResult(rc, out.getvalue(), err.getvalue())
