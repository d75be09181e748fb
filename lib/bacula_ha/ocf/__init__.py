# SPDX-License-Identifier: GPL-2.0-or-later
"""OCF 1.1 runtime: one module per concern (codes, params, env, log, deadline, command, ...).

Kept empty on purpose so that `import bacula_ha.ocf.codes` costs only that module.
"""
