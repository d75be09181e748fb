# SPDX-License-Identifier: GPL-2.0-or-later
"""The Director console protocol, spoken in-process (no bconsole).

Why: bconsole costs a process spawn (~50 ms), cannot be bounded below its own
15-20 s connect/authentication timeouts, and reports a SIGSTOPped Director as
"passwords do not agree". Here every socket operation is bounded by the
caller's deadline, so a hung Director fails the check inside the op timeout.

Wire format (Bacula bnet, as in bsock.c of Bacula 9.x): each packet is a 4-byte
big-endian signed length followed by that many bytes; a negative length is a
signal (-1 = end of data). Bit 30 marks LZ4 compression (we never ask for it:
our Hello carries protocol version 0) and bit 29 an extended header (4 more
bytes of flags).

Authentication (cram-md5.c, dird/authenticate.c): the console sends
"Hello <name> calling 0"; the Director challenges with
"auth cram-md5 <random.time@host> ssl=N", the console answers with
HMAC-MD5(challenge, key) in Bacula's base64, the Director says "1000 OK auth".
Then the console challenges the Director the same way (mutual), and the
Director finally greets with "1000 OK: <version> <name> Version: ...".
The key is not the password but the MD5 hex digest of it: that is what
Bacula's config parser stores for every Password directive.

Bounds: time by the caller's deadline; memory by MAX_REPLY, the bytes one
request (an authentication step or a command) may bring in, whatever the
peer sends (a peer that streamed 16 MiB packets once drove a monitor to 1 GB).

Failures are typed (ConsoleTimeout, ConsoleRefused, WrongDirector,
ConsoleProtocolError, ConsoleUnsupported): callers decide on the class,
never on the message, which is output only.
"""

from __future__ import annotations

import _socket
import os
import _struct as struct  # the builtin behind `struct`: one import less on the monitor path
import time

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import List, Optional

EOD = -1                 # BNET_EOD: end of a command's output
BNET_COMPRESSED = 1 << 30
BNET_HDR_EXTEND = 1 << 29
MAX_PACKET = 1 << 24     # a sane bound: status output is a few KB
MAX_REPLY = 1 << 20      # bytes per request (headers included): `version`/`reload` answer in < 1 KB
RECV_CHUNK = 1 << 16     # socket reads: recv(n) allocates n bytes before the peer sends any
TLS_NONE = 0

_DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _md5(data: bytes) -> "object":
    # the builtin _md5 module: hashlib (OpenSSL) and hmac cost a monitor ~12 ms of imports
    try:
        import _md5 as impl
        return impl.md5(data)
    except ImportError:   # an interpreter built without it
        import hashlib
        return hashlib.md5(data)


def hmac_md5(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 HMAC with MD5 (block size 64)."""
    if len(key) > 64:
        key = _md5(key).digest()
    key = key.ljust(64, b"\0")
    inner = _md5(bytes(b ^ 0x36 for b in key) + msg).digest()
    return _md5(bytes(b ^ 0x5C for b in key) + inner).digest()


def parse_challenge(msg: str) -> "Optional[tuple]":
    """("<chal>", compatible, ssl) from "auth cram-md5[c] <chal> ssl=N", else None."""
    words = msg.split()
    if len(words) < 3 or words[0] != "auth" or words[1] not in ("cram-md5", "cram-md5c"):
        return None
    ssl = 0
    if len(words) > 3 and words[3].startswith("ssl="):
        try:
            ssl = int(words[3][4:])
        except ValueError:
            return None
    return words[2], words[1] == "cram-md5c", ssl


class ConsoleError(Exception):
    """The check failed; `str()` is a one-line reason (never holds a secret).

    This base class itself means the connection failed (refused, reset, closed).
    """


class ConsoleTimeout(ConsoleError):
    """The Director did not answer in time (stopped, deadlocked, overloaded)."""


class ConsoleRefused(ConsoleError):
    """The Director refused our console: wrong password or unknown console name."""


class WrongDirector(ConsoleError):
    """The peer failed our challenge: not the Director we know (another program on its port?)."""


class ConsoleProtocolError(ConsoleError):
    """The peer broke the protocol: no challenge, a bad greeting, an oversized or compressed reply."""


class ConsoleUnsupported(ConsoleError):
    """The Director asks for something the check does not do (TLS consoles)."""


def bacula_base64(data: bytes, compatible: bool) -> str:
    """Bacula's bin_to_base64: no padding; non-compatible mode sign-extends bytes.

    The non-compatible variant is what every Bacula daemon still accepts and
    what a Director answers a plain "auth cram-md5" challenge with.
    """
    reg = 0
    rem = 0
    out = bytearray()
    i = 0
    while i < len(data):
        if rem < 6:
            reg = (reg << 8) & 0xFFFFFFFF
            byte = data[i]
            if not compatible and byte >= 0x80:
                byte |= 0xFFFFFF00           # (int8_t) sign extension into the uint32 register
            reg = (reg | byte) & 0xFFFFFFFF
            i += 1
            rem += 8
        out.append(_DIGITS[(reg >> (rem - 6)) & 0x3F])
        rem -= 6
    if rem:
        mask = (1 << rem) - 1
        out.append(_DIGITS[((reg & mask) << (6 - rem)) if compatible else (reg & mask)])
    return out.decode("ascii")


def password_key(password: str) -> bytes:
    """The HMAC key Bacula uses: MD5 hex digest of the configured password."""
    if password.startswith("[md5]"):    # already hashed in the config
        return password[5:].encode()
    return _md5(password.encode("utf-8")).hexdigest().encode()


def cram_response(challenge: str, key: bytes, compatible: bool) -> str:
    return bacula_base64(hmac_md5(key, challenge.encode("utf-8")), compatible)


def bash_spaces(name: str) -> str:
    """Bacula sends names with spaces replaced by 0x01."""
    return name.replace(" ", "\x01")




class DirectorConsole:
    """One authenticated console connection; use as a context manager."""

    def __init__(self, host: str, port: int, name: str, password: str, deadline) -> None:
        self.host = host
        self.port = port
        self.name = name or "*UserAgent*"
        self._key = password_key(password)
        self.deadline = deadline
        self.sock = None
        self.greeting = ""
        self.tls_remote = TLS_NONE
        self._allowance = MAX_REPLY         # bytes the current request may still read

    # -- bounded I/O -----------------------------------------------------
    def _budget(self, what: str) -> float:
        left = self.deadline.remaining()
        if left <= 0:
            raise ConsoleTimeout(f"Director at {self.host}:{self.port} did not answer in time ({what})")
        return left

    def _recv_exact(self, n: int, what: str) -> bytes:
        assert self.sock is not None
        if n > self._allowance:
            raise ConsoleProtocolError(f"Director at {self.host}:{self.port} sent more than {MAX_REPLY} bytes "
                                       f"({what}): not a console answer")
        self._allowance -= n
        buf = bytearray()
        while len(buf) < n:
            self.sock.settimeout(self._budget(what))
            _quickack(self.sock)
            try:
                chunk = self.sock.recv(min(n - len(buf), RECV_CHUNK))
            except _socket.timeout:
                raise ConsoleTimeout(f"Director at {self.host}:{self.port} did not answer in time ({what})") from None
            except OSError as exc:
                raise ConsoleError(f"connection to Director at {self.host}:{self.port} failed ({what}): {exc.strerror or exc}") from None
            if not chunk:
                raise ConsoleError(f"Director at {self.host}:{self.port} closed the connection ({what})")
            buf += chunk
        return bytes(buf)

    def recv(self, what: str = "reading") -> "int | str":
        """One packet: its text, or the (negative) signal number."""
        (length,) = struct.unpack(">i", self._recv_exact(4, what))
        if length < 0:
            return length
        if length & BNET_HDR_EXTEND:
            length &= ~BNET_HDR_EXTEND
            self._recv_exact(4, what)            # flags word: nothing we need
        if length & BNET_COMPRESSED:
            raise ConsoleProtocolError("Director sent a compressed packet (not requested)")
        if length > MAX_PACKET:
            raise ConsoleProtocolError(f"Director sent an oversized packet ({length} bytes)")
        return self._recv_exact(length, what).decode("utf-8", "replace") if length else ""

    def send(self, text: str) -> None:
        assert self.sock is not None
        data = text.encode("utf-8")
        self._allowance = MAX_REPLY          # a new request: its answer gets a fresh allowance
        self.sock.settimeout(self._budget("sending"))
        try:
            self.sock.sendall(struct.pack(">i", len(data)) + data)
        except _socket.timeout:
            raise ConsoleTimeout(f"Director at {self.host}:{self.port} did not accept data in time") from None
        except OSError as exc:
            raise ConsoleError(f"sending to Director at {self.host}:{self.port} failed: {exc.strerror or exc}") from None

    # -- session ---------------------------------------------------------
    def connect(self) -> "DirectorConsole":
        try:
            self.sock = _connect(self.host, self.port, self._budget("connecting"))
        except _socket.timeout:
            raise ConsoleTimeout(f"connecting to Director at {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise ConsoleError(f"cannot connect to Director at {self.host}:{self.port}: {exc.strerror or exc}") from None
        self.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        self._authenticate()
        return self

    def _authenticate(self) -> None:
        self.send(f"Hello {bash_spaces(self.name)} calling 0\n")
        # 1. the Director challenges us
        msg = self.recv("waiting for the Director's challenge")
        parsed = parse_challenge(msg) if isinstance(msg, str) else None
        if not parsed:
            raise ConsoleProtocolError(f"Director did not send an authentication challenge (got {_show(msg)})")
        challenge, compatible, self.tls_remote = parsed
        self.send(cram_response(challenge, self._key, compatible))
        reply = self.recv("waiting for the authentication result")
        if not (isinstance(reply, str) and reply.startswith("1000 OK auth")):
            raise ConsoleRefused(f"Director refused console {self.name!r}: wrong password or unknown console name")
        # 2. we challenge the Director (mutual authentication; it waits for this)
        challenge = f"<{int.from_bytes(os.urandom(4), 'big')}.{int(time.time())}@bacula-ha>"
        self.send(f"auth cram-md5 {challenge} ssl={TLS_NONE}\n")
        answer = self.recv("waiting for the Director's answer to our challenge")
        expected = {cram_response(challenge, self._key, False), cram_response(challenge, self._key, True)}
        if not (isinstance(answer, str) and answer.strip("\0\n") in expected):
            self.send("1999 Authorization failed.\n")
            raise WrongDirector("the Director's answer to our challenge is wrong: is another program listening on its port?")
        self.send("1000 OK auth\n")
        if self.tls_remote >= 2:  # BNET_TLS_REQUIRED
            raise ConsoleUnsupported("the Director requires TLS for this console; TLS consoles are not supported by the check")
        hello = self.recv("waiting for the Director's greeting")
        if not (isinstance(hello, str) and hello.startswith("1000 OK:")):
            raise ConsoleProtocolError(f"Director rejected the console greeting (got {_show(hello)})")
        self.greeting = hello.strip()

    def command(self, text: str) -> str:
        """Send one console command; return its output (up to end of data)."""
        return "".join(self.packets(text))

    def packets(self, text: str) -> List[str]:
        """Send one console command; its output as the Director sent it, one text per packet
        (dot commands such as `.defaults` send one `key=value` per packet, without newline)."""
        self.send(text)
        out: List[str] = []
        while True:
            msg = self.recv(f"waiting for the answer to {text.split()[0]!r}")
            if msg == EOD:
                return out
            if isinstance(msg, str):
                out.append(msg)
            # other signals (prompts, heartbeats) carry no text we need

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.settimeout(0.2)
                self.sock.sendall(struct.pack(">i", -4))   # BNET_TERMINATE: polite goodbye
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def __enter__(self) -> "DirectorConsole":
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()


_TCP_QUICKACK = getattr(_socket, "TCP_QUICKACK", 12)


def _connect(host: str, port: int, timeout: float):
    """A connected TCP socket; numeric addresses skip `socket` and getaddrinfo (import cost)."""
    family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
    try:
        _socket.inet_pton(family, host)
    except OSError:
        import socket
        return socket.create_connection((host, port), timeout=timeout)
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _quickack(sock) -> None:
    """ACK at once: the Director writes a command's output and its end-of-data
    signal as two small packets, and Nagle on its side waits for our ACK of the
    first, which Linux delays by 40 ms. The flag resets itself, so set it per read."""
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    except OSError:
        pass


def _show(msg) -> str:
    if isinstance(msg, int):
        return f"signal {msg}"
    text = " ".join(str(msg).split())
    return repr(text[:60])
