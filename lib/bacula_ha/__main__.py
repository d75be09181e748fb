# SPDX-License-Identifier: GPL-2.0-or-later
"""`python3 -m bacula_ha` runs the bacula-ha command."""

from .admin.cli import run

run()
