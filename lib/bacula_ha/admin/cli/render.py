"""`bacula-ha render ARCH`: the shipped snippet filled with site values."""

from __future__ import annotations

import os
from typing import Optional, Tuple

import click

from ..render import ARCHITECTURES, FORMATS, RenderError, render as render_text
from ..render.values import FIELDS, parse_assignments, parse_file


def _keys_help() -> str:
    lines = []
    for field in FIELDS:
        key = field.key + (".NODE" if field.per_node else "")
        default = "required" if field.default is None else f"default {field.default!r}"
        lines.append(f"{key}: {field.help} ({default})")
    return "\n".join(lines)


@click.command(epilog="Keys (--set key=value or key = value lines in --values FILE):\n\n\b\n" + _keys_help())
@click.argument("arch", type=click.Choice(ARCHITECTURES))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="crm", show_default=True,
              help="crm shell text or a pcs command script.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="A site value; repeatable; wins over --values.")
@click.option("--values", "values_file", type=click.Path(dir_okay=False), default=None,
              help="A file of key = value lines (optional [bacula-ha] header, # comments).")
@click.option("--example", is_flag=True,
              help="Fill site values not given with the documented examples (the shipped snippets).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write here instead of standard output.")
def render(arch: str, fmt: str, assignments: Tuple[str, ...], values_file: Optional[str], example: bool,
           output: Optional[str]) -> None:
    """Print the Pacemaker configuration of architecture ARCH (drbd, git, shared, streaming, dfs) for this site."""
    try:
        given = {}
        if values_file is not None:
            try:
                with open(values_file, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise click.ClickException(f"cannot read values file: {exc.strerror}: {values_file}")
            given.update(parse_file(text, source=values_file))
        given.update(parse_assignments(assignments))
        text = render_text(arch, fmt, given, example=example)
    except RenderError as exc:
        raise click.ClickException("invalid site values:\n  " + "\n  ".join(exc.problems))
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = f"{output}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    if fmt == "pcs":
        os.chmod(tmp, 0o755)
    os.replace(tmp, output)
