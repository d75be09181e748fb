# SPDX-License-Identifier: GPL-2.0-or-later
"""The package map at the top of lib/bacula_ha/__init__.py matches the tree.

A newcomer reads that map first; a package added, moved or removed without
updating it would send them to the wrong place.
"""

import re
from pathlib import Path

import bacula_ha
from support.paths import LIB_DIR

PACKAGE = Path(LIB_DIR) / "bacula_ha"


def _packages_in_tree():
    return sorted(str(p.parent.relative_to(PACKAGE)) + "/" for p in PACKAGE.rglob("__init__.py")
                  if p.parent != PACKAGE and "__pycache__" not in p.parts)


def _packages_in_map():
    """Entries like '    ocf/' or '      director/': indentation gives nesting."""
    found, stack = [], []
    for line in bacula_ha.__doc__.splitlines():
        match = re.match(r"^( {4,})([a-z_0-9]+)/\s", line + " ")
        if not match:
            continue
        depth = (len(match.group(1)) - 4) // 2
        stack = stack[:depth] + [match.group(2)]
        found.append("/".join(stack) + "/")
    return sorted(found)


def test_every_package_is_on_the_map_and_nothing_else():
    assert _packages_in_map() == _packages_in_tree()


def test_every_module_named_on_the_map_exists():
    for name in re.findall(r"\b([a-z_0-9]+\.py)\b", bacula_ha.__doc__):
        assert list(PACKAGE.rglob(name)), f"{name} is on the package map but not in the tree"
