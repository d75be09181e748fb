# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha lab`: a multi-node Bacula HA cluster on this machine (root; see docs/lab.md)."""

from __future__ import annotations

import functools
import signal
import sys

import click

from ...lab.layout import DEFAULT_NAME, DEFAULT_ROOT, Layout
from ...lab.sh import LabError

name_option = click.option("--name", default=DEFAULT_NAME, show_default=True,
                           help="Lab name: prefix of its namespaces, name of its directory.")
root_option = click.option("--workdir", "root", default=DEFAULT_ROOT, show_default=True,
                           help="Directory holding the lab's state (not under /run: nodes mount their own).")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _lab(name: str, root: str):
    from ...lab.lab import Lab
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)   # also when started with SIGINT ignored (background jobs)
    return Lab(Layout(name, root), say=lambda m: click.echo(m))


def _lab_errors(command):
    """A LabError ends the command with its message (click's "Error: ..."), not a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LabError as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


LAB_ARCHES = ["drbd", "git", "streaming"]


@click.group()
def lab() -> None:
    """A real multi-node Bacula HA cluster in namespaces on this machine (needs root)."""


def _lab_command(*options):
    """A `bacula-ha lab` subcommand: its `options`, then --name and --workdir; a LabError is click's error."""
    def decorate(command):
        command = _lab_errors(command)
        for option in reversed((*options, name_option, root_option)):
            command = option(command)
        return lab.command()(command)
    return decorate


@lab.command()
@click.option("--nodes", type=click.Choice(["2", "3"]), default="2", show_default=True)
@click.option("--arch", type=click.Choice(LAB_ARCHES), default="drbd", show_default=True,
              help="drbd: shared loop disk standing in for DRBD; git: config from Git, external catalog; "
                   "streaming: a PostgreSQL per node, PAF, synchronous replication (3 nodes).")
@click.option("--agents", type=click.Choice(["ours", "stock"]), default="ours", show_default=True,
              help="ours: ocf:bacula:* agents; stock: Dummy/anything stand-ins (plumbing only).")
@click.option("--boot-delay", type=float, default=10.0, show_default=True,
              help="Seconds the PDU waits before powering a fenced node back on.")
@name_option
@root_option
@_lab_errors
def up(nodes: str, arch: str, agents: str, boot_delay: float, name: str, root: str) -> None:
    """Create the lab and start the cluster with the Director stack."""
    _lab(name, root).up(int(nodes), arch, agents, boot_delay)


@_lab_command()
def status(name: str, root: str) -> None:
    """Power state, Director processes and crm_mon of the lab."""
    click.echo(_lab(name, root).status_text())


@_lab_command(click.argument("node"))
def fail(node: str, name: str, root: str) -> None:
    """Crash NODE: power and network gone at once (the cluster must fence and recover)."""
    _lab(name, root).fail(node)
    click.echo(f"{node} crashed")


@_lab_command(click.argument("node"))
def partition(node: str, name: str, root: str) -> None:
    """Pull NODE's network cable (it keeps running, cut off from the others and the PDU)."""
    _lab(name, root).partition(node)
    click.echo(f"{node}'s cable pulled")


@_lab_command()
def heal(name: str, root: str) -> None:
    """Plug all cables back and power on nodes that are off."""
    done = _lab(name, root).heal()
    click.echo("healed" + (f": {', '.join(done)}" if done else ""))


@_lab_command()
def down(name: str, root: str) -> None:
    """Remove the lab completely (also the leftovers of a killed earlier run)."""
    _lab(name, root).down()


@lab.command()
@click.option("--nodes", type=click.Choice(["2", "3"]), default=None,
              help="Default: 2, or 3 for streaming.")
@click.option("--arch", type=click.Choice(LAB_ARCHES), default="drbd", show_default=True)
@click.option("--agents", type=click.Choice(["ours", "stock"]), default="ours", show_default=True)
@name_option
@root_option
def demo(nodes: str, arch: str, agents: str, name: str, root: str) -> None:
    """Up, show the Director through the VIP, crash the active node, show the failover, tear down."""
    from ...lab.demo import run_demo
    lab_ = _lab(name, root)
    count = int(nodes) if nodes else (3 if arch == "streaming" else 2)
    try:
        ok = run_demo(lab_, lambda m: click.echo(m), count, agents, arch=arch)
    except KeyboardInterrupt:
        click.echo("interrupted: lab removed")
        sys.exit(130)
    sys.exit(0 if ok else 1)
