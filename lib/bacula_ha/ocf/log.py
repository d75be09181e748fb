"""Logging the way Pacemaker's shell agents do, plus `ocf-exit-reason:` lines.

Destinations follow ocf-shellfuncs: syslog when `HA_LOGFACILITY` names a facility,
`HA_LOGFILE` and `HA_DEBUGLOG` appended to, stderr when nothing else is set
(pacemaker-execd copies an agent's stderr into its own log). Debug lines only
with `HA_debug` set to a true value. Every line carries the resource instance.
Registered secrets are masked in every line and in the exit reason.
"""

from __future__ import annotations

import os
import sys
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable, Mapping, Optional, TextIO

MASK = "******"

_FALSE_WORDS = {"", "0", "no", "false", "off", "n"}

_SYSLOG_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3}


def one_line(text: str, limit: int = 400) -> str:
    """Collapse `text` to one line Pacemaker can show; cap its length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class Secrets:
    """Values that must never reach a log, an exit reason or an argv."""

    def __init__(self) -> None:
        self._values: set = set()

    def add(self, value: Optional[str]) -> None:
        if value and len(str(value)) >= 3:  # masking "a" everywhere would mangle every line
            self._values.add(str(value))

    def mask(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def found_in(self, words: Iterable[str]) -> bool:
        return any(v in str(w) for w in words for v in self._values)


class Log:
    """Per-action logger tagged `agent(instance)[pid]`."""

    def __init__(self, agent: str, instance: str, environ: Mapping[str, str],
                 secrets: Optional[Secrets] = None, stderr: Optional[TextIO] = None) -> None:
        self.tag = f"{agent}({instance})"
        self.secrets = secrets or Secrets()
        self._stderr = stderr if stderr is not None else sys.stderr
        self._debug = environ.get("HA_debug", "0").strip().lower() not in _FALSE_WORDS
        self._facility = environ.get("HA_LOGFACILITY", "").strip().lower()
        if self._facility in ("none", "false", "0"):
            self._facility = ""
        self._logfile = environ.get("HA_LOGFILE", "")
        self._debuglog = environ.get("HA_DEBUGLOG", "")
        self._datefmt = environ.get("HA_DATEFMT", "") or "%b %d %T "
        self._exit_prefix = environ.get("OCF_EXIT_REASON_PREFIX", "") or "ocf-exit-reason:"
        self._syslog_open = False
        self.reason: Optional[str] = None

    # -- destinations -------------------------------------------------
    def _emit(self, level: str, msg: str) -> None:
        line = f"{self.tag}[{os.getpid()}]: {level.upper()}: {self.secrets.mask(one_line(msg, 2000))}"
        wrote = False
        if self._facility:
            wrote = self._to_syslog(level, line) or wrote
        files = []
        if self._logfile and level != "debug":
            files.append(self._logfile)
        if self._debuglog and self._debuglog != self._logfile:
            files.append(self._debuglog)
        elif self._debuglog and level == "debug":
            files.append(self._debuglog)
        for path in files:
            wrote = self._to_file(path, line) or wrote
        if not wrote and not self._facility and not self._logfile:
            self._write_stderr(line)

    def _to_syslog(self, level: str, line: str) -> bool:
        try:
            import syslog
            if not self._syslog_open:
                facility = getattr(syslog, "LOG_" + self._facility.upper(), syslog.LOG_DAEMON)
                syslog.openlog(self.tag, 0, facility)
                self._syslog_open = True
            syslog.syslog(_SYSLOG_PRIORITY[level], line)
            return True
        except Exception:  # logging must never break an action
            return False

    def _to_file(self, path: str, line: str) -> bool:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(time.strftime(self._datefmt) + line + "\n")
            return True
        except OSError:
            return False

    def _write_stderr(self, line: str) -> None:
        try:
            self._stderr.write(line + "\n")
            self._stderr.flush()
        except (OSError, ValueError):
            pass

    # -- API -----------------------------------------------------------
    def debug(self, msg: str) -> None:
        if self._debug:
            self._emit("debug", msg)

    def info(self, msg: str) -> None:
        self._emit("info", msg)

    def warning(self, msg: str) -> None:
        self._emit("warning", msg)

    def error(self, msg: str) -> None:
        self._emit("error", msg)

    def exit_reason(self, msg: str) -> str:
        """Write the one-line reason Pacemaker shows in `crm_mon`; also log it as an error."""
        text = self.secrets.mask(one_line(msg))
        self.reason = text
        self._write_stderr(f"{self._exit_prefix}{text}")
        self._emit("error", text)
        return text
