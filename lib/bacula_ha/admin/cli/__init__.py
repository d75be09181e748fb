# SPDX-License-Identifier: GPL-2.0-or-later
"""The `bacula-ha` command: a click group whose subcommands load on demand.

Each subcommand lives in its own module (install, render, lab, ...), so
`bacula-ha --help` stays fast and the modules stay independent.
"""

from __future__ import annotations

import sys
from importlib import import_module

from ...ocf.thirdparty import enable_site

enable_site()
import click  # noqa: E402  (needs the site directories when started with -S)

from ... import __version__  # noqa: E402

#: command name -> "module:attribute" (relative to bacula_ha.admin.cli)
COMMANDS = {
    "install": "basic:install",
    "uninstall": "basic:uninstall",
    "meta-data": "basic:meta_data",
    "version": "basic:version",
    "lab": "lab:lab",
    "render": "render:render",
    "check": "check:check",
    "rejoin": "rejoin:rejoin",
}


class LazyGroup(click.Group):
    """Import a subcommand's module only when that subcommand is used or listed."""

    def list_commands(self, ctx: click.Context):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str):
        if name == "lab" and not lab_installed():
            return _lab_missing
        if name in COMMANDS:
            module_name, _, attr = COMMANDS[name].partition(":")
            return getattr(import_module(f"{__name__}.{module_name}"), attr)
        return super().get_command(ctx, name)


def lab_installed() -> bool:
    """The lab is a test rig: production installs leave it out (install --with-lab adds it)."""
    from importlib.util import find_spec
    return find_spec("bacula_ha.lab") is not None


@click.command(name="lab", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _lab_missing(args) -> None:
    """The lab cluster (not installed here)."""
    raise click.ClickException("the lab is not installed here: it is a test rig; "
                               "`bacula-ha install --with-lab` or `make install WITH_LAB=1` adds it")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bacula-ha")
def main() -> None:
    """High availability for the Bacula Director: Pacemaker OCF agents and tools."""


def run() -> None:  # console_scripts entry point
    sys.exit(main())
