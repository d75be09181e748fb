# SPDX-License-Identifier: GPL-2.0-or-later
"""OCF 1.1 exit codes and the exception that carries one with its reason.

Plain integers, not an IntEnum: `enum` costs ~2.5 ms to import and this module is on
every probe's path.
"""

from __future__ import annotations


class Exit:
    """Exit codes of the OCF resource-agent API 1.1 (plus Pacemaker's degraded codes)."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2            # invalid in the context of *this* node
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5       # something this node lacks (binary, module, file)
    ERR_CONFIGURED = 6      # the resource configuration is invalid on every node
    NOT_RUNNING = 7         # cleanly stopped, nothing left behind
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190          # running, but a dependency is not healthy
    DEGRADED_PROMOTED = 191


VALID_CODES = frozenset(v for k, v in vars(Exit).items() if k.isupper())

#: Codes after which Pacemaker bans the resource from a node (2, 4, 5) or everywhere (6).
HARD_ERRORS = frozenset({Exit.ERR_ARGS, Exit.ERR_PERM, Exit.ERR_INSTALLED, Exit.ERR_CONFIGURED})


class OcfError(Exception):
    """Raised by action code to end the action with `code` and a one-line `reason`.

    The reason is what Pacemaker shows in `crm_mon` (via `ocf-exit-reason:`),
    so it must be short, precise and free of secrets.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        if int(code) not in VALID_CODES:
            raise ValueError(f"not an OCF exit code: {code}")
        self.code = int(code)
        self.reason = reason

