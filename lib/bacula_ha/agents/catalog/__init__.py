# SPDX-License-Identifier: GPL-2.0-or-later
"""The bacula-catalog-check agent's actions."""
