# SPDX-License-Identifier: GPL-2.0-or-later
"""Install the agents the way resource-agents does, for `bacula-ha install`, `make install` and debian/rules.

Layout (OCF_ROOT defaults to /usr/lib/ocf, PREFIX to /usr/local):
  $OCF_ROOT/resource.d/bacula/<agent>                 the three agent executables
  $OCF_ROOT/lib/bacula/bacula_ha/                     this library (sources only)
  $PREFIX/sbin/bacula-ha                              the CLI, on the system Python
  $PREFIX/share/man/man7/ocf_bacula_<agent>.7         agent man pages, from their meta-data
  $PREFIX/share/man/man8/bacula-ha.8                  the CLI's man page
  $PREFIX/share/bash-completion/completions/bacula-ha click's bash completion
The agents find the library relative to their own location, so DESTDIR staging
for packages works unchanged. Only distribution Python packages are needed.

Everything is written below DESTDIR: OCF_ROOT and PREFIX must be absolute, and
".." cannot climb out of the staging root.

No byte code is shipped. A .pyc written here would be owned by nobody's
package manifest, tied to one Python version and stale after the next copy.
The Debian package compiles in postinst and removes the caches in prerm (the
dh_python3 way, done by hand because dh-python is not needed otherwise); a
plain `make install` leaves it to Python, which writes the caches the first
time an agent runs as root, and `uninstall` removes the whole library tree,
caches included.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import shutil
import sys
from pathlib import Path
from typing import List, Optional

AGENTS = ("bacula-director", "bacula-config-pull", "bacula-catalog-check")
PROVIDER = "bacula"
DEFAULT_OCF_ROOT = "/usr/lib/ocf"
DEFAULT_PREFIX = "/usr/local"
SYSTEM_PYTHON = "/usr/bin/python3"

#: top-level subpackages that form the test rig, installed only on request
LAB_PACKAGES = ("lab",)
#: where an installed lab keeps its copy of crm-snippets/drbd-fencing.res (in the package)
LAB_SHIPPED_RES = Path("lab") / "vm" / "drbd-fencing.res"

PACKAGE_DIR = Path(__file__).resolve().parent.parent   # the bacula_ha package (this file is admin/install.py)

LAUNCHER = """#!{python}
\"\"\"bacula-ha command line (installed by bacula-ha install).\"\"\"
import sys
sys.path.insert(0, {libdir!r})
from bacula_ha.admin.cli import main
sys.exit(main())
"""


class InstallError(RuntimeError):
    pass


def agents_source() -> Path:
    """Where the agent executables are: the checkout, a pip data dir or an installed OCF root."""
    candidates = [
        PACKAGE_DIR.parent.parent / "agents",                        # checkout: lib/bacula_ha -> agents
        Path(sys.prefix) / "share" / "bacula-ha" / "agents",          # pip data_files (venv, system)
        _pip_prefix() / "share" / "bacula-ha" / "agents",             # pip --prefix/--user
        PACKAGE_DIR.parent.parent.parent / "resource.d" / PROVIDER,    # installed: lib/bacula/bacula_ha
    ]
    for path in candidates:
        if all((path / name).is_file() for name in AGENTS):
            return path
    raise InstallError("agent executables not found (run from a checkout or a full installation)")


def _pip_prefix() -> Path:
    """<prefix> of a pip install: the package sits in <prefix>/lib/pythonX.Y/site-packages/bacula_ha."""
    parents = PACKAGE_DIR.parents
    return parents[min(3, len(parents) - 1)]


class Paths:
    """Where each installed file goes, every one of them below destdir."""

    def __init__(self, destdir: str, ocf_root: str, prefix: str) -> None:
        self.ocf_root = _absolute("--ocf-root", ocf_root)
        self.prefix = _absolute("--prefix", prefix)
        root = _below(destdir, self.ocf_root)
        base = _below(destdir, self.prefix)
        self.agent_dir = root / "resource.d" / PROVIDER
        self.lib_dir = root / "lib" / PROVIDER
        self.launcher = base / "sbin" / "bacula-ha"
        self.mandir = base / "share" / "man"
        self.completion = base / "share" / "bash-completion" / "completions" / "bacula-ha"

    def manpages(self) -> List[Path]:
        return [self.mandir / "man7" / f"ocf_{PROVIDER}_{a}.7" for a in AGENTS] + [self.mandir / "man8" / "bacula-ha.8"]


def _absolute(option: str, path: str) -> str:
    """An installed path is written into the launcher and looked up at run time: relative makes no sense."""
    if not path.startswith("/"):
        raise InstallError(f"{option} must be an absolute path, not {path!r}")
    return posixpath.normpath(path)   # "/../x" -> "/x": nothing climbs above the root


def _below(destdir: str, path: str) -> Path:
    return Path(destdir or "/") / path.lstrip("/")


def install(destdir: str = "", ocf_root: str = DEFAULT_OCF_ROOT, prefix: str = DEFAULT_PREFIX,
            python: str = SYSTEM_PYTHON, with_lab: bool = False) -> List[Path]:
    """Copy agents, library and launcher; return what was written.

    The lab (a test rig: PID-1 init, virtual power switch, lab fence agent) is
    left out unless with_lab: production nodes get only what they run.
    """
    paths = Paths(destdir, ocf_root, prefix)
    agent_dir, lib_dir, launcher = paths.agent_dir, paths.lib_dir, paths.launcher
    source = agents_source()
    written: List[Path] = []
    agent_dir.mkdir(parents=True, exist_ok=True)
    for name in AGENTS:
        target = agent_dir / name
        if source.resolve() != agent_dir.resolve():
            _atomic_copy(source / name, target, 0o755)
        written.append(target)

    package_target = lib_dir / "bacula_ha"
    if PACKAGE_DIR.resolve() != package_target.resolve():
        staging = lib_dir / ".bacula_ha.new"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(PACKAGE_DIR, staging, ignore=_library_filter(with_lab))
        shipped_res = PACKAGE_DIR.parent.parent / "crm-snippets" / "drbd-fencing.res"
        if with_lab and shipped_res.is_file():
            # the VM lab writes the shipped DRBD resource into its guests; an installed lab has no
            # checkout to read it from (lab/vm/config.py, shipped_res)
            shutil.copyfile(shipped_res, staging / LAB_SHIPPED_RES)
        old = lib_dir / ".bacula_ha.old"
        shutil.rmtree(old, ignore_errors=True)
        if package_target.exists():
            package_target.rename(old)
        staging.rename(package_target)
        shutil.rmtree(old, ignore_errors=True)
    written.append(package_target)

    launcher.parent.mkdir(parents=True, exist_ok=True)
    text = LAUNCHER.format(python=python, libdir=posixpath.join(paths.ocf_root, "lib", PROVIDER))
    _atomic_write(launcher, text, 0o755)
    written.append(launcher)

    from .. import __version__
    from .manpage import write_manpages
    written += write_manpages(agent_dir, AGENTS, paths.mandir, __version__)
    from .completion import bash_completion
    paths.completion.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(paths.completion, bash_completion(), 0o644)
    written.append(paths.completion)
    return written


def uninstall(destdir: str = "", ocf_root: str = DEFAULT_OCF_ROOT, prefix: str = DEFAULT_PREFIX) -> List[Path]:
    """Remove what `install` wrote; leave configuration and state alone."""
    paths = Paths(destdir, ocf_root, prefix)
    agent_dir, lib_dir = paths.agent_dir, paths.lib_dir
    removed: List[Path] = []
    for path in [agent_dir / n for n in AGENTS] + [paths.launcher, paths.completion] + paths.manpages():
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    if (lib_dir / "bacula_ha").exists():
        shutil.rmtree(lib_dir / "bacula_ha")
        removed.append(lib_dir / "bacula_ha")
    for directory in (agent_dir, lib_dir):
        try:
            directory.rmdir()
        except OSError:
            pass
    return removed


def _library_filter(with_lab: bool):
    """shutil.copytree ignore function: no byte code from the checkout, no lab unless asked."""
    plain = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(directory: str, names: List[str]):
        ignored = set(plain(directory, names))
        if not with_lab and Path(directory).resolve() == PACKAGE_DIR.resolve():
            ignored.update(n for n in names if n in LAB_PACKAGES)
        return ignored
    return ignore


def _atomic_write(dst: Path, text: str, mode: int) -> None:
    tmp = dst.with_name(f".{dst.name}.new")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(dst)


def _atomic_copy(src: Path, dst: Path, mode: int) -> None:
    tmp = dst.with_name(f".{dst.name}.new")
    shutil.copyfile(src, tmp)
    tmp.chmod(mode)
    tmp.replace(dst)


def main(argv: Optional[List[str]] = None) -> int:
    """`python3 -m bacula_ha.admin.install` for Makefiles and debian/rules (the runtime deps click and lxml write the man pages and completion)."""
    parser = argparse.ArgumentParser(prog="bacula_ha.admin.install", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("install", "uninstall"))
    parser.add_argument("--destdir", default=os.environ.get("DESTDIR", ""))
    parser.add_argument("--ocf-root", default=DEFAULT_OCF_ROOT)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--with-lab", action="store_true", help="also install the lab (a test rig)")
    args = parser.parse_args(argv)
    try:
        if args.action == "install":
            paths = install(args.destdir, args.ocf_root, args.prefix, with_lab=args.with_lab)
        else:
            paths = uninstall(args.destdir, args.ocf_root, args.prefix)
    except (InstallError, OSError) as exc:
        print(f"bacula-ha {args.action}: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{args.action}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
