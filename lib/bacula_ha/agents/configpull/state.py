# SPDX-License-Identifier: GPL-2.0-or-later
"""What the cache knows, kept in `<cache>/state.json` (survives reboots).

Why in the cache and not in HA_RSCTMP: after a reboot (or with Git down) the
node must still know which commit it validated, so promote can deploy it from
the cache. Only the role marker lives in HA_RSCTMP (cleared at boot).
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

#: Refusals and validations remembered (oldest forgotten first).
MAX_REMEMBERED = 200

#: Fields and their empty values (a plain class: dataclasses cost every action milliseconds).
FIELDS = {
    "policy": "",          # fingerprint of everything a verdict depends on
    "tip": "",             # upstream tip seen by the last successful judgement
    "validated": "",       # newest validated commit: what promote deploys
    "validated_time": 0,   # its committer time (freshness of a stale node's score)
    "deployed": "",        # commit live in config_dir
    "previous": "",        # the one before it: last known good
    "good": list,          # commits that passed signature and config checks
    "refused": dict,       # commit -> reason
    "problem": "",         # last refresh problem's message ("" = healthy): output only
    "problem_kind": "",    # its kind (problems.py): what decisions read
    "floor": "",           # high-water mark: newest commit validated or deployed under a signature
                           # policy; kept across settings changes (rollback protection)
    "fetched_at": 0.0,
    "fetch_timeouts": 0,   # consecutive fetches that ran out of time (a silent, blackholed remote)
    "retry_at": 0.0,       # monitors skip fetching until then (backoff after a timeout)
}


class CacheState:
    __slots__ = tuple(FIELDS)

    def __init__(self, **values) -> None:
        for name, empty in FIELDS.items():
            blank = empty() if callable(empty) else empty
            value = values.get(name)
            if isinstance(blank, (int, float)) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                value = type(blank)(value)
            elif not isinstance(value, type(blank)):
                value = blank  # missing or of the wrong type (a hand-edited file)
            setattr(self, name, value)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    def remember_good(self, commit: str) -> None:
        if commit in self.good:
            self.good.remove(commit)
        self.good.append(commit)
        del self.good[:-MAX_REMEMBERED]
        self.refused.pop(commit, None)

    def refuse(self, commit: str, reason: str) -> None:
        self.refused[commit] = reason
        while len(self.refused) > MAX_REMEMBERED:
            self.refused.pop(next(iter(self.refused)))

    def reset_verdicts(self, policy: str) -> None:
        """The policy changed: earlier verdicts no longer hold. `floor` stays: a settings change
        must never reopen the door to a rollback."""
        self.policy = policy
        self.good = []
        self.refused = {}
        self.validated = ""
        self.validated_time = 0
        self.tip = ""


def load(path: str) -> CacheState:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return CacheState()
    return CacheState(**data) if isinstance(data, dict) else CacheState()


def save(path: str, state: CacheState) -> None:
    """Atomic write (tmp + fsync + rename): a crash never loses the last good state.
    Mode 0600: refusal reasons quote the Director's errors, which only root may read."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state.as_dict(), fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_leftovers(path: str) -> None:
    """Drop `<path>.tmp.<pid>` files of actions killed mid-save (the caller holds the lock)."""
    directory, prefix = os.path.dirname(path), os.path.basename(path) + ".tmp."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def short(commit: "Optional[str]") -> str:
    return (commit or "")[:12] or "none"
