"""bacula-config-pull attacked as issue 12 did: forged signatures, rollbacks, leaked secrets.

Each test plays someone who can push to the configuration repository (or write where the
agent reads) but holds no trusted key, against real git, gpg and ssh-keygen.
"""

from __future__ import annotations

import os

import pytest

from support.gitrepo import gpg_key, gpg_stop
from test_configpull import Pull, repo, signer  # noqa: F401  (fixtures)


# -- 1. the signature format comes from the header git verifies ------------------------------
def test_fake_pgp_header_before_an_untrusted_ssh_signature_is_refused(tmp_path, repo, signer):
    """A gpg policy; the commit has a decoy `gpgsig-sha256` PGP block (copied from a real admin
    commit) before the `gpgsig` header git verifies, which holds an SSH signature by a stranger."""
    admin = gpg_key(str(tmp_path))
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = Pull(tmp_path, repo, gpg_keyring=admin["public"])
        assert pull("start").rc == 0 and pull("promote").rc == 0 and pull.deployed() == good
        _, pgp_block = repo.signature_block(good)
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, ssh=signer["other"], push=False)
        forged = repo.forge(evil, [("gpgsig-sha256", pgp_block)])
        repo.force(forged)
        res = pull("monitor", role="Promoted")
        assert res.rc == 191 and forged[:12] in res.reason and "2 signature headers" in res.reason
        assert pull.deployed() == good and pull.read() == "admin\n"
    finally:
        gpg_stop(admin)


def test_ssh_signature_by_untrusted_key_never_passes_a_gpg_policy(tmp_path, repo, signer):
    """Only one header this time: the format check refuses it (never `U` alone)."""
    admin = gpg_key(str(tmp_path))
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = Pull(tmp_path, repo, gpg_keyring=admin["public"])
        assert pull("start").rc == 0 and pull("promote").rc == 0
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, ssh=signer["other"])
        res = pull("monitor", role="Promoted")
        assert res.rc == 191 and evil[:12] in res.reason and "SSH signature" in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(admin)


def test_gpg_key_outside_the_keyring_is_refused_even_when_gpg_trusts_it(tmp_path, repo):
    """Both an admin key (in gpg_keyring) and a stranger key that the *inherited* GnuPG home
    trusts ultimately: only the keyring's fingerprints count."""
    admin = gpg_key(str(tmp_path))
    stranger = gpg_key(str(tmp_path), "Stranger")
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, gpg=admin)
        pull = Pull(tmp_path, repo, gpg_keyring=admin["public"])
        pull.extra_env = {"GNUPGHOME": stranger["home"], "HOME": str(tmp_path)}
        assert pull("start").rc == 0 and pull("promote").rc == 0 and pull.deployed() == good
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, gpg=stranger)
        res = pull("monitor", role="Promoted")
        assert res.rc == 191 and evil[:12] in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(admin)
        gpg_stop(stranger)


# -- 2. a PGP signature never passes an ssh-only policy ---------------------------------------
def test_pgp_signature_trusted_by_inherited_gnupghome_fails_an_ssh_policy(tmp_path, repo, signer):
    """ssh-only policy; the agent inherits GNUPGHOME where the attacker's key is trusted; the commit
    carries a decoy SSH header before the PGP `gpgsig` git verifies."""
    stranger = gpg_key(str(tmp_path), "Stranger")
    try:
        good = repo.commit({"bacula-dir.conf": "admin\n"}, ssh=signer["good"])
        _, ssh_block = repo.signature_block(good)
        pull = Pull(tmp_path, repo, allowed_signers=signer["allowed"])
        pull.extra_env = {"GNUPGHOME": stranger["home"], "HOME": os.path.dirname(stranger["home"])}
        assert pull("start").rc == 0 and pull("promote").rc == 0 and pull.deployed() == good
        evil = repo.commit({"bacula-dir.conf": "evil\n"}, gpg=stranger, push=False)
        forged = repo.forge(evil, [("gpgsig-sha256", ssh_block)])
        repo.force(forged)
        res = pull("monitor", role="Promoted")
        assert res.rc == 191 and forged[:12] in res.reason
        assert pull.deployed() == good and pull.read() == "admin\n"
        repo.force(evil)                                  # the plain PGP commit, no decoy
        res = pull("monitor", role="Promoted")
        assert res.rc == 191 and evil[:12] in res.reason and "GPG signature" in res.reason
        assert pull.deployed() == good
    finally:
        gpg_stop(stranger)
