# SPDX-License-Identifier: GPL-2.0-or-later
"""Atomic deployment: config_dir is a symlink to an immutable, fully written tree.

Why a symlink: replacing a directory's contents file by file lets a reader (a
Director starting or reloading) see half of the old and half of the new
configuration. Instead every validated commit is prepared once as
`<cache>/deploy/<commit>` (written, owned, chmod-ed, validated), and deployment
is one rename(2) of a fresh symlink over `config_dir`. A reader that resolves
config_dir once (opens it, or chdirs into it) sees exactly one tree.

The first deployment over a real directory moves that directory aside with an
atomic exchange (renameat2 RENAME_EXCHANGE) so config_dir never disappears, and
the old directory is kept as `<config_dir>.bha-backup-<time>`, never deleted.
"""

from __future__ import annotations

import os
import stat
import time
# No dataclasses or typing at run time: they cost every monitor and promote milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2); False when unsupported."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def dir_mode(file_mode: int) -> int:
    """Directories get x wherever files get r (0640 -> 0750)."""
    return file_mode | ((file_mode & 0o444) >> 2)


def apply_ownership(root: str, uid: int, gid: int, mode: int) -> None:
    """owner/group/mode on every file and directory of a staged tree (symlinks left alone)."""
    is_root = os.geteuid() == 0
    for top, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            if is_root:
                os.chown(path, uid, gid)
            # keep an executable bit git recorded (scripts called by the Director)
            os.chmod(path, mode | ((mode & 0o444) >> 2 if st.st_mode & 0o100 else 0))
        if is_root:
            os.chown(top, uid, gid)
        os.chmod(top, dir_mode(mode))


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_target(config_dir: str) -> "Optional[str]":
    """Where config_dir points, or None when it is not a symlink."""
    try:
        return os.readlink(config_dir)
    except OSError:
        return None


def swap(config_dir: str, target: str) -> "Optional[str]":
    """Point config_dir at `target` atomically; return the backup path of a replaced real directory."""
    config_dir = config_dir.rstrip("/") or "/"
    parent = os.path.dirname(config_dir) or "."
    os.makedirs(parent, mode=0o755, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(config_dir)}.bha-new.{os.getpid()}")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    backup = None
    try:
        st = os.lstat(config_dir)
    except FileNotFoundError:
        st = None
    try:
        if st is None or stat.S_ISLNK(st.st_mode):
            os.replace(tmp, config_dir)
        elif stat.S_ISDIR(st.st_mode):
            backup = f"{config_dir}.bha-backup-{time.strftime('%Y%m%dT%H%M%S')}"
            n = 0
            while os.path.lexists(backup + (f".{n}" if n else "")):
                n += 1
            backup += f".{n}" if n else ""
            if _exchange(tmp, config_dir):
                os.rename(tmp, backup)  # tmp now names the old directory
            else:
                os.rename(config_dir, backup)
                os.rename(tmp, config_dir)
        else:
            raise OSError(f"{config_dir} exists and is neither a directory nor a symlink")
    finally:
        if os.path.lexists(tmp) and os.path.islink(tmp):
            os.unlink(tmp)
    fsync_dir(parent)
    return backup
