# SPDX-License-Identifier: GPL-2.0-or-later
"""The catalog schema version the installed Director expects.

Bacula's own catalog script is the authority: `make_postgresql_tables` ends with
`INSERT INTO Version (VersionId) VALUES (16);` for 9.6.x. Reading that line costs
well under a millisecond, so every action reads it again (an upgraded package is
seen at once) instead of trusting a copy.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional, Tuple

#: Where distributions install the script (Debian/Ubuntu, RPM packages, bacula.org packages).
SCRIPT_CANDIDATES: Tuple[str, ...] = (
    "/usr/share/bacula-director/make_postgresql_tables",
    "/usr/libexec/bacula/make_postgresql_tables",
    "/opt/bacula/scripts/make_postgresql_tables",
)

#: Enough for every known version of the script (Debian 9.6.7: 20 kB); guards against odd files.
MAX_BYTES = 4 * 1024 * 1024

#: The statement with blanks and quotes removed, lower case; the VersionId follows it.
_SQUEEZED = "insertintoversion(versionid)values("
_DIGITS = frozenset("0123456789")


class VersionUnknown(Exception):
    """The expected VersionId cannot be found: the reason says where we looked."""


def version_in_text(text: str) -> Optional[int]:
    """The VersionId the script inserts; None when absent; VersionUnknown when ambiguous."""
    found = set()
    low = text.lower()
    at = low.find("insert")
    while at >= 0:
        # no `re`: it costs every monitor ~20-50 ms of imports (enum, functools), this ~0.1 ms
        words = low[at:at + 300].split()
        if len(words) > 1 and words[1].startswith("into"):
            squeezed = "".join(words).replace('"', "").replace("'", "")
            if squeezed.startswith(_SQUEEZED):
                number = squeezed[len(_SQUEEZED):].split(")", 1)[0]
                if 0 < len(number) <= 9 and set(number) <= _DIGITS and ")" in squeezed[len(_SQUEEZED):]:
                    found.add(int(number))
        at = low.find("insert", at + 6)
    if len(found) > 1:
        raise VersionUnknown(f"several VersionId values ({', '.join(map(str, sorted(found)))})")
    return found.pop() if found else None


def discover(candidates: Optional[Iterable[str]] = None) -> Tuple[int, str]:
    """(VersionId, script path) from the first readable catalog script that names one."""
    paths = tuple(SCRIPT_CANDIDATES if candidates is None else candidates)
    problems = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        try:
            version = version_in_text(raw.decode("utf-8", "replace"))
        except VersionUnknown as exc:
            problems.append(f"{path}: {exc}")
            continue
        if version is not None:
            return version, path
        problems.append(f"{path}: no INSERT INTO Version")
    where = "; ".join(problems) if problems else f"none of {', '.join(paths)} exists"
    raise VersionUnknown(where)
