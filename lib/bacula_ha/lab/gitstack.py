# SPDX-License-Identifier: GPL-2.0-or-later
"""The git architecture: configuration from a Git server, catalog on an external Patroni cluster.

Lab hosts (own namespaces, booted by the PDU like nodes, so they can be
"powered off" as a fault):
  git        198.51.100.21   `git daemon` serving bacula-config.git (git:// URL)
  pg1, pg2   198.51.100.23/24 Patroni + PostgreSQL with the Bacula catalog (lab/patroni.py)
  etcd       198.51.100.25   Patroni's configuration store
Every cluster node runs HAProxy on 127.0.0.1:5000 towards the current primary: the
Director and bacula-catalog-check connect there.
Commits are SSH-signed with a lab key; the config-pull agent trusts only that
key (allowed_signers), so an unsigned commit is refused like a bad one.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import List, Optional

from . import patroni
from .layout import ETCD_HOST_IP, GIT_HOST_IP, MEMBER_IPS
from .netns import connect_in
from .node import write_host_spec
from .sh import LabError, run
from .stacks import Stack, ids, write_common

REPO = "bacula-config.git"
GIT_PORT = 9418
IDENTITY = ["-c", "user.name=bacula-ha lab", "-c", "user.email=lab@bacula-ha.invalid"]


class GitStack(Stack):
    arch = "git"
    hosts = [*patroni.HOSTS, "git"]

    @property
    def gitdir(self) -> Path:
        return self.layout.workdir / "git"

    @property
    def url(self) -> str:
        return f"git://{GIT_HOST_IP}/{REPO}"

    def catalog_host(self) -> str:
        return patroni.clients_host()

    def node_services(self, node: str) -> List[dict]:
        return [patroni.haproxy_service(self.layout, node)]

    def catalog_ready(self, timeout: float) -> None:
        patroni.wait_healthy(self.layout, timeout=timeout)

    def _git(self, *args: str, cwd: Path) -> str:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.gitdir), "GIT_CONFIG_NOSYSTEM": "1"}
        return run(["git", "-C", str(cwd), *IDENTITY, *args], env=env, timeout=60).stdout

    def prepare(self) -> None:
        if self.agents != "ours":
            raise LabError("the git architecture needs our agents (bacula-config-pull): use --agents ours")
        layout = self.layout
        local_work = str(layout.local / "work")
        sec = write_common(layout, "127.0.0.1", local_work, db_port=patroni.HAPROXY_PORT,
                           more_secrets=patroni.SECRETS)
        uid, gid = ids("bacula", "bacula")
        for n in self.nodes:
            work = layout.node_dir(n) / "local" / "work"
            work.mkdir(parents=True, exist_ok=True)
            os.chown(work, uid, gid)
            os.chmod(work, 0o750)
        patroni.prepare(layout, sec)
        self.prepare_git_host()

    def prepare_git_host(self) -> None:
        """The Git host: a bare repository with one signed commit, served by git daemon."""
        layout = self.layout
        self.gitdir.mkdir(parents=True, exist_ok=True)
        key = self.gitdir / "signer"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab@bacula-ha.invalid", "-f", str(key)])
        pub = (self.gitdir / "signer.pub").read_text().split()
        (layout.etc / "allowed_signers").write_text(
            f'lab@bacula-ha.invalid namespaces="git" {pub[0]} {pub[1]}\n')
        os.chmod(layout.etc / "allowed_signers", 0o644)
        bare = self.gitdir / REPO
        run(["git", "init", "-q", "--bare", "-b", "main", str(bare)])
        work = self.gitdir / "work"
        run(["git", "init", "-q", "-b", "main", str(work)])
        self._git("remote", "add", "origin", str(bare), cwd=work)
        self.commit((layout.etc / "bacula-dir.conf").read_text(), "lab: initial Director configuration")
        write_host_spec(layout, "git", [{
            "argv": ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.gitdir}",
                     f"--listen={GIT_HOST_IP}", f"--port={GIT_PORT}", "--informative-errors"],
            "log": str(layout.node_dir("git") / "console.log"),
            "env": {"HOME": str(self.gitdir), "GIT_CONFIG_NOSYSTEM": "1"}}])

    def head(self) -> str:
        return self._git("rev-parse", "HEAD", cwd=self.gitdir / "work").strip()

    def commit(self, text: str, message: str, signed: bool = True, on: Optional[str] = None) -> str:
        """Commit bacula-dir.conf with this text to the served repository; returns the commit id.

        `on`: make the commit on that one and force-push it, replacing what came after (under a
        signature policy a signed commit on top of an unsigned one is refused, so a refused
        commit is replaced, never built upon)."""
        work = self.gitdir / "work"
        if on:
            self._git("reset", "-q", "--hard", on, cwd=work)
        (work / "bacula-dir.conf").write_text(text)
        self._git("add", "bacula-dir.conf", cwd=work)
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.gitdir / 'signer'}"] if signed else []
        self._git(*sign, "commit", "-q", "--allow-empty", *(["-S"] if signed else ["--no-gpg-sign"]),
                  "-m", message, cwd=work)
        self._git("push", "-q", *(["--force"] if on else []), "origin", "main", cwd=work)
        return self._git("rev-parse", "HEAD", cwd=work).strip()

    def good_config(self) -> str:
        return (self.layout.etc / "bacula-dir.conf").read_text()

    def host_ports(self):
        return ((ETCD_HOST_IP, patroni.ETCD_PORT), *((ip, patroni.REST_PORT) for ip in MEMBER_IPS),
                (GIT_HOST_IP, GIT_PORT))

    def wait_hosts(self, timeout: float = 60) -> None:
        """Every host's service answers; then the catalog's own HA is complete."""
        deadline = time.monotonic() + timeout
        for address, port in self.host_ports():
            while True:
                sock = connect_in(self.layout.switch_ns, address, port, timeout=1)
                if sock:
                    sock.close()
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"lab host {address}:{port} does not answer")
                time.sleep(0.2)
        self.catalog_ready(timeout=120)    # Patroni: adopt the catalog, clone the standby

    def crm(self) -> str:
        """The shipped git snippet, rendered with lab values (lab/rendered.py)."""
        from .rendered import git_site, lab_crm
        return lab_crm("git", git_site(self.layout, self.nodes, self.url))
