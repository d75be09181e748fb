# SPDX-License-Identifier: GPL-2.0-or-later
"""The bacula-director agent's actions and the Director knowledge they need."""
