# SPDX-License-Identifier: GPL-2.0-or-later
"""Syntax checks of agent parameter values: the one implementation.

The agents declare them (`Param(..., check=paramchecks.directory)`); the OCF
runtime applies them to OCF_RESKEY_* values, `bacula-ha check` to a CIB's
instance attributes and `bacula-ha render` to site values, so a value one of
them accepts is never refused by another.

Each check takes the value and returns None when it is fine, else a message
that completes "parameter NAME: ...". Values a check accepts are the same
everywhere (syntax only): what depends on a node (a file exists, a user
exists) is the agents' business at run time.

Plain string operations, no `re`: the agent executables import this module on
every action, probes included.
"""

from __future__ import annotations

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

#: The only transports git may use for the configuration (issue 12): git's remote helpers
#: (`ext::`, `fd::`, `foo::` running git-remote-foo) and plain http are refused.
GIT_SCHEMES = ("file", "ssh", "https", "git")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_REF_FORBIDDEN = frozenset("~^:?*[\\\x7f") | frozenset(chr(c) for c in range(0x21))


def normal_parts(path: str) -> list:
    """The components `posixpath.normpath(path)` keeps ('.' and '' dropped, '..' resolved).

    Not os.path: importing `os` costs a probe a quarter of the interpreter's start
    (ocf/environment.py). An absolute path loses the '..' above its root, a
    relative one keeps its leading '..' (tests compare with posixpath).
    """
    parts: list = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not path.startswith("/"):
            parts.append(part)
    return parts


def absolute_path(value: str) -> Optional[str]:
    """An absolute path: agents run with an arbitrary working directory."""
    if not value.strip().startswith("/"):
        return "must be an absolute path"
    return None


def optional_absolute_path(value: str) -> Optional[str]:
    """Empty (the agent's default) or an absolute path."""
    return absolute_path(value) if value.strip() else None


def directory(value: str) -> Optional[str]:
    """An absolute directory other than /: the agent replaces or fills it."""
    path = value.strip()
    if not path.startswith("/") or not normal_parts(path):
        return "must be an absolute path other than /"
    return None


def optional_directory(value: str) -> Optional[str]:
    """Empty (the agent's default) or what `directory` accepts."""
    return directory(value) if value.strip() else None


def relative_path(value: str) -> Optional[str]:
    """A path inside a tree (a repository): relative, and never leaving it through '..'."""
    path = value.strip() or "."
    parts = normal_parts(path)
    if path.startswith("/") or not parts or parts[0] == "..":
        return "must be a relative path inside the repository"
    return None


def git_url(value: str) -> Optional[str]:
    """scheme://rest (a git transport), [user@]host:path (scp-like) or an absolute path."""
    url = value.strip()
    if not url:
        return "is empty"
    problem = "is not a file://, ssh://, https://, git:// URL, host:path or an absolute path"
    if any(c.isspace() for c in url) or "::" in url or url.startswith("-"):
        return problem
    scheme, sep, rest = url.partition("://")
    if sep:
        if not (scheme.lower() in GIT_SCHEMES and rest):
            return problem
        authority = rest.split("/", 1)[0]
        userinfo = authority.rpartition("@")[0]
        if ":" in userinfo or (userinfo and scheme.lower() == "https"):
            # never the value itself in the message: it holds a secret
            return ("holds credentials, which git-remote-https would show to every local user in "
                    "its command line; put them in credential_file")
        return None
    if url.startswith("/"):
        return None
    before, sep, path = url.partition(":")
    user, at, host = before.rpartition("@")
    if sep and host and path and set(host) <= _HOST_CHARS and (not at or (user and set(user) <= _HOST_CHARS)):
        return None
    return problem


def git_branch(value: str) -> Optional[str]:
    """The rules of git check-ref-format that matter for a branch name."""
    name = value.strip()
    bad = (not name or name.startswith(("-", "/", ".")) or name.endswith(("/", ".lock", "."))
           or any(seq in name for seq in ("..", "@{", "//", "/.")) or name == "@"
           or any(c in _REF_FORBIDDEN for c in name))
    return f"{name!r} is not a valid branch name" if bad else None


def file_mode(value: str) -> Optional[str]:
    """An octal mode from 0400 to 0777 that lets the owner read."""
    try:
        mode = int(value.strip(), 8)
    except ValueError:
        return f"{value!r} is not an octal mode"
    if not 0 <= mode <= 0o777 or not mode & 0o400:
        return "must be between 0400 and 0777 and readable by the owner"
    return None


__all__ = ["absolute_path", "optional_absolute_path", "directory", "optional_directory", "relative_path",
           "git_url", "git_branch", "file_mode", "GIT_SCHEMES"]
