"""What the cache knows, kept in `<cache>/state.json` (survives reboots).

Why in the cache and not in HA_RSCTMP: after a reboot (or with Git down) the
node must still know which commit it validated, so promote can deploy it from
the cache. Only the role marker lives in HA_RSCTMP (cleared at boot).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

#: Refusals and validations remembered (oldest forgotten first).
MAX_REMEMBERED = 200


@dataclass
class CacheState:
    #: Fingerprint of everything a verdict depends on (keys, validate, main_config).
    policy: str = ""
    #: Upstream tip seen by the last successful fetch.
    tip: str = ""
    #: Newest validated commit (what promote deploys) and its committer time.
    validated: str = ""
    validated_time: int = 0
    #: Commit deployed into config_dir, and the one before it (last known good).
    deployed: str = ""
    previous: str = ""
    #: Commits that passed / failed signature and config checks, with reasons.
    good: List[str] = field(default_factory=list)
    refused: Dict[str, str] = field(default_factory=dict)
    #: Last refresh problem (Git unreachable, newest commit refused, inconclusive test).
    problem: str = ""
    fetched_at: float = 0.0

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
        """The policy changed: earlier verdicts no longer hold."""
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
    known = {k: v for k, v in data.items() if k in CacheState.__dataclass_fields__}
    try:
        return CacheState(**known)
    except TypeError:
        return CacheState()


def save(path: str, state: CacheState) -> None:
    """Atomic write (tmp + fsync + rename): a crash never loses the last good state."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(asdict(state), fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def short(commit: Optional[str]) -> str:
    return (commit or "")[:12] or "none"
