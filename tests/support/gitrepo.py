# SPDX-License-Identifier: GPL-2.0-or-later
"""Real git repositories for tests: a bare remote, a work clone, signing keys.

Everything lives in a directory the test owns (tmp_path); nothing touches the
user's git configuration (GIT_CONFIG_GLOBAL=/dev/null, no system config).
"""

from __future__ import annotations

import os
import subprocess
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .procs import proc_files

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def _env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV)
    env.update(extra or {})
    return env


def git(*args: str, cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
        check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=_env(env), capture_output=True, text=True,
                          timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def ssh_key(directory: str, name: str) -> Dict[str, str]:
    """An unencrypted ed25519 key: {'private': path, 'public': 'ssh-ed25519 AAAA...'}."""
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
                   check=True, capture_output=True, timeout=30)
    with open(path + ".pub") as fh:
        public = " ".join(fh.read().split()[:2])
    return {"private": path, "public": public}


def allowed_signers(path: str, *keys: Dict[str, str], principal: str = "admin@example.org") -> str:
    with open(path, "w") as fh:
        for key in keys:
            fh.write(f'{principal} namespaces="git" {key["public"]}\n')
    return path


def gpg_key(directory: str, name: str = "Config Admin") -> Dict[str, str]:
    """A passphrase-less ed25519 OpenPGP key in its own GNUPGHOME; exports the public key."""
    home = os.path.join(directory, "gnupg-" + name.replace(" ", "_"))
    os.makedirs(home, mode=0o700)
    env = {**os.environ, "GNUPGHOME": home}
    uid = f"{name} <{name.replace(' ', '.').lower()}@example.org>"
    subprocess.run(["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", uid,
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True, timeout=60)
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env,
                         check=True, capture_output=True, text=True, timeout=30).stdout
    fpr = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))
    public = os.path.join(directory, name.replace(" ", "_") + ".asc")
    with open(public, "wb") as fh:
        fh.write(subprocess.run(["gpg", "--batch", "--export", fpr], env=env, check=True,
                                capture_output=True, timeout=30).stdout)
    return {"home": home, "fingerprint": fpr, "public": public}


def gpg_stop(key: Dict[str, str]) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": key["home"]},
                   capture_output=True, timeout=30)


class Repo:
    """A bare remote (`url`) and a work clone that commits and pushes to `branch`."""

    def __init__(self, base: str, branch: str = "main") -> None:
        self.base = base
        self.branch = branch
        self.remote = os.path.join(base, "remote.git")
        self.work = os.path.join(base, "work")
        git("init", "-q", "--bare", "-b", branch, self.remote)
        git("init", "-q", "-b", branch, self.work)
        self.config("user.name", "Test Admin")
        self.config("user.email", "admin@example.org")
        git("remote", "add", "origin", self.remote, cwd=self.work)

    @property
    def url(self) -> str:
        return "file://" + self.remote

    def config(self, key: str, value: str) -> None:
        git("config", key, value, cwd=self.work)

    def commit(self, files: Mapping[str, Optional[str]], message: str = "change", *,
               ssh: Optional[Dict[str, str]] = None, gpg: Optional[Dict[str, str]] = None,
               push: bool = True) -> str:
        """Write (or delete, value None) files, commit (signed with `ssh` or `gpg`), push."""
        for name, text in files.items():
            path = os.path.join(self.work, name)
            if text is None:
                if os.path.exists(path):
                    os.unlink(path)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(text)
        git("add", "--all", ".", cwd=self.work)
        args = ["commit", "-q", "--allow-empty", "-m", message]
        env: Dict[str, str] = {}
        if ssh:
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={ssh['private']}"] + args + ["-S"]
        elif gpg:
            args = ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={gpg['fingerprint']}"] + args + ["-S"]
            env["GNUPGHOME"] = gpg["home"]
        git(*args, cwd=self.work, env=env)
        if push:
            self.push()
        return self.head()

    def push(self) -> None:
        git("push", "-q", "origin", f"HEAD:refs/heads/{self.branch}", cwd=self.work)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)

    def remote_head(self) -> str:
        return git("--git-dir", self.remote, "rev-parse", self.branch)

    # -- forging (what someone who can push, but holds no trusted key, can do) ------------------
    def raw(self, commit: str) -> str:
        return git("cat-file", "commit", commit, cwd=self.work) + "\n"

    def signature_block(self, commit: str) -> Tuple[str, str]:
        """(header name, value) of the first signature header of `commit`."""
        name, lines = "", []
        for line in self.raw(commit).split("\n"):
            if line == "":
                break
            if name and line.startswith(" "):
                lines.append(line[1:])
            elif name:
                break
            elif line.startswith("gpgsig"):
                name, _, first = line.partition(" ")
                lines = [first]
        return name, "\n".join(lines)

    def forge(self, commit: str, insert: Sequence[Tuple[str, str]] = (), *, drop_signature: bool = False,
              parent: Optional[str] = None) -> str:
        """A copy of `commit` with `insert`ed headers placed before its signature header
        (optionally without its own signature, or with another parent); written, not pushed."""
        head, _, message = self.raw(commit).partition("\n\n")
        lines: List[str] = []
        added = False
        in_sig = False
        for line in head.split("\n"):
            if in_sig and line.startswith(" "):
                if not drop_signature:
                    lines.append(line)
                continue
            in_sig = False
            if line.startswith("parent ") and parent:
                line = f"parent {parent}"
            if line.startswith("gpgsig") and not added:
                lines += [_header(n, v) for n, v in insert]
                added = True
            if line.startswith("gpgsig"):
                in_sig = True
                if drop_signature:
                    continue
            lines.append(line)
        if not added:
            lines += [_header(n, v) for n, v in insert]
        text = "\n".join(lines) + "\n\n" + message
        proc = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=self.work,
                              env=_env(), input=text, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"git hash-object: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def crafted_tree(self, entries: Mapping[str, str]) -> str:
        """A tree (git mktree, no path checks) of blobs named as given, even `..` or `.git`."""
        lines = []
        for name, text in entries.items():
            blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=self.work, env=_env(),
                                  input=text, capture_output=True, text=True, check=True).stdout.strip()
            lines.append(f"100644 blob {blob}\t{name}\n")
        return subprocess.run(["git", "mktree"], cwd=self.work, env=_env(), input="".join(lines),
                              capture_output=True, text=True, check=True).stdout.strip()

    def commit_tree(self, tree: str, message: str = "crafted", *, ssh: Optional[Dict[str, str]] = None) -> str:
        """A commit of `tree` on top of HEAD (signed with `ssh`), written, not pushed."""
        args = ["commit-tree", tree, "-p", self.head(), "-m", message]
        if ssh:
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={ssh['private']}"] + args + ["-S"]
        return git(*args, cwd=self.work)

    def force(self, commit: str, checkout: bool = True) -> None:
        """Force-push `commit` as the branch tip (a rollback, a rewrite, a forged commit); the
        work clone follows (`checkout=False` for a tree git cannot check out)."""
        git("push", "-q", "--force", "origin", f"{commit}:refs/heads/{self.branch}", cwd=self.work)
        git("reset", "-q", "--hard" if checkout else "--soft", commit, cwd=self.work)


def _header(name: str, value: str) -> str:
    """A multi-line commit header: continuation lines start with one space."""
    return name + " " + "\n ".join(value.split("\n"))


class HttpsGitServer:
    """`git http-backend` behind HTTPS with Basic authentication, on 127.0.0.1 (a real smart-HTTP
    remote). While it serves an authenticated request, the client's git-remote-https is alive:
    the server then scans every /proc/*/cmdline for the password and records where it shows."""

    def __init__(self, repo: "Repo", user: str, password: str) -> None:
        import base64
        import http.server
        import ssl
        import threading
        self.leaks: List[str] = []
        self.authenticated = 0
        base = os.path.join(repo.base, "https")
        os.makedirs(base, exist_ok=True)
        self.cert, key = os.path.join(base, "cert.pem"), os.path.join(base, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", self.cert], check=True, capture_output=True, timeout=60)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        root, secret, owner = os.path.dirname(repo.remote), password.encode(), self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.authenticated += 1
                owner.leaks += cmdlines_holding(secret)
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = _env({"GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1",
                            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                            "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": user,
                            "REMOTE_ADDR": "127.0.0.1",
                            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", "")})
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                                     timeout=60).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/{os.path.basename(repo.remote)}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def cmdlines_holding(secret: bytes) -> List[str]:
    """The command lines of every process showing `secret` (what any local user can read)."""
    return [cmdline.replace(b"\0", b" ").decode("utf-8", "replace")
            for _pid, cmdline in proc_files("cmdline") if secret in cmdline]
