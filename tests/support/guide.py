# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/production.md shows the step scripts verbatim: one source, two views.

A script is included as

    <!-- step: vagrant/provision/step-NAME.sh -->
    ```bash
    (the file's exact text)
    ```

`includes()` lists (path, shown text); `/usr/bin/python3 tests/support/guide.py` rewrites
every included block from the scripts (run it after changing a script; the test
tests/test_production_guide.py fails until the guide shows the same text).
"""

from __future__ import annotations

import os
import re
import sys
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDE = os.path.join(ROOT, "docs", "production.md")
INCLUDE = re.compile(r"<!-- step: (?P<path>\S+) -->\n```bash\n(?P<body>.*?)```\n", re.S)


def includes(text: str) -> List[Tuple[str, str]]:
    return [(m.group("path"), m.group("body")) for m in INCLUDE.finditer(text)]


def fill(text: str) -> str:
    def one(match: re.Match) -> str:
        with open(os.path.join(ROOT, match.group("path"))) as fh:
            body = fh.read()
        return f"<!-- step: {match.group('path')} -->\n```bash\n{body}```\n"
    return INCLUDE.sub(one, text)


if __name__ == "__main__":
    with open(GUIDE) as fh:
        old = fh.read()
    new = fill(old)
    if new != old:
        with open(GUIDE, "w") as fh:
            fh.write(new)
    print(f"{GUIDE}: {len(includes(new))} steps included" + (" (rewritten)" if new != old else ""))
    sys.exit(0)
