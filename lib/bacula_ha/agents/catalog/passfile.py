# SPDX-License-Identifier: GPL-2.0-or-later
"""The libpq password file: checked like libpq reads it, its passwords kept out of all output.

The agent never sees a password parameter; libpq reads the file itself (the
`passfile` conninfo keyword). The agent reads it only to register the
passwords as secrets, so that no log line or exit reason can ever show one.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, List, Optional

from ...ocf.codes import Exit, OcfError
from ..paramchecks import absolute_path


def problem(path: str) -> Optional[OcfError]:
    """Why libpq would not use `path` on this node (None when it will).

    A missing file is something this node lacks (ERR_INSTALLED); a file libpq
    ignores or cannot read is a local setup problem (ERR_ARGS). Neither is
    ERR_CONFIGURED: another node may well have the file right.
    """
    if not path:
        return None
    syntax = absolute_path(path)     # the declared check; here for callers outside the runtime
    if syntax:
        return OcfError(Exit.ERR_CONFIGURED, f"parameter passfile: {syntax}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return OcfError(Exit.ERR_INSTALLED, f"passfile {path} does not exist on this node")
    except OSError as exc:
        return OcfError(Exit.ERR_ARGS, f"passfile {path} cannot be read: {exc.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return OcfError(Exit.ERR_ARGS, f"passfile {path} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # libpq prints a warning and then ignores such a file: authentication would fail later.
        return OcfError(Exit.ERR_ARGS, f"passfile {path} has group or world access (mode "
                                       f"{stat.S_IMODE(st.st_mode):04o}); libpq ignores it: chmod 600")
    if not os.access(path, os.R_OK):
        return OcfError(Exit.ERR_ARGS, f"passfile {path} is not readable by uid {os.getuid()}")
    return None


def _fields(line: str) -> List[str]:
    """Split one pgpass line on unescaped colons (libpq's `\\:` and `\\\\` escapes)."""
    fields, cur, it = [], [], iter(line)
    for ch in it:
        if ch == "\\":
            cur.append(next(it, ""))
        elif ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur))
    return fields


def passwords(path: str, limit: int = 1 << 20) -> Iterator[str]:
    """Every password in the file (the fifth field of each line; libpq stops at a bare colon)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(limit)
    except OSError:
        return
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _fields(line)
        if len(fields) >= 5:
            yield fields[4]
