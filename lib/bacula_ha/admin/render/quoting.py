# SPDX-License-Identifier: GPL-2.0-or-later
"""Quoting of values for crm shell and POSIX sh (pcs scripts).

Values are validated before they get here (no quotes, no control characters),
so quoting only has to cope with spaces and shell metacharacters.
"""

from __future__ import annotations

import re
import shlex

_CRM_SAFE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]+$")


def crm_value(value: str) -> str:
    if value and _CRM_SAFE.match(value):
        return value
    if '"' in value or "\n" in value:
        raise ValueError(f"value cannot be quoted for crm shell: {value!r}")
    return f'"{value}"'


def sh_word(value: str) -> str:
    return shlex.quote(value)
