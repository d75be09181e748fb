"""bacula-ha check: findings about a live or offline CIB."""

from __future__ import annotations

import click

from ..cibcheck.cib import parse_cib
from ..cibcheck.findings import ERROR
from ..cibcheck.rules import check_all
from ..cibcheck.sources import agent_declarations, read_cib


@click.command()
@click.option("--cib", "cib_file", type=click.Path(exists=True, dir_okay=False),
              help="Check this CIB file instead of the live cluster's.")
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
def check(cib_file: str, strict: bool) -> None:
    """Check that a cluster runs the Director stack safely: fencing, parameters, timeouts, placement."""
    try:
        cib = parse_cib(read_cib(cib_file))
    except Exception as exc:  # unreadable CIB, cibadmin missing or failing
        raise click.ClickException(f"cannot read the CIB: {exc}")
    findings = check_all(cib, agent_declarations())
    for finding in findings:
        click.echo(str(finding))
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        raise SystemExit(1)
