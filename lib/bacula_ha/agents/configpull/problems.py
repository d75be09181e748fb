# SPDX-License-Identifier: GPL-2.0-or-later
"""Why an instance is degraded: a kind the handlers decide on, and a message that is output only.

Why kinds: a newcomer rewording a message must never change what the agent does. Every
decision (retry an inconclusive test, keep the fresh score, hide local edits once they are
superseded) reads `kind`; `message` goes to the log and the exit reason, nowhere else.
Plain string constants and a plain class: `enum` and dataclasses cost every action.
"""

from __future__ import annotations

#: Healthy: nothing to report.
NONE = ""
#: The fetch failed; the node serves what its cache holds.
UNREACHABLE = "unreachable"
#: A commit could not be judged now (catalog down, out of time): retried later.
INCONCLUSIVE = "inconclusive"
#: The newest commit was refused (signature, tree, config test): it stays refused.
REFUSED = "refused"
#: The newest acceptable commit does not descend from the high-water mark: never deployed.
ROLLBACK = "rollback"
#: config_dir differs from the deployed commit (push_changes=false).
LOCAL_EDITS = "local-edits"
#: Local edits could not be pushed back.
PUSH_FAILED = "push-failed"
#: A validated commit could not be made live (the live configuration is untouched).
DEPLOY_FAILED = "deploy-failed"
#: reload_command failed after a deployment.
RELOAD_FAILED = "reload-failed"

#: Kinds after which the next successful fetch judges the tip again even when it is unchanged.
RETRY_KINDS = (UNREACHABLE, INCONCLUSIVE)


class Problem:
    """One reason for being degraded."""

    __slots__ = ("kind", "message")

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message

    def __bool__(self) -> bool:
        return bool(self.kind)

    def __repr__(self) -> str:
        return f"Problem({self.kind!r}, {self.message!r})"


HEALTHY = Problem(NONE, "")


def joined(problems) -> str:
    """The exit reason of several problems (messages only)."""
    return "; ".join(p.message for p in problems if p)
