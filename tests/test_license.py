# SPDX-License-Identifier: GPL-2.0-or-later
"""Licensing: every source file says GPL-2.0-or-later (SPDX), and LICENSE carries the text."""

import os
from pathlib import Path

from support.paths import ROOT

SPDX = "SPDX-License-Identifier: GPL-2.0-or-later"
SKIP_DIRS = {".git", "__pycache__", ".hypothesis", ".pytest_cache", ".vagrant", "dist", "build", "data", "results"}
#: files without a .py/.sh suffix that are source code
NAMED = {"agents/bacula-director", "agents/bacula-config-pull", "agents/bacula-catalog-check", "bench/run",
         ".ci/run", ".ci/build-deb", "debian/rules", "Makefile", "vagrant/Vagrantfile"}


def source_files():
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            rel = os.path.relpath(os.path.join(top, name), ROOT)
            if name.endswith((".py", ".sh", ".postinst", ".prerm")) or rel in NAMED:
                yield rel


def test_every_source_file_has_the_spdx_header():
    files = sorted(source_files())
    assert "lib/bacula_ha/ocf/agent.py" in files and "agents/bacula-director" in files   # the walk finds them
    missing = [f for f in files if SPDX not in "".join(Path(ROOT, f).read_text().splitlines(True)[:4])]
    assert missing == [], f"add '# {SPDX}' near the top of: {', '.join(missing)}"


def test_license_is_the_gpl2_text():
    text = (Path(ROOT) / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE") and "Version 2, June 1991" in text
    assert "any later version" in text
    common = Path("/usr/share/common-licenses/GPL-2")
    if common.exists():
        assert text == common.read_text()
