# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha render ARCH`: the shipped snippet filled with site values.

Every failure is one clear line, never a traceback: a values file that cannot
be read or is not UTF-8, an output path whose directory is missing or not
writable. `-o` writes a regular file atomically (temporary file + rename, so
an interrupted run leaves the old file whole) and never turns a symlink or a
device into a regular file: a symlink is written through to its target, a
device or FIFO is written in place.
"""

from __future__ import annotations

import os
import stat
from typing import Optional, Tuple

import click

from ..install import InstallError
from ..render import ARCHITECTURES, FORMATS, RenderError, render_values
from ..render.values import FIELDS, parse_assignments, parse_file, resolve


def _keys_help() -> str:
    lines = []
    for field in FIELDS:
        key = field.key + (".NODE" if field.per_node else "")
        default = "required" if field.default is None else f"default {field.default!r}"
        lines.append(f"{key}: {field.help} ({default})")
    return "\n".join(lines)


def _read_values(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read values file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise click.ClickException(f"values file {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                   f"on line {line})") from None


def write_output(path: str, text: str, executable: bool) -> None:
    """Write `text` to `path` without ever replacing a symlink or a device (see module doc)."""
    try:
        st = os.stat(path)                   # follows symlinks: what a write would reach
    except FileNotFoundError:
        st = None                            # (a dangling symlink too: its target is created)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise click.ClickException(f"cannot write {path}: it is a directory")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            # a device, FIFO or socket (/dev/stdout included): write into it, never rename over it
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return
        target = os.path.realpath(path)      # a symlink (chain) is written through to its target
        tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if executable else 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            if st is not None:                # keep the existing file's mode
                os.chmod(tmp, stat.S_IMODE(st.st_mode) | (0o100 if executable else 0))
            elif executable:                  # a pcs script: executable by its owner whatever the umask
                os.chmod(tmp, os.stat(tmp).st_mode | 0o100)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    except UnicodeError as exc:       # values are checked to be UTF-8: a last line of defence
        raise click.ClickException(f"cannot write {path}: {exc}") from None


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
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here instead of standard output (a symlink is written through, never replaced).")
def render(arch: str, fmt: str, assignments: Tuple[str, ...], values_file: Optional[str], example: bool,
           output: Optional[str]) -> None:
    """Print the Pacemaker configuration of architecture ARCH (drbd, git, shared, streaming, dfs) for this site."""
    try:
        given = {}
        if values_file is not None:
            given.update(parse_file(_read_values(values_file), source=values_file))
        given.update(parse_assignments(assignments))
        values = resolve(arch, given, example=example)
        text = render_values(values, fmt)
    except RenderError as exc:
        raise click.ClickException("invalid site values:\n  " + "\n  ".join(exc.problems))
    except InstallError as exc:       # the agents' declarations (their checks) are not found
        raise click.ClickException(str(exc))
    for warning in values.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text, executable=fmt == "pcs")
