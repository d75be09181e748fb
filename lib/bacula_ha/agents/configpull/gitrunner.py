# SPDX-License-Identifier: GPL-2.0-or-later
"""Every git call of the agent: bounded, non-interactive, credential-free argv.

Why this module exists: git is the one program the agent runs on every monitor,
against a network it does not control. So each call here

* goes through the action's `run` (deadline-bounded, process group killed),
* runs with a scrubbed environment: no inherited GIT_* variables, no system or
  global git configuration (a node's ~/.gitconfig must not change what is
  verified), GIT_TERMINAL_PROMPT=0 and no askpass (a prompt would hang),
* reaches ssh remotes through GIT_SSH_COMMAND built from `ssh_key` and
  `known_hosts` (environment, never argv; BatchMode, strict host keys),
* never carries the repository URL in argv: the URL lives in an included config
  file of the cache repository (0600); credentials are never in the URL (refused
  by settings) but in `credential_file`, read by a credential helper that only
  ever `cat`s it: git-remote-https gets them through a pipe, not its argv;
* allows only the https, ssh, git and file transports (protocol.allow) and
  ignores the cache repository's own hooks and fsmonitor, which someone able to
  write there could otherwise plant to run as root;
* holds the lock's file descriptor in every child and wraps it in timeout(1),
  so a git orphaned by a killed agent still serialises with the next action and
  dies at the deadline with its whole process group.
"""

from __future__ import annotations

import os
# No dataclasses or typing at run time: they cost every monitor and promote milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Dict, List, Mapping, Optional, Sequence

from ...ocf.codes import Exit, OcfError

#: `scheme://user:password@host` or `scheme://token@host`: the part before @ is hidden.
_URL_CREDENTIALS = r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@"

#: Remote ref the fetched branch is stored under in the cache repository.
UPSTREAM_REF = "refs/bha/upstream"


def scrub(text: str) -> str:
    """Hide URL credentials in any text bound for a log or an exit reason."""
    import re  # only on error paths: re costs every action ~10 ms of imports
    return re.sub(_URL_CREDENTIALS, r"\1***@", text)


def url_secret(url: str) -> Optional[str]:
    """The credential part of a URL (to register as a secret), if any."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    authority = rest.split("/", 1)[0]
    if "@" not in authority:
        return None
    userinfo = authority.rsplit("@", 1)[0]
    if ":" in userinfo:
        return userinfo.split(":", 1)[1]
    # https://TOKEN@host: the user part is the secret; ssh://git@host: just a user name
    return userinfo if scheme.lower() in ("http", "https") else None


def _config_quote(value: str) -> str:
    """A git-config value in double quotes (backslash and quote escaped)."""
    if "\n" in value or "\x00" in value:
        raise OcfError(Exit.ERR_CONFIGURED, "a git setting contains a newline or NUL byte")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sh_quote(word: str) -> str:
    """shlex.quote without importing shlex (and re) on every action."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_"
    if word and all(c in safe for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


class GitError(Exception):
    """A git command failed; `message` is scrubbed and one line."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"{what}: {message}")
        self.what = what
        self.message = message


#: Variables of the agent's environment that git calls inherit.
_PASSED_ENV = frozenset(("PATH", "HOME", "http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY",
                         "ALL_PROXY", "all_proxy", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"))

#: `-c` settings of every git call (never secrets).
_SAFE_CONFIG = (
    "protocol.allow=never", "protocol.https.allow=always", "protocol.ssh.allow=always",
    "protocol.git.allow=always", "protocol.file.allow=always",
    "core.hooksPath=/dev/null", "core.fsmonitor=false",
    "credential.helper=",
)


def credential_helper(path: str) -> str:
    """A git credential helper answering `get` with the file's lines (its argv holds the path only)."""
    return f"!f() {{ test \"$1\" = get && exec cat -- {_sh_quote(path)}; }}; f"


class GitOptions:
    """ssh_key/known_hosts for GIT_SSH_COMMAND; credential_file for https; `config`: extra
    `-c key=value` for every call."""

    __slots__ = ("ssh_key", "known_hosts", "config", "credential_file")

    def __init__(self, ssh_key: str = "", known_hosts: str = "",
                 config: "Optional[Dict[str, str]]" = None, credential_file: str = "") -> None:
        self.ssh_key = ssh_key
        self.known_hosts = known_hosts
        self.config = config
        self.credential_file = credential_file


class Git:
    """git against one bare cache repository (`git_dir`)."""

    def __init__(self, git_dir: str, run: "Callable", options: Optional[GitOptions] = None,
                 base_env: Optional[Mapping[str, str]] = None, deadline=None,
                 keep_fds: "Sequence[int]" = ()) -> None:
        self.git_dir = git_dir
        self._run = run
        self.deadline = deadline
        self.keep_fds = tuple(keep_fds)
        self.options = options or GitOptions()
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._object_format: Optional[str] = None

    # -- plumbing ------------------------------------------------------
    def env(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """Only what git, ssh and curl need (PATH, HOME for ~/.ssh, proxies, CA paths): never the
        agent's OCF_RESKEY_* parameters, GNUPGHOME, SSH_AUTH_SOCK or GIT_* variables."""
        env = {k: v for k, v in self._base_env.items() if k in _PASSED_ENV}
        env.update({
            "GIT_DIR": self.git_dir,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "bacula-ha config-pull",
            "GIT_AUTHOR_EMAIL": "bacula-ha@localhost",
            "GIT_COMMITTER_NAME": "bacula-ha config-pull",
            "GIT_COMMITTER_EMAIL": "bacula-ha@localhost",
            "LC_ALL": "C",
            "PATH": env.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin",
        })
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]
        if self.options.ssh_key:
            ssh += ["-i", self.options.ssh_key, "-o", "IdentitiesOnly=yes"]
        if self.options.known_hosts:
            ssh += ["-o", f"UserKnownHostsFile={self.options.known_hosts}",
                    "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null"]
        env["GIT_SSH_COMMAND"] = " ".join(_sh_quote(w) for w in ssh)
        env["GIT_HTTP_LOW_SPEED_LIMIT"] = "1000"
        env["GIT_HTTP_LOW_SPEED_TIME"] = "10"
        env.update(extra or {})
        return env

    def run(self, args: Sequence[str], *, timeout: Optional[float] = None,
            env: Optional[Mapping[str, str]] = None, input: Optional[str] = None,
            check: bool = True, what: Optional[str] = None, cwd: Optional[str] = None):
        argv: List[str] = ["git"]
        for setting in _SAFE_CONFIG:
            argv += ["-c", setting]
        if self.options.credential_file:
            argv += ["-c", "credential.helper=" + credential_helper(self.options.credential_file)]
        for key, value in (self.options.config or {}).items():
            argv += ["-c", f"{key}={value}"]
        argv += list(args)
        if self.deadline is not None:
            # A backstop that outlives the agent: if the agent is killed (op timeout), timeout(1)
            # still kills git's whole process group a moment after the bound run() would use.
            argv = ["timeout", "-s", "KILL", str(int(self.deadline.bound(timeout)) + 2)] + argv
        result = self._run(argv, timeout=timeout, env=self.env(env), replace_env=True, input=input,
                           cwd=cwd, pass_fds=self.keep_fds)
        if check and result.returncode != 0:
            raise GitError(what or f"git {args[0]}", scrub(result.first_line()))
        return result

    def tool(self, argv: Sequence[str], **kw):
        """Another program (gpg) through the action's bounded run."""
        return self._run(list(argv), **kw)

    def out(self, args: Sequence[str], **kw) -> str:
        return self.run(args, **kw).stdout.strip()

    # -- repository setup ----------------------------------------------
    def ensure(self, url: str, branch: str) -> None:
        """Create the bare cache repository once; (re)write its remote when the URL changed.

        The URL is written to `remote.conf` (0600) included from the repository's
        config, so it never appears on a command line.
        """
        if not os.path.isfile(os.path.join(self.git_dir, "HEAD")):
            os.makedirs(self.git_dir, mode=0o700, exist_ok=True)
            self.run(["init", "--bare", "-q"], what="git init")
            with open(os.path.join(self.git_dir, "config"), "a", encoding="utf-8") as fh:
                fh.write("[include]\n\tpath = remote.conf\n[gc]\n\tauto = 0\n")
        os.chmod(self.git_dir, 0o700)
        text = (f"[remote \"origin\"]\n\turl = {_config_quote(url)}\n"
                f"\tfetch = {_config_quote(f'+refs/heads/{branch}:{UPSTREAM_REF}')}\n"
                f"\ttagOpt = --no-tags\n")
        path = os.path.join(self.git_dir, "remote.conf")
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    return
        except FileNotFoundError:
            pass
        tmp = f"{path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)

    def fetch(self, timeout: float) -> str:
        """Fetch the branch; return the upstream tip. GitError when unreachable."""
        self.run(["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "origin"],
                 timeout=timeout, what="git fetch")
        return self.rev(UPSTREAM_REF)

    # -- queries -------------------------------------------------------
    def rev(self, ref: str) -> str:
        return self.out(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], what=f"git rev-parse {ref}")

    def has_ref(self, ref: str) -> Optional[str]:
        spec = ref if ref.endswith("}") else ref + "^{commit}"
        result = self.run(["rev-parse", "--verify", "--quiet", spec], check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def first_parents(self, tip: str, limit: int) -> List[str]:
        """`tip` and its first-parent ancestors, newest first, at most `limit`."""
        return self.out(["rev-list", "--first-parent", f"--max-count={limit}", tip]).split()

    def first_parents_since(self, tip: str, since: str, limit: int) -> List[str]:
        """`tip` and its first-parent ancestors not reachable from `since`, newest first."""
        return self.out(["rev-list", "--first-parent", f"--max-count={limit}", tip, "^" + since]).split()

    def commit_time(self, commit: str) -> int:
        return int(self.out(["show", "-s", "--format=%ct", commit]) or "0")

    def object_format(self) -> str:
        """sha1 or sha256: decides which signature header git verifies."""
        if self._object_format is None:
            self._object_format = self.out(["rev-parse", "--show-object-format"]) or "sha1"
        return self._object_format

    def commit_object(self, commit: str) -> str:
        return self.run(["cat-file", "commit", commit]).stdout

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.run(["merge-base", "--is-ancestor", older, newer], check=False).returncode == 0

    def paths(self, commit: str) -> List[str]:
        """Every path of `commit`'s tree (files, links, submodules), as git stores them."""
        out = self.run(["ls-tree", "-r", "-z", "--full-tree", "--name-only", commit], what="git ls-tree").stdout
        return [p for p in out.split("\x00") if p]

    # -- trees ---------------------------------------------------------
    def checkout(self, commit: str, dest: str, index_file: str) -> None:
        """Write `commit`'s tree into the empty directory `dest`; its index goes to `index_file`."""
        env = {"GIT_INDEX_FILE": index_file}
        self.run(["read-tree", commit], env=env, what="git read-tree")
        self.run(["--work-tree", dest, "checkout-index", "--all", "--force"], env=env,
                 what="git checkout-index", cwd=dest)

    def changes(self, tree: str, index_file: str) -> List[str]:
        """Paths of `tree` that differ from the index (modified, deleted, added)."""
        env = {"GIT_INDEX_FILE": index_file}
        out = self.run(["-c", "core.fileMode=false", "--work-tree", tree, "status", "--porcelain=v1",
                        "-z", "--untracked-files=all", "--ignored=no", "--no-renames"],
                       env=env, what="git status", cwd=tree).stdout
        paths = []
        for entry in out.split("\x00"):
            # XY: X compares the index with HEAD (meaningless here: the cache repository has
            # no HEAD), Y compares the tree with the index; "??" is an untracked file.
            if len(entry) > 3 and (entry[1] != " " or entry[:2] == "??"):
                paths.append(entry[3:])
        return paths

    def write_live_tree(self, tree: str, index_file: str) -> str:
        """The git tree id of the directory `tree` (recorded through `index_file`)."""
        env = {"GIT_INDEX_FILE": index_file}
        self.run(["-c", "core.fileMode=false", "--work-tree", tree, "add", "--all", "."], env=env,
                 what="git add", cwd=tree)
        return self.out(["write-tree"], env=env, what="git write-tree")

    def tree_of(self, commit: str) -> "Optional[str]":
        return self.has_ref(commit + "^{tree}") if commit else None

    def commit_tree(self, tree_id: str, parent: str, message: str) -> str:
        return self.out(["commit-tree", tree_id, "-p", parent, "-F", "-"], input=message,
                        what="git commit-tree")

    def pin(self, refs: "Dict[str, str]") -> None:
        """Point refs/bha/<name> at commits (one call), so gc never drops what the cache serves."""
        lines = "".join(f"update refs/bha/{name} {commit}\n" for name, commit in refs.items() if commit)
        if lines:
            self.run(["update-ref", "--stdin"], input=lines, what="git update-ref")

    def gc(self, timeout: float) -> None:
        """Pack loose objects when there are many; in the foreground (nothing outlives the action)."""
        self.run(["-c", "gc.auto=6700", "-c", "gc.autoDetach=false", "-c", "maintenance.auto=false",
                  "gc", "--auto", "--quiet"], timeout=timeout, check=False)

    def push(self, commit: str, branch: str, timeout: float) -> None:
        self.run(["push", "--quiet", "origin", f"{commit}:refs/heads/{branch}"], timeout=timeout,
                 what="git push")
