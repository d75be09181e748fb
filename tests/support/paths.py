# SPDX-License-Identifier: GPL-2.0-or-later
"""Where things are in the checkout."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENTS_DIR = os.path.join(ROOT, "agents")
LIB_DIR = os.path.join(ROOT, "lib")
AGENTS = ("bacula-director", "bacula-config-pull", "bacula-catalog-check")
SYSTEM_PYTHON = "/usr/bin/python3"
OCF_RNG = os.path.join(ROOT, "tests", "data", "ocf-ra-api-1.1.rng")
RA_DTD_DIR = "/usr/share/resource-agents"


def agent_path(name: str) -> str:
    return os.path.join(AGENTS_DIR, name)
