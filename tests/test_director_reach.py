# SPDX-License-Identifier: GPL-2.0-or-later
"""The agents catch the DirAddress mistakes that hide a Director from its clients (issue 15.2),
and refuse bad parameters all at once: no daemons (the Director runs in test_director_agent)."""

import errno
import socket

import pytest

from bacula_ha.agents.director import proc, reach
from bacula_ha.ocf.codes import Exit, OcfError
from support.runners import DirectorRunner
from support.net import free_port

#: TEST-NET-2 / documentation prefixes: on no interface of this machine.
ABSENT_V4 = "198.51.100.77"
ABSENT_V6 = "2001:db8::77"


class Log:
    def __init__(self):
        self.warnings = []

    def warning(self, msg):
        self.warnings.append(msg)


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST",
                                  "localhost.localdomain", "ip6-localhost", "dir.localhost",
                                  "::ffff:127.0.0.1", "[::1]"])
def test_loopback_addresses_and_names(addr):
    assert reach.is_loopback(addr)


@pytest.mark.parametrize("addr", ["0.0.0.0", "::", "198.51.100.10", "2001:db8::1", "bacula-dir.example.net",
                                  "localhost-backup", "128.0.0.1"])
def test_not_loopback(addr):
    assert not reach.is_loopback(addr)


def test_loopback_only_is_refused_by_start_and_validate():
    listen = [("127.0.0.1", 9101)]
    for check in (lambda: reach.check_for_start(listen), lambda: reach.check_for_validate(listen, Log())):
        with pytest.raises(OcfError) as err:
            check()
        assert err.value.code == Exit.ERR_ARGS
        assert "DirAddress 127.0.0.1 is a loopback address" in err.value.reason
        assert "remove DirAddress" in err.value.reason


def test_one_reachable_address_among_loopbacks_is_enough():
    assert reach.loopback_only([("127.0.0.1", 9101), ("0.0.0.0", 9101)]) is None
    assert reach.loopback_only([("::1", 9101), ("localhost", 9102)]) is not None


def test_bind_probe_tells_free_in_use_and_not_local_apart():
    port = free_port()
    assert proc.bind_probe("127.0.0.1", port) == proc.BIND_FREE
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        assert proc.bind_probe("127.0.0.1", port) == proc.BIND_IN_USE
        assert proc.bind_probe("0.0.0.0", port) == proc.BIND_IN_USE
    # "address not available" is not "port free": the Director could not bind it
    assert proc.bind_probe(ABSENT_V4, port) == proc.BIND_NOT_LOCAL


def test_bind_probe_ipv6_not_local():
    try:
        state = proc.bind_probe(ABSENT_V6, free_port())
    except OSError as exc:
        assert exc.errno == errno.EAFNOSUPPORT   # IPv6 disabled on this kernel: said so, not "free"
        return
    assert state == proc.BIND_NOT_LOCAL


def test_vip_as_diraddress_warns_in_validate_and_fails_start_hard_for_this_node():
    listen = [(ABSENT_V4, free_port())]
    log = Log()
    reach.check_for_validate(listen, log)           # only this node, only now: a warning
    assert len(log.warnings) == 1
    assert f"DirAddress {ABSENT_V4} is not an address of this node" in log.warnings[0]
    with pytest.raises(OcfError) as err:
        reach.check_for_start(listen)
    assert err.value.code == Exit.ERR_ARGS
    assert "the Director starts before it" in err.value.reason
    assert "order the IPaddr2 resource before the Director" in err.value.reason


def test_port_in_use_fails_start_softly_and_is_silent_in_validate():
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        with pytest.raises(OcfError) as err:
            reach.check_for_start([("0.0.0.0", port)])
        assert err.value.code == Exit.ERR_GENERIC and f"0.0.0.0:{port} is already in use" in err.value.reason
        log = Log()
        reach.check_for_validate([("0.0.0.0", port)], log)
        assert log.warnings == []


def test_free_wildcard_passes():
    reach.check_for_start([("0.0.0.0", free_port())])


@pytest.mark.parametrize("action", ["start", "validate-all"])
def test_port_zero_is_refused(action, tmp_path):
    result = DirectorRunner(None, tmp_path, port="0")(action)
    assert result.rc == Exit.ERR_CONFIGURED
    assert result.reason == "parameter port: 0 is below the minimum 1"


def test_every_invalid_parameter_is_listed(tmp_path):
    result = DirectorRunner(None, tmp_path, port="0", config="bacula-dir.conf", console_config="bconsole.conf",
                            pidfile="run/x.pid", binary="bacula-dir")("validate-all")
    assert result.rc == Exit.ERR_CONFIGURED
    for name in ("port", "config", "console_config", "pidfile", "binary"):
        assert f"parameter {name}:" in result.reason, name
    assert "more)" not in result.reason


@pytest.mark.parametrize("director,refused", [
    ("DirAddress = 127.0.0.1", True),
    ('DirAddress = "localhost"', True),
    ("DirAddresses = { ip = { addr = 127.0.0.1; port = 9101 } ipv6 = { addr = ::1; port = 9101 } }", True),
    ("DirAddresses = { ip = { addr = 127.0.0.1 } ipv4 = { addr = 198.51.100.5 } }", False),
    ("", False),
])
def test_loopback_from_the_directors_configuration(director, refused):
    from bacula_ha.agents.director.conf import parse_text
    from bacula_ha.agents.director.settings import from_director_config
    listen = from_director_config(parse_text(f"Director {{\n  Name = d\n  {director}\n}}\n", "/x/bacula-dir.conf"))[3]
    assert (reach.loopback_only(listen) is not None) is refused, listen
