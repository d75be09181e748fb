# SPDX-License-Identifier: GPL-2.0-or-later
"""Parameters turned into paths and checked (CIB-wide syntax vs this node's environment).

Why two levels: a repository URL of the wrong shape is wrong on every node
(OCF_ERR_CONFIGURED, the resource stops everywhere), while a missing key file
or git binary is this node's problem (ERR_ARGS / ERR_INSTALLED: only this node
is banned).
"""

from __future__ import annotations

import os

from ...ocf.codes import Exit, OcfError
from .. import paramchecks as checks

DEFAULT_CACHE_ROOT = "/var/lib/bacula-ha/config-pull"

def local_path(url: str) -> str:
    """The directory of a file:// URL or absolute path ("" for a network remote)."""
    if url.startswith("/"):
        return url
    scheme, sep, rest = url.partition("://")
    return rest if sep and scheme.lower() == "file" else ""


def foreign_owner(url: str) -> str:
    """Why git will refuse a local repository owned by another user (safe.directory), or ""."""
    path = local_path(url)
    if not path:
        return ""
    for candidate in (os.path.join(path, ".git"), path):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if st.st_uid != os.geteuid():
            return (f"repository {path} is owned by uid {st.st_uid}, not by the agent's user (uid "
                    f"{os.geteuid()}): git refuses to read it (safe.directory); change its owner or use ssh://")
        return ""
    return ""


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "default"


FIELDS = ("repository", "branch", "config_dir", "cache_dir", "main_config", "allowed_signers",
          "gpg_keyring", "validate", "binary", "fetch_timeout", "push_changes", "ssh_key",
          "known_hosts", "owner", "group", "mode", "reload_command", "test_user", "credential_file")


class PullSettings:
    """Checked parameter values (a plain class: dataclasses cost every action milliseconds)."""

    __slots__ = FIELDS

    def __init__(self, **values) -> None:
        for name in FIELDS:
            setattr(self, name, values[name])

    # -- cache layout --------------------------------------------------
    @property
    def repo(self) -> str:
        return os.path.join(self.cache_dir, "repo.git")

    @property
    def gnupg_home(self) -> str:
        return os.path.join(self.cache_dir, "gnupg")

    @property
    def deploy_root(self) -> str:
        return os.path.join(self.cache_dir, "deploy")

    @property
    def index_root(self) -> str:
        return os.path.join(self.cache_dir, "index")

    @property
    def state_file(self) -> str:
        return os.path.join(self.cache_dir, "state.json")

    def tree(self, commit: str) -> str:
        return os.path.join(self.deploy_root, commit)

    def index(self, commit: str) -> str:
        return os.path.join(self.index_root, commit)

    def ids(self):
        """(uid, gid) of owner/group; OcfError(ERR_ARGS) when this node lacks them."""
        import grp
        import pwd
        try:
            uid = int(self.owner) if self.owner.isdigit() else pwd.getpwnam(self.owner).pw_uid
        except KeyError:
            raise OcfError(Exit.ERR_ARGS, f"owner {self.owner!r} does not exist on this node") from None
        try:
            gid = int(self.group) if self.group.isdigit() else grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise OcfError(Exit.ERR_ARGS, f"group {self.group!r} does not exist on this node") from None
        return uid, gid

    def test_ids(self):
        """(uid, gid) the config test runs as, or (None, None) for the agent's own user."""
        if not self.test_user:
            return None, None
        import pwd
        try:
            entry = pwd.getpwnam(self.test_user)
        except KeyError:
            raise OcfError(Exit.ERR_ARGS, f"test_user {self.test_user!r} does not exist on this node") from None
        return entry.pw_uid, entry.pw_gid


def _configured(msg: str) -> OcfError:
    return OcfError(Exit.ERR_CONFIGURED, msg)


def from_params(params, instance: str) -> PullSettings:
    """PullSettings from parsed parameters; OcfError(ERR_CONFIGURED) for values wrong everywhere."""
    def checked(name: str, check) -> str:
        # The runtime applied the same declared checks already (ERR_CONFIGURED before any
        # handler), except for stop and probes, which get here with what the CIB says.
        value = (getattr(params, name) or "")
        problem = check(value)
        if problem:
            raise _configured(f"parameter {name}: {problem}")
        return value.strip()

    repo = checked("repository", checks.git_url)
    branch = checked("branch", checks.git_branch)
    config_dir = os.path.normpath(checked("config_dir", checks.directory))
    cache_dir = checked("cache_dir", checks.optional_directory)
    cache_dir = os.path.normpath(cache_dir) if cache_dir else os.path.join(DEFAULT_CACHE_ROOT, _safe(instance))
    if cache_dir == config_dir or cache_dir.startswith(config_dir + "/") or config_dir.startswith(cache_dir + "/"):
        raise _configured("parameters cache_dir and config_dir must not contain each other")
    main_config = os.path.normpath(checked("main_config", checks.relative_path))
    mode = int(checked("mode", checks.file_mode), 8)
    return PullSettings(
        repository=repo, branch=branch, config_dir=config_dir, cache_dir=cache_dir,
        main_config=main_config, allowed_signers=params.allowed_signers.strip(),
        gpg_keyring=params.gpg_keyring.strip(), validate=bool(params.validate),
        binary=params.binary.strip(), fetch_timeout=int(params.fetch_timeout),
        push_changes=bool(params.push_changes), ssh_key=params.ssh_key.strip(),
        known_hosts=params.known_hosts.strip(), owner=params.owner.strip() or "root",
        group=params.group.strip() or "root", mode=mode,
        reload_command=params.reload_command.strip(), test_user=params.test_user.strip(),
        credential_file=params.credential_file.strip())


def check_local(s: PullSettings) -> None:
    """This node can run the agent: programs, key files, users (OcfError ERR_INSTALLED/ERR_ARGS)."""
    import shutil
    if not shutil.which("git", path=os.environ.get("PATH") or "/usr/bin:/bin"):
        raise OcfError(Exit.ERR_INSTALLED, "git is not installed")
    if s.validate and not os.access(s.binary, os.X_OK):
        raise OcfError(Exit.ERR_INSTALLED, f"{s.binary} is not installed (needed by validate=true)")
    if s.gpg_keyring and not shutil.which("gpg", path=os.environ.get("PATH") or "/usr/bin:/bin"):
        raise OcfError(Exit.ERR_INSTALLED, "gpg is not installed (needed by gpg_keyring)")
    if s.reload_command:
        program = s.reload_command.split()[0]
        if not (os.path.isabs(program) and os.access(program, os.X_OK)):
            raise OcfError(Exit.ERR_INSTALLED, f"reload_command: {program} is not an executable absolute path")
    for name in ("allowed_signers", "gpg_keyring", "ssh_key", "known_hosts", "credential_file"):
        path = getattr(s, name)
        if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            raise OcfError(Exit.ERR_ARGS, f"parameter {name}: {path} is not a readable file on this node")
    if s.credential_file:
        st = os.stat(s.credential_file)
        if st.st_mode & 0o077 or st.st_uid != os.geteuid():
            raise OcfError(Exit.ERR_ARGS, f"parameter credential_file: {s.credential_file} must be owned by "
                                          f"the agent's user and mode 0600 (it is {st.st_mode & 0o777:04o})")
    check_cache_dir(s.cache_dir)
    foreign = foreign_owner(s.repository)
    if foreign:
        raise OcfError(Exit.ERR_ARGS, f"parameter repository: {foreign}")
    s.ids()
    if s.validate:
        s.test_ids()


def check_cache_dir(cache_dir: str) -> None:
    """Refuse a cache another user can write: git would run its hooks and config as root.

    The cache and its parent (up to where it exists) must be owned by the agent's user or
    root and writable by nobody else (a sticky parent such as /tmp is fine for the parent).
    """
    import stat
    me = os.geteuid()
    path = cache_dir
    for level in range(2):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            path = os.path.dirname(path)
            continue
        sticky = level > 0 and st.st_mode & stat.S_ISVTX
        if (stat.S_ISLNK(st.st_mode) or st.st_uid not in (0, me)
                or (st.st_mode & 0o022 and not sticky)):
            raise OcfError(Exit.ERR_ARGS, f"parameter cache_dir: {path} can be changed by another user "
                                          f"(owner uid {st.st_uid}, mode {st.st_mode & 0o7777:04o}); "
                                          f"git would run what they plant there")
        path = os.path.dirname(path)
