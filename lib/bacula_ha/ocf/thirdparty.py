# SPDX-License-Identifier: GPL-2.0-or-later
"""Third-party modules (lxml, psycopg, click) for agents started with `python3 -IS`.

Agents skip `site` at start-up (half of a bare interpreter's 13 ms): a probe
needs only the standard library. The few actions that need a distribution
package call `load()`, which turns the system site directories on first.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

from .codes import Exit, OcfError

#: Debian package that provides each module, for the exit reason.
PACKAGES = {"lxml": "python3-lxml", "psycopg": "python3-psycopg", "click": "python3-click"}


def enable_site() -> None:
    """Add the interpreter's site-packages (not the user's) once."""
    if not sys.flags.no_site or getattr(enable_site, "done", False):
        return
    import site
    site.main()
    enable_site.done = True  # type: ignore[attr-defined]


def load(name: str) -> ModuleType:
    """Import `name` (e.g. "psycopg" or "lxml.etree"); ERR_INSTALLED with the package to install."""
    enable_site()
    try:
        return import_module(name)
    except ImportError as exc:
        top = name.split(".", 1)[0]
        hint = PACKAGES.get(top, top)
        raise OcfError(Exit.ERR_INSTALLED, f"Python module {top} is missing (install {hint}): {exc}") from None
