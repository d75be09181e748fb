# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers the tests share: running agents, real PostgreSQL clusters, free ports."""
