# SPDX-License-Identifier: GPL-2.0-or-later
"""Commit signature policy: which commits may ever be deployed.

Why not just `git verify-commit`? Git picks the verifier from the signature it
finds in the commit object, whatever `gpg.format` says, and falls back to the
system's allowed-signers file or the user's GnuPG home. A commit may also carry
several signature headers (`gpgsig`, `gpgsig-sha256`), of which git verifies
only the one of the repository's object format. A "GPG only" check could then
pass an SSH-signed commit, or the reverse. So:

* a commit with more than one signature header is refused outright;
* the signature format is read from the header git verifies (`gpgsig` in a
  SHA-1 repository, `gpgsig-sha256` in a SHA-256 one) and must be one the
  policy accepts (allowed_signers -> SSH, gpg_keyring -> OpenPGP);
* git always gets an explicit `gpg.ssh.allowedSignersFile` (the configured file,
  or /dev/null) and the agent's private GNUPGHOME (in cache_dir) holding only the
  configured keyring, whose keys are the only ones with (ultimate) owner trust
  there; the verifier of a format the policy does not accept is /bin/false;
* the status letter must be G, and for OpenPGP the signing key's primary (or
  subkey) fingerprint must also be one of the keyring's: a U ("good, validity
  unknown") is never enough by itself.
"""

from __future__ import annotations

import os
# No dataclasses or typing at run time: they cost every monitor and promote milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import FrozenSet, List, Optional, Tuple

from .gitrunner import Git, GitError

SSH, GPG, X509 = "ssh", "openpgp", "x509"

_ARMOR = {
    "-----BEGIN SSH SIGNATURE-----": SSH,
    "-----BEGIN PGP SIGNATURE-----": GPG,
    "-----BEGIN PGP MESSAGE-----": GPG,
    "-----BEGIN SIGNED MESSAGE-----": X509,
}


#: The signature header git verifies, per object format of the repository.
VERIFIED_HEADER = {"sha1": "gpgsig", "sha256": "gpgsig-sha256"}


def signature_headers(commit_object: str) -> List[Tuple[str, str]]:
    """(header name, first line of its value) of every signature header of a raw commit object."""
    found = []
    for line in commit_object.split("\n"):
        if line == "":
            break  # end of headers
        name, sep, value = line.partition(" ")
        if sep and name.startswith("gpgsig"):
            found.append((name, value.strip()))
    return found


def signature_format(commit_object: str, header: str = "gpgsig") -> Optional[str]:
    """The format of the signature in `header` of a raw commit object (`git cat-file commit`), or None."""
    for name, armor in signature_headers(commit_object):
        if name == header:
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
    """The trust anchors: which signature formats are accepted, verified against what.

    `gnupg_home` is always the agent's private home (even without gpg_keyring): gpg must never
    read the inherited GNUPGHOME or ~/.gnupg, where a key may be trusted for other reasons.
    """

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
        """Explicit verifier settings for every verification call; no verifier for a refused format."""
        return {
            "gpg.ssh.allowedSignersFile": self.allowed_signers or os.devnull,
            "gpg.program": "gpg" if self.gpg_keyring else "/bin/false",
            "gpg.ssh.program": "ssh-keygen" if self.allowed_signers else "/bin/false",
            "gpg.x509.program": "/bin/false",
            "gpg.minTrustLevel": "undefined",
            "log.showSignature": "false",
        }

    def anchors(self) -> FrozenSet[str]:
        """Fingerprints (primary keys and subkeys) of the keys imported from gpg_keyring."""
        try:
            with open(os.path.join(self.gnupg_home, ANCHORS_FILE), encoding="ascii") as fh:
                return frozenset(line.strip().upper() for line in fh if line.strip())
        except OSError:
            return frozenset()


#: Fingerprints of the imported keyring, written by prepare_gnupg_home.
ANCHORS_FILE = "anchors"


def _gpg(git: Git, home: str, args, input: Optional[str] = None):
    return git.tool(["gpg", "--batch", "--quiet", "--no-tty", "--no-autostart", *args], timeout=15,
                    env={"GNUPGHOME": home, "PATH": "/usr/bin:/bin", "LC_ALL": "C"}, replace_env=True,
                    input=input)


def prepare_gnupg_home(policy: Policy, git: Git) -> None:
    """A private GNUPGHOME holding exactly the configured keyring, its keys ultimately trusted there
    and their fingerprints listed in ANCHORS_FILE (rebuilt when the keyring changes)."""
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
        fh.write("no-autostart\ntrust-model pgp\n")
    fingerprints: List[str] = []
    if policy.gpg_keyring:
        result = _gpg(git, home, ["--import", policy.gpg_keyring])
        if result.returncode != 0:
            raise GitError("gpg --import", f"cannot import gpg_keyring: {result.first_line()}")
        listing = _gpg(git, home, ["--with-colons", "--with-subkey-fingerprints", "--list-keys"])
        primaries = []
        previous = ""
        for line in listing.stdout.splitlines():
            fields = line.split(":")
            if fields[0] == "fpr" and len(fields) > 9:
                fingerprints.append(fields[9].upper())
                if previous == "pub":
                    primaries.append(fields[9].upper())
            previous = fields[0]
        if primaries:
            trust = _gpg(git, home, ["--import-ownertrust"], input="".join(f"{f}:6:\n" for f in primaries))
            if trust.returncode != 0:
                raise GitError("gpg --import-ownertrust", trust.first_line())
    with open(os.path.join(home, ANCHORS_FILE), "w", encoding="ascii") as fh:
        fh.write("".join(f + "\n" for f in fingerprints))
    with open(stamp_path, "w", encoding="utf-8") as fh:
        fh.write(digest + "\n")


def check(git: Git, policy: Policy, commit: str) -> Optional[str]:
    """None when `commit` may be deployed under `policy`, else the reason (naming the commit)."""
    if not policy.enforced:
        return None
    short = commit[:12]
    headers = signature_headers(git.commit_object(commit))
    if len(headers) > 1:
        names = ", ".join(name for name, _ in headers)
        return f"commit {short} carries {len(headers)} signature headers ({names}); only one is accepted"
    verified = VERIFIED_HEADER.get(git.object_format(), "gpgsig")
    if headers and headers[0][0] != verified:
        return f"commit {short} is signed in header {headers[0][0]}, which git does not verify here"
    fmt = _ARMOR.get(headers[0][1], "unknown") if headers else None
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
        out = git.run(["log", "-1", "--no-show-signature", "--format=%G?%x1f%GK%x1f%GF%x1f%GP", commit],
                      env={"GNUPGHOME": policy.gnupg_home}, what="signature check").stdout.strip()
    finally:
        git.options.config = saved
    status, key, fpr, primary = (out.split("\x1f") + ["", "", "", ""])[:4]
    if status == "G" and fmt == GPG:
        if {fpr.upper(), primary.upper()} & policy.anchors() - {""}:
            return None
        status = "U"  # good signature, but by no key of gpg_keyring
    elif status == "G":
        return None
    meaning = {
        "B": "bad signature", "U": "signed by a key that is not allowed", "X": "expired signature",
        "Y": "signed by an expired key", "R": "signed by a revoked key",
        "E": "signed by an unknown key", "N": "not signed",
    }.get(status, f"signature status {status or '?'}")
    by = f" ({key})" if key else ""
    return f"commit {short}: {meaning}{by}"
