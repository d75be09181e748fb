# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a check gets its inputs: the CIB and the installed agents' declarations."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import subprocess
from pathlib import Path
from typing import Dict, Optional

from ..install import AGENTS, agents_source


def read_cib(path: Optional[str], timeout: float = 30) -> bytes:
    """A CIB file, or the live CIB via `cibadmin -Q` (bounded)."""
    if path:
        return Path(path).read_bytes()
    result = subprocess.run(["cibadmin", "-Q"], capture_output=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"cibadmin -Q failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


@functools.lru_cache(maxsize=None)
def agent_declarations() -> Dict[str, object]:
    """Each agent's AGENT object, loaded from its executable (no subprocess, no meta-data parsing)."""
    specs: Dict[str, object] = {}
    source = agents_source()
    for name in AGENTS:
        loader = importlib.machinery.SourceFileLoader(f"_bacula_ha_agent_{name.replace('-', '_')}", str(source / name))
        spec = importlib.util.spec_from_loader(loader.name, loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        specs[name] = module.AGENT
    return specs
