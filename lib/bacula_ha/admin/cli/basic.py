# SPDX-License-Identifier: GPL-2.0-or-later
"""install, uninstall, meta-data, version."""

from __future__ import annotations

import subprocess
import sys

import click

from ... import __version__
from .. import install as installer

ocf_root_option = click.option("--ocf-root", default=installer.DEFAULT_OCF_ROOT, show_default=True,
                               help="OCF root the agents go under (resource.d/bacula).")
prefix_option = click.option("--prefix", default=installer.DEFAULT_PREFIX, show_default=True,
                             help="Prefix for the bacula-ha launcher (PREFIX/sbin).")
destdir_option = click.option("--destdir", default="", help="Staging root for packagers.")


@click.command()
@ocf_root_option
@prefix_option
@destdir_option
@click.option("--with-lab", is_flag=True, help="Also install the lab cluster (a test rig, not for production nodes).")
def install(ocf_root: str, prefix: str, destdir: str, with_lab: bool) -> None:
    """Install the agents as ocf:bacula:* and the library they use."""
    try:
        paths = installer.install(destdir, ocf_root, prefix, with_lab=with_lab)
    except (installer.InstallError, OSError) as exc:
        raise click.ClickException(str(exc))
    for path in paths:
        click.echo(f"installed {path}")


@click.command()
@ocf_root_option
@prefix_option
@destdir_option
def uninstall(ocf_root: str, prefix: str, destdir: str) -> None:
    """Remove what install wrote (configuration and state are kept)."""
    try:
        paths = installer.uninstall(destdir, ocf_root, prefix)
    except (installer.InstallError, OSError) as exc:
        raise click.ClickException(str(exc))
    for path in paths:
        click.echo(f"removed {path}")


@click.command(name="meta-data")
@click.argument("agent", type=click.Choice(installer.AGENTS))
def meta_data(agent: str) -> None:
    """Print AGENT's OCF meta-data XML."""
    path = installer.agents_source() / agent
    result = subprocess.run([str(path), "meta-data"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise click.ClickException(result.stderr.strip() or f"meta-data exited {result.returncode}")
    click.echo(result.stdout, nl=False)


@click.command()
def version() -> None:
    """Print the bacula-ha version."""
    click.echo(f"bacula-ha {__version__} (python {sys.version.split()[0]})")
