# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pytest setup: the checkout's library first on sys.path, markers enforced."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
