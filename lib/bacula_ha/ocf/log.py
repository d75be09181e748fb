# SPDX-License-Identifier: GPL-2.0-or-later
"""Logging the way Pacemaker's shell agents do, plus `ocf-exit-reason:` lines.

Destinations follow ocf-shellfuncs: syslog when `HA_LOGFACILITY` names a facility,
`HA_LOGFILE` and `HA_DEBUGLOG` appended to, stderr when nothing else is set
(pacemaker-execd copies an agent's stderr into its own log). Debug lines only
with `HA_debug` set to a true value. Every line carries the resource instance.
Registered secrets are masked in every line and in the exit reason.

Like ocf-shellfuncs, an agent run by hand on a terminal writes its lines to that
terminal only (no syslog, no log files): the admin sees what it does. We look
at stderr, where the lines go, rather than at stdin as shellfuncs' `tty` does,
so a harness with a terminal on stdin and stderr captured keeps the configured
destinations.

No line is lost silently: when a destination refuses a line (no syslog socket,
an unwritable log file), the line also goes to stderr, with one note saying why.
That is why syslog is spoken here over /dev/log instead of through syslog(3),
which drops what it cannot deliver without telling. The syslog tag is
`agent(instance)[pid]`, once, as `logger -t` writes it for shellfuncs.
"""

from __future__ import annotations

import sys
import time
from posix import getpid   # not `os`: the probe path never imports it (ocf/environment.py says why)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable, List, Mapping, Optional, TextIO

MASK = "******"

_FALSE_WORDS = {"", "0", "no", "false", "off", "n"}

_SYSLOG_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3}

#: syslog facility numbers (RFC 5424; <syslog.h> shifts them left by 3)
_FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
               "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
               **{f"local{n}": 16 + n for n in range(8)}}

SYSLOG_SOCKET = "/dev/log"


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


def _send_datagram(path: str, payload: bytes) -> None:
    """One datagram to a Unix socket; OSError when nobody receives it or its queue is full.

    `_socket`, not `socket`: socket.py imports enum (~2.5 ms), and syslog is
    configured on every node's monitor path.
    """
    try:
        import _socket as sockmod
    except ImportError:  # pragma: no cover - not CPython
        import socket as sockmod  # type: ignore[no-redef]
    sock = sockmod.socket(sockmod.AF_UNIX, sockmod.SOCK_DGRAM)
    try:
        # never wait for a busy syslog daemon (no deadline reaches the logger): a full
        # queue raises BlockingIOError and the line goes to stderr instead
        sock.setblocking(False)
        sock.connect(path)
        sock.send(payload)
    finally:
        sock.close()


class Log:
    """Per-action logger tagged `agent(instance)[pid]`."""

    def __init__(self, agent: str, instance: str, environ: Mapping[str, str],
                 secrets: Optional[Secrets] = None, stderr: Optional[TextIO] = None,
                 tty: Optional[bool] = None, syslog_socket: str = SYSLOG_SOCKET) -> None:
        self.tag = f"{agent}({instance})"
        self.secrets = secrets or Secrets()
        self._stderr = stderr if stderr is not None else sys.stderr
        self._tty = _is_tty(self._stderr) if tty is None else tty
        self._syslog_socket = syslog_socket
        self._noted: set = set()      # destinations whose failure was already explained
        self._debug = environ.get("HA_debug", "0").strip().lower() not in _FALSE_WORDS
        self._facility = environ.get("HA_LOGFACILITY", "").strip().lower()
        if self._facility in ("none", "false", "0"):
            self._facility = ""
        self._logfile = environ.get("HA_LOGFILE", "")
        self._debuglog = environ.get("HA_DEBUGLOG", "")
        self._datefmt = environ.get("HA_DATEFMT", "") or "%b %d %T "
        self._exit_prefix = environ.get("OCF_EXIT_REASON_PREFIX", "") or "ocf-exit-reason:"
        self.reason: Optional[str] = None

    @property
    def debugging(self) -> bool:
        """HA_debug is on: callers may build costly debug text only then."""
        return self._debug

    # -- destinations -------------------------------------------------
    def _emit(self, level: str, msg: str, shown_on_tty: bool = False) -> None:
        body = f"{level.upper()}: {self.secrets.mask(one_line(msg, 2000))}"
        line = f"{self.tag}[{getpid()}]: {body}"
        if self._tty:
            # ocf-shellfuncs: on a terminal, the terminal only (and not twice what is already there)
            if not shown_on_tty:
                self._write_stderr(line)
            return
        failed: List[str] = []
        if self._facility and not self._to_syslog(level, body):
            failed.append(f"syslog socket {self._syslog_socket}")
        files = []
        if self._logfile and level != "debug":
            files.append(self._logfile)
        if self._debuglog and (self._debuglog != self._logfile or level == "debug"):
            files.append(self._debuglog)
        for path in files:
            if not self._to_file(path, line):
                failed.append(f"log file {path}")
        if not self._facility and not self._logfile and not self._debuglog:
            self._write_stderr(line)          # nothing configured: pacemaker-execd reads stderr
        elif failed:
            for where in failed:
                if where not in self._noted:
                    self._noted.add(where)
                    self._write_stderr(f"{self.tag}[{getpid()}]: WARNING: cannot write to {where}: "
                                       "logging to stderr")
            self._write_stderr(line)

    def _to_syslog(self, level: str, body: str) -> bool:
        """`<PRI>Mmm dd hh:mm:ss agent(instance)[pid]: LEVEL: msg`, what logger -t sends."""
        pri = _FACILITIES.get(self._facility, _FACILITIES["daemon"]) * 8 + _SYSLOG_PRIORITY[level]
        stamp = time.strftime("%b %e %H:%M:%S")
        payload = f"<{pri}>{stamp} {self.tag}[{getpid()}]: {body}".encode("utf-8", "replace")
        try:
            _send_datagram(self._syslog_socket, payload)
            return True
        except OSError:
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
        self._emit("error", text, shown_on_tty=True)
        return text


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False
