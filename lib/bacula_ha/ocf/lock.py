# SPDX-License-Identifier: GPL-2.0-or-later
"""Serialise actions of one resource instance (a monitor may overlap a promote)."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterator

from .codes import Exit, OcfError
from .deadline import Deadline

_POLL_S = 0.05


@contextmanager
def instance_lock(path: str, deadline: Deadline) -> Iterator[int]:
    """Hold an exclusive flock on `path`, waiting no longer than the deadline allows.

    Yields the lock's file descriptor: a child given it (pass_fds) keeps the lock held
    after the agent is killed, so the next action cannot run beside an orphan.
    """
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if deadline.expired():
                    raise OcfError(Exit.ERR_GENERIC, "another action of this resource holds its lock; gave up waiting") from None
                time.sleep(min(_POLL_S, deadline.remaining()))
        yield fd
    finally:
        os.close(fd)
