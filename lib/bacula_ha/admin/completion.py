# SPDX-License-Identifier: GPL-2.0-or-later
"""Bash completion for `bacula-ha`, generated from the click command tree at install time.

click writes a small static script that asks `bacula-ha` itself for candidates
(_BACULA_HA_COMPLETE=bash_complete), so completion follows the installed
commands, the lab's included or not, without a second list to maintain.
"""

from __future__ import annotations

PROG = "bacula-ha"
COMPLETE_VAR = "_BACULA_HA_COMPLETE"


def bash_completion() -> str:
    """The script for /usr/share/bash-completion/completions/bacula-ha."""
    from ..ocf.thirdparty import enable_site
    enable_site()
    from click.shell_completion import BashComplete

    from .cli import main
    return BashComplete(main, {}, PROG, COMPLETE_VAR).source()
