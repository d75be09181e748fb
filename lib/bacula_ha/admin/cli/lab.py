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
machines_option = click.option(
    "--machines", type=click.Choice(["ns", "vm"]), default="ns", show_default=True,
    help="ns: nodes are Linux namespaces (a loop disk stands in for DRBD); vm: two QEMU VMs with real "
         "DRBD, corosync and Pacemaker (architecture drbd; image built once, cached in /var/cache).")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _lab(name: str, root: str, machines: str = "ns"):
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)   # also when started with SIGINT ignored (background jobs)
    if machines == "vm":
        from ...lab.vm.lab import VmLab
        return VmLab(f"{name}-vm", root, say=lambda m: click.echo(m))
    from ...lab.lab import Lab
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


@lab.command()
@click.option("--nodes", type=click.Choice(["2", "3"]), default="2", show_default=True)
@click.option("--arch", type=click.Choice(LAB_ARCHES), default="drbd", show_default=True,
              help="drbd: shared loop disk standing in for DRBD; git: config from Git, external catalog "
                   "on Patroni (etcd, two PostgreSQL hosts, HAProxy on every node); "
                   "streaming: a PostgreSQL per node, PAF, synchronous replication (3 nodes).")
@click.option("--agents", type=click.Choice(["ours", "stock"]), default="ours", show_default=True,
              help="ours: ocf:bacula:* agents; stock: Dummy/anything stand-ins (plumbing only).")
@click.option("--boot-delay", type=float, default=10.0, show_default=True,
              help="Seconds the PDU waits before powering a fenced node back on.")
@machines_option
@name_option
@root_option
@_lab_errors
def up(nodes: str, arch: str, agents: str, boot_delay: float, machines: str, name: str, root: str) -> None:
    """Create the lab and start the cluster with the Director stack."""
    if machines == "vm":
        if (nodes, arch, agents) != ("2", "drbd", "ours"):
            raise click.UsageError("--machines vm runs 2 nodes, architecture drbd, our agents")
        _lab(name, root, machines).up(boot_delay)
        return
    _lab(name, root).up(int(nodes), arch, agents, boot_delay)


@lab.command()
@machines_option
@name_option
@root_option
@_lab_errors
def status(machines: str, name: str, root: str) -> None:
    """Power state, Director processes (VMs: DRBD states) and crm_mon of the lab."""
    click.echo(_lab(name, root, machines).status_text())


@lab.command()
@click.argument("node")
@machines_option
@name_option
@root_option
@_lab_errors
def fail(node: str, machines: str, name: str, root: str) -> None:
    """Crash NODE: power and network gone at once (the cluster must fence and recover)."""
    _lab(name, root, machines).fail(node)
    click.echo(f"{node} crashed")


@lab.command()
@click.argument("node")
@machines_option
@name_option
@root_option
@_lab_errors
def partition(node: str, machines: str, name: str, root: str) -> None:
    """Pull NODE's network cable (it keeps running, cut off from the others and the PDU;
    VMs: the replication/cluster link only, the PDU stays reachable over the management network)."""
    _lab(name, root, machines).partition(node)
    click.echo(f"{node}'s cable pulled")


@lab.command()
@machines_option
@name_option
@root_option
@_lab_errors
def heal(machines: str, name: str, root: str) -> None:
    """Plug all cables back and power on nodes that are off."""
    done = _lab(name, root, machines).heal()
    click.echo("healed" + (f": {', '.join(done)}" if done else ""))


@lab.command()
@machines_option
@name_option
@root_option
@_lab_errors
def down(machines: str, name: str, root: str) -> None:
    """Remove the lab completely (also the leftovers of a killed earlier run)."""
    _lab(name, root, machines).down()


@lab.command()
@click.option("--nodes", type=click.Choice(["2", "3"]), default=None,
              help="Default: 2, or 3 for streaming.")
@click.option("--arch", type=click.Choice(LAB_ARCHES), default="drbd", show_default=True)
@click.option("--agents", type=click.Choice(["ours", "stock"]), default="ours", show_default=True)
@machines_option
@name_option
@root_option
def demo(nodes: str, arch: str, agents: str, machines: str, name: str, root: str) -> None:
    """Up, show the Director through the VIP, crash the active node, show the failover, tear down.
    With --machines vm: real DRBD on two VMs; the crashed node comes back as an UpToDate Secondary."""
    lab_ = _lab(name, root, machines)
    count = int(nodes) if nodes else (3 if arch == "streaming" else 2)
    try:
        if machines == "vm":
            if (count, arch, agents) != (2, "drbd", "ours"):
                raise click.UsageError("--machines vm runs 2 nodes, architecture drbd, our agents")
            from ...lab.vm.demo import run_demo as run_vm_demo
            ok = run_vm_demo(lab_, lambda m: click.echo(m))
        else:
            from ...lab.demo import run_demo
            ok = run_demo(lab_, lambda m: click.echo(m), count, agents, arch=arch)
    except KeyboardInterrupt:
        click.echo("interrupted: lab removed")
        sys.exit(130)
    sys.exit(0 if ok else 1)
