# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-instance state under HA_RSCTMP (cleared at boot, as Pacemaker expects).

Markers answer "was this instance started here?" for agents that manage no
process of their own (catalog-check), and hold small facts between actions.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class StateDir:
    """Files named `<agent>-<instance>.<what>` in HA_RSCTMP."""

    def __init__(self, rsctmp: str, agent: str, instance: str) -> None:
        self.root = rsctmp
        self.prefix = f"{_safe(agent)}-{_safe(instance)}"

    def path(self, what: str) -> str:
        name = f"{self.prefix}.{what}"    # os.path.join's result, without importing os
        return f"{self.root}/{name}" if self.root and not self.root.endswith("/") else self.root + name

    def exists(self, what: str) -> bool:
        from posix import stat    # not `os`: monitors read markers (ocf/environment.py says why)
        try:
            stat(self.path(what))
        except (OSError, ValueError):
            return False
        return True

    def read(self, what: str) -> Optional[str]:
        try:
            with open(self.path(what), encoding="utf-8") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, what: str, text: str = "") -> None:
        """Write atomically (tmp + rename): a crash never leaves half a marker."""
        import os
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        target = self.path(what)
        tmp = f"{target}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)

    def remove(self, what: str) -> None:
        from posix import unlink
        try:
            unlink(self.path(what))
        except FileNotFoundError:
            pass
