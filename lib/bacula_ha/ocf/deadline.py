# SPDX-License-Identifier: GPL-2.0-or-later
"""Action budgets derived from Pacemaker's operation timeout.

Pacemaker owns timeouts: it kills an action at `OCF_RESKEY_CRM_meta_timeout`.
Every wait and every external call inside an action is bounded by what is left
of that budget, minus a reserve so the agent can still report why it gave up.
"""

from __future__ import annotations

import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Mapping, Optional

#: Budget when Pacemaker does not say (manual runs of the agent).
DEFAULT_TIMEOUT_S = 20.0


def _reserve(budget: float) -> float:
    """Seconds kept back to clean up and write an exit reason before Pacemaker's kill."""
    return min(max(0.5, budget * 0.05), 5.0)


class Deadline:
    """A monotonic point in time an action must finish by."""

    def __init__(self, budget_s: float, clock=time.monotonic) -> None:
        self._clock = clock
        self.budget = max(0.0, float(budget_s))
        self._end = clock() + max(0.0, self.budget - _reserve(self.budget))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default_s: Optional[float] = None) -> "Deadline":
        """Budget from `OCF_RESKEY_CRM_meta_timeout` (milliseconds), else `default_s`."""
        raw = environ.get("OCF_RESKEY_CRM_meta_timeout", "")
        try:
            budget = int(raw) / 1000.0
        except ValueError:
            budget = 0.0
        if budget <= 0:
            budget = default_s if default_s else DEFAULT_TIMEOUT_S
        return cls(budget)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def bound(self, seconds: Optional[float] = None) -> float:
        """`seconds` capped to what is left (all that is left when None)."""
        left = self.remaining()
        return left if seconds is None else max(0.0, min(float(seconds), left))

    def part(self, fraction: float) -> float:
        """`fraction` of the whole operation timeout, capped to what is left.

        For a step's own wait (one login, one query): it grows with the timeout Pacemaker
        gives, so a slow node (emulated CPUs, a loaded host) that is given longer timeouts
        gets longer steps too, where a fixed cap would fail the step whatever the timeout.
        """
        return self.bound(self.budget * max(0.0, float(fraction)))

    def sleep(self, seconds: float) -> bool:
        """Sleep at most `seconds` within the budget; False when the budget is gone."""
        pause = self.bound(seconds)
        if pause > 0:
            time.sleep(pause)
        return not self.expired()

    def window(self, seconds: float) -> "Deadline":
        """A child deadline of at most `seconds`, never past this one (one attempt of a retried step)."""
        child = Deadline(0)
        child._clock = self._clock
        child.budget = self.bound(seconds)
        child._end = self._clock() + child.budget
        return child

    def sub(self, fraction: float) -> "Deadline":
        """A child deadline holding `fraction` of what is left (for a step that must leave room)."""
        child = Deadline(0)
        child._clock = self._clock
        child.budget = self.remaining() * fraction
        child._end = self._clock() + child.budget
        return child
