"""What a check reports."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: str     # error | warning
    subject: str      # resource id, property name, ...
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.subject}: {self.message}"
