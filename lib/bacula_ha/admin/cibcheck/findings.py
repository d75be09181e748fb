# SPDX-License-Identifier: GPL-2.0-or-later
"""What a check reports."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: str     # error | warning
    subject: str      # the id of the resource, constraint, node or property concerned
    message: str
    fix: str = ""     # what to add or change, with ids (crm shell syntax where there is one)

    def __str__(self) -> str:
        line = f"{self.severity.upper():7} {self.subject}: {self.message}"
        return f"{line}\n        fix: {self.fix}" if self.fix else line
