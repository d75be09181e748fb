# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-ha check: findings about a live or offline CIB."""

from __future__ import annotations

from typing import Optional

import click

from ..cibcheck.cib import parse_cib
from ..cibcheck.findings import ERROR
from ..cibcheck.rules import check_all
from ..cibcheck.sources import agent_declarations, read_cib
from ..install import InstallError


@click.command()
@click.option("--cib", "cib_file", type=click.Path(exists=True, dir_okay=False),
              help="Check this CIB file instead of the live cluster's.")
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
@click.option("--local-files/--no-local-files", default=None,
              help="Also read the Director configuration the CIB names from this machine "
                   "(default: with the live CIB only).")
def check(cib_file: Optional[str], strict: bool, local_files: Optional[bool]) -> None:
    """Check that a cluster runs the Director stack safely: fencing, parameters, timeouts, placement."""
    try:
        cib = parse_cib(read_cib(cib_file))
    except Exception as exc:  # unreadable CIB, cibadmin missing or failing
        raise click.ClickException(f"cannot read the CIB: {exc}")
    if local_files is None:
        local_files = cib_file is None     # a CIB file may come from another cluster
    try:
        specs = agent_declarations()
    except InstallError as exc:
        raise click.ClickException(str(exc))
    findings = check_all(cib, specs, local_files=local_files)
    for finding in findings:
        click.echo(str(finding))
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        raise SystemExit(1)
