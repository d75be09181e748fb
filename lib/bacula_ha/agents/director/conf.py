# SPDX-License-Identifier: GPL-2.0-or-later
"""A reader for Bacula's configuration syntax (bacula-dir.conf, bconsole.conf).

Why our own: the agent needs a handful of directives (DIRport, PidDirectory,
the Catalog's address, the console password) on every monitor and probe, and
`bacula-dir -t` takes 15 ms at best and 30 s when the catalog is unreachable.
This reader never executes anything (an `@|"command"` include is recorded, not
run), never follows more than MAX_INCLUDES files, and on any text either returns
a result or raises ConfError: it is safe on a half-written or hostile file.

Syntax handled (lex.c / parse_conf.c): `Type { key = value ... }` resources,
nested blocks (`Include { Options { ... } }`, `DirAddresses = { ip = { ... } }`),
values ending at a newline, `;` or `}`, lists separated by `,`, quoted strings
with backslash escapes, `#` comments, `@file` includes anywhere (relative names
resolved against the including file's directory). Keywords are compared the
way Bacula does: case-insensitively and with spaces removed.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator, List, Optional, Tuple

MAX_INCLUDES = 1000
MAX_DEPTH = 32
MAX_BYTES = 64 * 1024 * 1024


class ConfError(Exception):
    """The file cannot be read or is not Bacula syntax; str() is one line, no secrets."""


def norm(key: str) -> str:
    """Bacula's keyword comparison: case-insensitive, spaces ignored."""
    return "".join(key.split()).lower()


class Block:
    """A resource or nested block: its type, directives (in order) and sub-blocks."""

    __slots__ = ("kind", "items", "blocks", "values")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.items: List[Tuple[str, List[str]]] = []
        self.blocks: List[Block] = []
        self.values: List[Tuple[str, Block]] = []     # key = { ... }

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """First value of the last occurrence of `key` (later directives win)."""
        wanted = norm(key)
        for name, vals in reversed(self.items):
            if name == wanted and vals:
                return vals[0]
        return default

    def all(self, key: str) -> List[List[str]]:
        wanted = norm(key)
        return [vals for name, vals in self.items if name == wanted]

    @property
    def name(self) -> Optional[str]:
        return self.get("name")


class Config:
    """Top-level resources of one configuration file and what it included."""

    def __init__(self, path: str, resources: List[Block], files: List[str], pipes: List[str]) -> None:
        self.path = path
        self.resources = resources
        self.files = files
        self.pipes = pipes            # `@|"cmd"` includes we did not run

    def of(self, kind: str) -> List[Block]:
        wanted = norm(kind)
        return [r for r in self.resources if norm(r.kind) == wanted]

    def first(self, kind: str, name: Optional[str] = None) -> Optional[Block]:
        for res in self.of(kind):
            if name is None or res.name == name:
                return res
        return None


# -- lexer ---------------------------------------------------------------
WORD, STRING, LBRACE, RBRACE, EQUALS, SEMI, COMMA, EOL = range(8)


class Token:
    __slots__ = ("kind", "text", "path", "line")

    def __init__(self, kind: int, text: str, path: str, line: int) -> None:
        self.kind = kind
        self.text = text
        self.path = path
        self.line = line

    @property
    def where(self) -> str:   # formatted only for an error message (per-token cost otherwise)
        return f"{self.path}:{self.line}"


class _Source:
    """Characters from a file and the files it includes, with positions for messages."""

    def __init__(self, path: str, reader) -> None:
        self.reader = reader
        self.stack: List[Tuple[str, str, int, int]] = []   # (path, text, pos, line)
        self.files: List[str] = []
        self.pipes: List[str] = []
        self._push(path)

    def _push(self, path: str) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise ConfError(f"includes nested deeper than {MAX_DEPTH} at {path}")
        if len(self.files) >= MAX_INCLUDES:
            raise ConfError(f"more than {MAX_INCLUDES} included files")
        self.files.append(path)
        self.stack.append((path, self.reader(path), 0, 1))

    def tokens(self) -> Iterator[Token]:
        while self.stack:
            path, text, pos, line = self.stack[-1]
            tok, pos, line, include = _next_token(text, pos, line, path)
            self.stack[-1] = (path, text, pos, line)
            if include is not None:
                kind, target = include
                if kind == "pipe":
                    self.pipes.append(target)
                else:
                    if not os.path.isabs(target):
                        target = os.path.join(os.path.dirname(path), target)
                    self._push(target)
                continue
            if tok is None:
                self.stack.pop()
                yield Token(EOL, "\n", path, line)
                continue
            yield tok


_SPECIAL = {"{": LBRACE, "}": RBRACE, "=": EQUALS, ";": SEMI, ",": COMMA}


def _include_target(text: str, pos: int, line: int, path: str) -> "Tuple[str, int, int]":
    """What follows `@` or `@|`: a quoted string or a word up to white space."""
    if text.startswith('"', pos):
        return _quoted(text, pos, line, path)
    start = pos
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return text[start:pos], pos, line


def _quoted(text: str, pos: int, line: int, path: str) -> Tuple[str, int, int]:
    """A "..." string starting at text[pos] == '"'; returns (value, new pos, line)."""
    out = []
    pos += 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if ch == '"':
            return "".join(out), pos + 1, line
        if ch == "\n":
            line += 1
        out.append(ch)
        pos += 1
    raise ConfError(f"unterminated quoted string in {path} at line {line}")


def _next_token(text: str, pos: int, line: int, path: str):
    """(token or None at end, pos, line, include or None)."""
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == "\n":
            return Token(EOL, "\n", path, line), pos + 1, line + 1, None
        if ch.isspace():      # every Unicode space: a WORD must never be empty
            pos += 1
            continue
        if ch == "#":
            end = text.find("\n", pos)
            pos = n if end < 0 else end
            continue
        if ch == "@":
            pos += 1
            if text.startswith("|", pos):
                value, pos, line = _include_target(text, pos + 1, line, path)
                return None, pos, line, ("pipe", value)
            value, pos, line = _include_target(text, pos, line, path)
            if not value:
                raise ConfError(f"empty @include in {path}:{line}")
            return None, pos, line, ("file", value)
        if ch in _SPECIAL:
            return Token(_SPECIAL[ch], ch, path, line), pos + 1, line, None
        if ch == '"':
            value, pos, line = _quoted(text, pos, line, path)
            return Token(STRING, value, path, line), pos, line, None
        start = pos
        while pos < n and not text[pos].isspace() and text[pos] not in _SPECIAL and text[pos] not in '"#':
            pos += 1
        return Token(WORD, text[start:pos], path, line), pos, line, None
    return None, pos, line, None


# -- parser --------------------------------------------------------------
class _Parser:
    def __init__(self, tokens: Iterator[Token]) -> None:
        self.tokens = tokens
        self.peeked: Optional[Token] = None
        # After a password directive, the next words may be its value wrapped onto another
        # line: messages then never quote them.
        self.after_password = False

    def shown(self, words: List[str]) -> str:
        """The keyword a message may quote: never a word that may be a wrapped password."""
        return "(hidden: it follows a password directive)" if self.after_password else repr(_first(words))

    def next(self) -> Optional[Token]:
        if self.peeked is not None:
            tok, self.peeked = self.peeked, None
            return tok
        return next(self.tokens, None)

    def peek(self) -> Optional[Token]:
        if self.peeked is None:
            self.peeked = next(self.tokens, None)
        return self.peeked

    def skip_eols(self) -> Optional[Token]:
        while True:
            tok = self.peek()
            if tok is None or tok.kind not in (EOL, SEMI):
                return tok
            self.next()

    def top(self) -> List[Block]:
        blocks = []
        while True:
            tok = self.skip_eols()
            if tok is None:
                return blocks
            words = self.words_until_brace_or_equals()
            tok = self.next()
            if tok is None or tok.kind != LBRACE:
                # name only the first word and the position: a stray line may hold a password
                raise ConfError(f"expected '{{' after resource type {self.shown(words)}"
                                f"{' at end of file' if tok is None else ' at ' + tok.where}")
            blocks.append(self.block(" ".join(words), 1))

    def words_until_brace_or_equals(self) -> List[str]:
        words = []
        while True:
            tok = self.peek()
            if tok is None or tok.kind in (LBRACE, EQUALS, RBRACE):
                break
            if tok.kind in (EOL, SEMI, COMMA):
                raise ConfError(f"unexpected {tok.text.strip() or 'end of line'!r} at {tok.where}")
            words.append(self.next().text)
        if not words:
            tok = self.peek()
            where = tok.where if tok is not None else "end of file"
            raise ConfError(f"expected a keyword at {where}")
        return words

    def block(self, kind: str, depth: int) -> Block:
        if depth > MAX_DEPTH:
            raise ConfError("blocks nested too deeply")
        block = Block(kind)
        while True:
            tok = self.skip_eols()
            if tok is None:
                raise ConfError(f"missing '}}' closing the {kind!r} block")
            if tok.kind == RBRACE:
                self.next()
                return block
            words = self.words_until_brace_or_equals()
            key = norm(" ".join(words))
            tok = self.next()
            if tok is not None and tok.kind == LBRACE:
                block.blocks.append(self.block(" ".join(words), depth + 1))
                continue
            if tok is None or tok.kind != EQUALS:
                where = "end of file" if tok is None else tok.where
                raise ConfError(f"expected '=' after keyword {self.shown(words)} at {where}")
            nxt = self.peek()
            if nxt is not None and nxt.kind == LBRACE:
                self.next()
                block.values.append((key, self.block(" ".join(words), depth + 1)))
                continue
            block.items.append((key, self.values()))
            self.after_password = "password" in key

    def values(self) -> List[str]:
        """Comma-separated values up to the end of line, ';' or '}' (words of one value joined)."""
        values: List[str] = []
        current: List[str] = []
        while True:
            tok = self.peek()
            if tok is None or tok.kind in (EOL, SEMI, RBRACE):
                break
            self.next()
            if tok.kind == COMMA:
                values.append(" ".join(current))
                current = []
            elif tok.kind in (WORD, STRING):
                current.append(tok.text)
            elif tok.kind == EQUALS:
                current.append("=")     # `append = "file" = all` style directives
            else:
                raise ConfError(f"unexpected {tok.text!r} at {tok.where}")
        if current or values:
            values.append(" ".join(current))
        return values


def _first(words: List[str]) -> str:
    """The keyword of a directive, for messages (never the rest: it may be a secret)."""
    return words[0][:40] if words else ""


def _read_file(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfError(f"{path} does not exist") from None
    except PermissionError:
        raise ConfError(f"{path} is not readable") from None
    except IsADirectoryError:
        raise ConfError(f"{path} is a directory") from None
    except OSError as exc:
        raise ConfError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfError(f"{path} is larger than {MAX_BYTES} bytes")
    return data.decode("utf-8", "replace")


def parse_text(text: str, path: str = "<text>", reader=None) -> Config:
    """Parse `text` as if it were the file `path` (includes read with `reader`)."""
    def read(p: str) -> str:
        if p == path:
            return text
        return (reader or _read_file)(p)
    return _parse(path, read)


def parse_file(path: str) -> Config:
    return _parse(path, _read_file)


def _parse(path: str, reader) -> Config:
    source = _Source(path, reader)
    try:
        resources = _Parser(source.tokens()).top()
    except RecursionError:
        raise ConfError("configuration nested too deeply") from None
    return Config(path=path, resources=resources, files=source.files, pipes=source.pipes)
