# SPDX-License-Identifier: GPL-2.0-or-later
"""The bacula-config-pull agent's actions."""
