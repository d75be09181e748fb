"""Install the agents the way resource-agents does, for `bacula-ha install` and `make install`.

Layout (OCF_ROOT defaults to /usr/lib/ocf):
  $OCF_ROOT/resource.d/bacula/<agent>     the three agent executables
  $OCF_ROOT/lib/bacula/bacula_ha/         this library, byte-compiled
  $PREFIX/sbin/bacula-ha                  the CLI, on the system Python
The agents find the library relative to their own location, so DESTDIR staging
for packages works unchanged. Only distribution Python packages are needed.
"""

from __future__ import annotations

import argparse
import compileall
import os
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
        Path(sys.prefix) / "share" / "bacula-ha" / "agents",          # pip data_files
        PACKAGE_DIR.parent.parent.parent / "resource.d" / PROVIDER,    # installed: lib/bacula/bacula_ha
    ]
    for path in candidates:
        if all((path / name).is_file() for name in AGENTS):
            return path
    raise InstallError("agent executables not found (run from a checkout or a full installation)")


def _paths(destdir: str, ocf_root: str, prefix: str):
    root = Path(destdir + ocf_root) if destdir else Path(ocf_root)
    bindir = Path(destdir + prefix) / "sbin" if destdir else Path(prefix) / "sbin"
    return root / "resource.d" / PROVIDER, root / "lib" / PROVIDER, bindir / "bacula-ha"


def install(destdir: str = "", ocf_root: str = DEFAULT_OCF_ROOT, prefix: str = DEFAULT_PREFIX,
            python: str = SYSTEM_PYTHON, with_lab: bool = False) -> List[Path]:
    """Copy agents, library and launcher; return what was written.

    The lab (a test rig: PID-1 init, virtual power switch, lab fence agent) is
    left out unless with_lab: production nodes get only what they run.
    """
    agent_dir, lib_dir, launcher = _paths(destdir, ocf_root, prefix)
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
        compileall.compile_dir(str(staging), quiet=1, ddir=str(Path(ocf_root) / "lib" / PROVIDER / "bacula_ha"))
        old = lib_dir / ".bacula_ha.old"
        shutil.rmtree(old, ignore_errors=True)
        if package_target.exists():
            package_target.rename(old)
        staging.rename(package_target)
        shutil.rmtree(old, ignore_errors=True)
    written.append(package_target)

    launcher.parent.mkdir(parents=True, exist_ok=True)
    text = LAUNCHER.format(python=python, libdir=str(Path(ocf_root) / "lib" / PROVIDER))
    tmp = launcher.with_name(launcher.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(launcher)
    written.append(launcher)
    return written


def uninstall(destdir: str = "", ocf_root: str = DEFAULT_OCF_ROOT, prefix: str = DEFAULT_PREFIX) -> List[Path]:
    """Remove what `install` wrote; leave configuration and state alone."""
    agent_dir, lib_dir, launcher = _paths(destdir, ocf_root, prefix)
    removed: List[Path] = []
    for path in [agent_dir / n for n in AGENTS] + [launcher]:
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


def _atomic_copy(src: Path, dst: Path, mode: int) -> None:
    tmp = dst.with_name(f".{dst.name}.new")
    shutil.copyfile(src, tmp)
    tmp.chmod(mode)
    tmp.replace(dst)


def main(argv: Optional[List[str]] = None) -> int:
    """`python3 -m bacula_ha.admin.install` for Makefiles and packagers (no click needed)."""
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
