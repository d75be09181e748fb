# SPDX-License-Identifier: GPL-2.0-or-later
"""Stand-in programs the tests put where an agent looks (PATH, binary=, reload_command=):
recorders, tripwires and fakes of bacula-dir or crm_attribute, as small /bin/sh scripts."""

from __future__ import annotations

import os


def shell_script(path, body: str) -> str:
    """Write `body` as an executable /bin/sh script at `path` (mode 0755); its path."""
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return str(path)
