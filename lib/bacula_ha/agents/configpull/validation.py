# SPDX-License-Identifier: GPL-2.0-or-later
"""The Director's own config test (`bacula-dir -t`) on a staged tree.

Why classify the outcome: `-t` also opens the catalog (it retries for ~30 s
when the catalog is down). A parse error is the commit's fault and refuses the
commit for good; a catalog that cannot be reached says nothing about the commit,
so the result is "inconclusive" and the commit is tried again later.
"""

from __future__ import annotations

import os

from ...ocf.codes import OcfError

#: Output that blames the catalog, not the configuration.
_CATALOG_TROUBLE = ("Could not open Catalog", "Unable to connect to PostgreSQL",
                    "Unable to connect to MySQL", "Could not open database")

#: Bytes of a candidate's files scanned for password directives (per file, and in all).
_SCAN_FILE_BYTES = 1 << 20
_SCAN_TOTAL_BYTES = 16 << 20
#: What replaces a password in a reason.
MASK = "******"

#: Lines worth showing, most specific first.
_ERROR_MARKERS = ("Config error:", "Fatal error:", "ERR=", "Could not", "Error", "ERROR")


class Outcome:
    """`ok`; when not, `conclusive` says whether the commit is to blame (refuse it)."""

    __slots__ = ("ok", "conclusive", "message")

    def __init__(self, ok: bool, conclusive: bool = True, message: str = "") -> None:
        self.ok = ok
        self.conclusive = conclusive
        self.message = message


def password_values(root: str) -> "set":
    """Values of the password directives (Password, DB Password, ...) in a staged tree's files.

    Why: the Director's parse errors quote the token they choke on (`Password "Secret"`, the
    `=` missing, gives `expected an equals, got: Secret`), and a refusal reason reaches the
    log, the CIB and state.json. The value after a password keyword is taken even when it is
    wrapped onto the next line or lacks its `=`.
    """
    import re
    token = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[^\s={};,"#]+|[={};,]')
    found = set()
    budget = _SCAN_TOTAL_BYTES
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            if budget <= 0 or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read(min(_SCAN_FILE_BYTES, budget))
            except OSError:
                continue
            budget -= len(data)
            want = False
            for match in token.finditer(data.decode("utf-8", "replace")):
                word = match.group()
                if word.startswith("#") or word == "=":
                    continue
                if want and word in ("{", "}", ";", ","):
                    want = False
                elif want:
                    value = word[1:-1] if word.startswith('"') and word.endswith('"') and len(word) > 1 \
                        else word.lstrip('"')
                    if value:
                        found.add(value)
                        found.update(part for part in value.split() if len(part) >= 3)
                    want = False
                elif "password" in word.lower():
                    want = True
    return found


def mask(text: str, secrets) -> str:
    """`text` with every secret (3 characters or more, longest first) replaced by MASK."""
    for value in sorted((v for v in secrets if len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def error_line(output: str, stage: str) -> str:
    """The Director's most telling error line (plus its `line N` location), staging path hidden."""
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    chosen = ""
    for marker in _ERROR_MARKERS:
        for line in lines:
            if marker in line and "ERROR TERMINATION" not in line:
                chosen = line
                break
        if chosen:
            break
    if not chosen:
        chosen = lines[0] if lines else "no output"
    where = next((l for l in lines if l.startswith(": line ")), "")
    if where and where not in chosen:
        chosen = f"{chosen} ({where[2:]})"
    if stage:
        chosen = chosen.replace(stage.rstrip("/") + "/", "").replace(stage, ".")
    return chosen


def minimal_env() -> dict:
    """The whole environment of a program the agent starts on a candidate's behalf (the config
    test, reload_command): never the agent's OCF_RESKEY_* parameters, HOME or anything else."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "HOME": "/"}


def _groups_of(uid: int, gid: int) -> list:
    """The test user's own supplementary groups (never root's, which Popen would otherwise keep)."""
    import pwd
    try:
        return os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except (KeyError, OSError):
        return [gid]


def director_test(run, binary: str, stage: str, main_config: str,
                  timeout: float, uid=None, gid=None) -> Outcome:
    """Run `binary -t -c <stage>/<main_config>` (as uid:gid when given), bounded by `timeout`."""
    from ...ocf.command import CommandTimeout
    config = os.path.join(stage, main_config)
    if not os.path.isfile(config):
        return Outcome(False, True, f"{main_config} is missing from the commit")
    try:
        as_user = {"user": uid, "group": gid, "extra_groups": _groups_of(uid, gid)} if uid is not None else {}
        result = run([binary, "-t", "-c", config], timeout=timeout, cwd=stage, env=minimal_env(),
                     replace_env=True, **as_user)
    except CommandTimeout:
        return Outcome(False, False, f"{os.path.basename(binary)} -t did not finish in {timeout:.0f}s "
                                     f"(catalog unreachable?)")
    except OcfError as exc:  # not installed
        return Outcome(False, False, exc.reason)
    if result.returncode == 0:
        return Outcome(True)
    output = result.stdout + "\n" + result.stderr
    line = mask(error_line(output, stage), password_values(stage))
    conclusive = not any(marker in output for marker in _CATALOG_TROUBLE)
    return Outcome(False, conclusive, f"{os.path.basename(binary)} -t: {line}")
