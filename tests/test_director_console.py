# SPDX-License-Identifier: GPL-2.0-or-later
"""The in-process console client against real fake Directors on real sockets: its failures are typed
(callers decide on the class, never on the wording), and what one request can read is bounded."""

import socket
import struct
import threading
import time
import tracemalloc

import pytest

from bacula_ha.agents.director import console
from bacula_ha.ocf.deadline import Deadline
from support.fake_director import FloodingDirector

PASSWORD = "fake-console-pw"


@pytest.mark.parametrize("packet_size", [16 << 20, 1000])
def test_a_flood_after_authentication_fails_cleanly_with_bounded_memory(packet_size):
    """issue 12.8: 16 MiB packets (or endless small ones) once drove a monitor to 1 GB."""
    with FloodingDirector(PASSWORD, packet_size=packet_size) as fake:
        tracemalloc.start()
        try:
            began = time.monotonic()
            with console.DirectorConsole("127.0.0.1", fake.port, "", PASSWORD, Deadline(20)) as session:
                assert session.greeting.startswith("1000 OK:")          # authentication passed
                with pytest.raises(console.ConsoleProtocolError) as failed:
                    session.command("version")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "more than" in str(failed.value) or "oversized" in str(failed.value)
    assert peak < 4 * console.MAX_REPLY, peak                          # bounded by the cap, not the peer
    assert time.monotonic() - began < 15                               # failed, not timed out


def _one_shot_server(script):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            for step in script:
                if step is None:
                    conn.recv(1000)
                else:
                    data = step.encode()
                    conn.sendall(struct.pack(">i", len(data)) + data)
            conn.recv(1000)

    threading.Thread(target=run, daemon=True).start()
    return server


@pytest.mark.parametrize("script,kind", [
    ([None, "auth cram-md5 <1.1@x> ssl=0\n", None, "1999 Authorization failed.\n"], console.ConsoleRefused),
    ([None, "auth cram-md5 <1.1@x> ssl=0\n", None, "1000 OK auth\n", None, "bogus-answer"],
     console.WrongDirector),
    ([None, "hello there\n"], console.ConsoleProtocolError),
])
def test_failures_are_typed(script, kind):
    server = _one_shot_server(script)
    with server:
        with pytest.raises(kind):
            console.DirectorConsole("127.0.0.1", server.getsockname()[1], "", PASSWORD, Deadline(10)).connect()


def test_types_do_not_overlap():
    """A refusal is never mistaken for a timeout or an impostor (the start decides on these classes)."""
    kinds = (console.ConsoleTimeout, console.ConsoleRefused, console.WrongDirector,
             console.ConsoleProtocolError, console.ConsoleUnsupported)
    for a in kinds:
        assert issubclass(a, console.ConsoleError)
        assert [b for b in kinds if issubclass(a, b)] == [a]


def test_start_decides_on_the_class_not_on_the_wording():
    """issue 16.1: a reworded message cannot change what start does; a different class does."""
    from bacula_ha.agents.director.actions import ConsoleFailed, _permanent
    assert _permanent(ConsoleFailed(console.ConsoleRefused("x"), "x"))
    assert _permanent(ConsoleFailed(console.WrongDirector("y"), "y"))
    misleading = "Director refused console 'c': the Director's answer to our challenge is wrong"
    assert not _permanent(ConsoleFailed(console.ConsoleError(misleading), misleading))
    assert not _permanent(ConsoleFailed(console.ConsoleTimeout(misleading), misleading))
