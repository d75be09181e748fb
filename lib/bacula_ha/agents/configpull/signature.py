"""Commit signature policy: which commits may ever be deployed.

Why not just `git verify-commit`? Git picks the verifier from the signature it
finds in the commit object, whatever `gpg.format` says, and falls back to the
system's allowed-signers file or the user's GnuPG home. A "GPG only" check could
then pass an SSH-signed commit (see notes on commit-guard). So:

* the signature format is read from the commit object itself and must be one
  the policy accepts (allowed_signers -> SSH, gpg_keyring -> OpenPGP);
* git always gets an explicit `gpg.ssh.allowedSignersFile` (the configured file,
  or /dev/null) and a dedicated GNUPGHOME holding only the configured keyring;
* the status letter must be G (good, trusted key); for OpenPGP, U is accepted
  too, because membership in the dedicated keyring *is* the trust decision.
"""

from __future__ import annotations

import os
# No dataclasses or typing at run time: they cost every monitor and promote milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

from .gitrunner import Git, GitError

SSH, GPG, X509 = "ssh", "openpgp", "x509"

_ARMOR = {
    "-----BEGIN SSH SIGNATURE-----": SSH,
    "-----BEGIN PGP SIGNATURE-----": GPG,
    "-----BEGIN PGP MESSAGE-----": GPG,
    "-----BEGIN SIGNED MESSAGE-----": X509,
}


def signature_format(commit_object: str) -> Optional[str]:
    """The signature format carried by a raw commit object (`git cat-file commit`), or None."""
    for line in commit_object.split("\n"):
        if line == "":
            break  # end of headers
        if line.startswith(("gpgsig ", "gpgsig-sha256 ")):
            armor = line.split(" ", 1)[1].strip()
            return _ARMOR.get(armor, "unknown")
    return None


def file_digest(path: str) -> str:
    if not path:
        return ""
    import hashlib  # not on the promote path
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return "unreadable"


class Policy:
    """The trust anchors: which signature formats are accepted, verified against what."""

    __slots__ = ("allowed_signers", "gpg_keyring", "gnupg_home")

    def __init__(self, allowed_signers: str = "", gpg_keyring: str = "", gnupg_home: str = "") -> None:
        self.allowed_signers = allowed_signers
        self.gpg_keyring = gpg_keyring
        self.gnupg_home = gnupg_home

    @property
    def enforced(self) -> bool:
        return bool(self.allowed_signers or self.gpg_keyring)

    def accepted_formats(self):
        return tuple(f for f, on in ((SSH, self.allowed_signers), (GPG, self.gpg_keyring)) if on)

    def fingerprint(self) -> str:
        """Changes when the trust anchors change (refusals must then be reconsidered)."""
        return f"ssh:{file_digest(self.allowed_signers)};gpg:{file_digest(self.gpg_keyring)}"

    def git_config(self) -> dict:
        """Explicit verifier settings for every verification call."""
        return {
            "gpg.ssh.allowedSignersFile": self.allowed_signers or os.devnull,
            "gpg.program": "gpg",
            "gpg.ssh.program": "ssh-keygen",
            "gpg.x509.program": "/bin/false",
            "log.showSignature": "false",
        }


def prepare_gnupg_home(policy: Policy, git: Git) -> None:
    """A private GNUPGHOME holding exactly the configured keyring (rebuilt when it changes)."""
    import shutil
    home = policy.gnupg_home
    stamp_path = os.path.join(home, "keyring.sha256")
    digest = file_digest(policy.gpg_keyring)
    try:
        with open(stamp_path, encoding="utf-8") as fh:
            if fh.read().strip() == digest:
                return
    except OSError:
        pass
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home, mode=0o700)
    with open(os.path.join(home, "gpg.conf"), "w", encoding="utf-8") as fh:
        fh.write("no-autostart\n")
    if policy.gpg_keyring:
        result = git._run(["gpg", "--batch", "--quiet", "--no-tty", "--import", policy.gpg_keyring],
                          timeout=15, env={"GNUPGHOME": home})
        if result.returncode != 0:
            raise GitError("gpg --import", f"cannot import gpg_keyring: {result.first_line()}")
    with open(stamp_path, "w", encoding="utf-8") as fh:
        fh.write(digest + "\n")


def check(git: Git, policy: Policy, commit: str) -> Optional[str]:
    """None when `commit` may be deployed under `policy`, else the reason (naming the commit)."""
    if not policy.enforced:
        return None
    short = commit[:12]
    fmt = signature_format(git.commit_object(commit))
    if fmt is None:
        return f"commit {short} is not signed"
    accepted = policy.accepted_formats()
    if fmt not in accepted:
        wanted = " or ".join("SSH" if f == SSH else "GPG" for f in accepted)
        shown = {SSH: "an SSH", GPG: "a GPG", X509: "an X.509"}.get(fmt, "an unknown")
        return f"commit {short} carries {shown} signature; only {wanted} signatures are accepted"
    saved = git.options.config
    git.options.config = {**(saved or {}), **policy.git_config()}
    try:
        out = git.run(["log", "-1", "--no-show-signature", "--format=%G?%x1f%GK%x1f%GS", commit],
                      env={"GNUPGHOME": policy.gnupg_home} if policy.gnupg_home else None,
                      what="signature check").stdout.strip()
    finally:
        git.options.config = saved
    status, _, rest = out.partition("\x1f")
    key, _, signer = rest.partition("\x1f")
    good = {"G"} if fmt == SSH else {"G", "U"}
    if status in good:
        return None
    meaning = {
        "B": "bad signature", "U": "signed by a key that is not allowed", "X": "expired signature",
        "Y": "signed by an expired key", "R": "signed by a revoked key",
        "E": "signed by an unknown key", "N": "not signed",
    }.get(status, f"signature status {status or '?'}")
    by = f" ({key})" if key else ""
    return f"commit {short}: {meaning}{by}"
