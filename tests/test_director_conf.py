# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-director building blocks without daemons: config reader, console crypto, error lines."""

import base64
import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bacula_ha.agents.director import conf, console, daemon, proc
from bacula_ha.agents.director.settings import console_credentials, from_director_config, catalog_of


DIR_CONF = """
Director {                      # define myself
  Name = "my dir"
  DIRport = 9111
  DirAddress = 127.0.0.1
  Pid Directory = "/run/x"; WorkingDirectory = /var/lib/x
  Password = "p\\"w"            # escaped quote
}
Console { Name = mon; Password = "monpw"; CommandACL = status, .status }
@INCLUDED
Messages { Name = Daemon
  append = "/var/log/b.log" = all, !skipped
}
FileSet { Name = fs; Include { Options { signature = MD5 }
  File = /usr/sbin } }
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_reader_resources_includes_and_escapes(tmp_path):
    write(tmp_path, "cat.conf", 'Catalog { Name = C; dbname = bacula; DB Address = "db.example"; '
                                'DB Port = 5433; dbuser = u; dbpassword = "secret pw" }\n')
    path = write(tmp_path, "dir.conf", DIR_CONF.replace("INCLUDED", "cat.conf"))
    cfg = conf.parse_file(path)
    assert [r.kind for r in cfg.resources] == ["Director", "Console", "Catalog", "Messages", "FileSet"]
    assert cfg.files == [path, str(tmp_path / "cat.conf")]
    director = cfg.first("director")
    assert director.name == "my dir"
    assert director.get("Password") == 'p"w'
    assert director.get("piddirectory") == "/run/x"
    assert cfg.first("Console").all("commandacl") == [["status", ".status"]]
    assert cfg.first("FileSet").blocks[0].kind == "Include"
    name, pidfile, port, listen, workdir, piddir = from_director_config(cfg)
    assert (pidfile, port, listen, workdir) == ("/run/x/bacula-dir.9111.pid", 9111, [("127.0.0.1", 9111)], "/var/lib/x")
    cat = catalog_of(cfg)
    assert (cat.host, cat.port, cat.user, cat.password) == ("db.example", 5433, "u", "secret pw")


def test_reader_diraddresses_and_defaults(tmp_path):
    path = write(tmp_path, "d.conf", """Director { Name = d
  DIRport = 9200
  DirAddresses = {
    ip = { addr = 198.51.100.7; port = 9201 }
    ipv4 = { addr = 127.0.0.1 }
  }
}""")
    _name, pidfile, port, listen, workdir, _ = from_director_config(conf.parse_file(path))
    assert listen == [("198.51.100.7", 9201), ("127.0.0.1", 9200)]
    assert pidfile == "/run/bacula/bacula-dir.9200.pid"
    assert workdir == "/var/lib/bacula"


def test_reader_never_runs_pipe_includes(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, "d.conf", f'@|"sh -c \'touch {marker}\'"\nDirector {{ Name = d }}\n')
    cfg = conf.parse_file(path)
    assert cfg.pipes and not marker.exists()


@pytest.mark.parametrize("text", ["Director { Name = d", "Director Name = d }", '"unterminated',
                                  "@", "{ }", "Director { = x }"])
def test_reader_errors_are_conferror(tmp_path, text):
    with pytest.raises(conf.ConfError):
        conf.parse_file(write(tmp_path, "bad.conf", text))


def test_reader_include_cycle_is_bounded(tmp_path):
    path = write(tmp_path, "loop.conf", f"@{tmp_path}/loop.conf\n")
    with pytest.raises(conf.ConfError):
        conf.parse_file(path)


def test_missing_file_is_conferror(tmp_path):
    with pytest.raises(conf.ConfError, match="does not exist"):
        conf.parse_file(str(tmp_path / "nope.conf"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list('{}=;,"#@|\\\n \tabcDIR:/.0')) | st.characters(), max_size=300))
def test_reader_never_crashes_on_arbitrary_text(text):
    def no_includes(path):
        raise conf.ConfError(f"{path} does not exist")
    try:
        cfg = conf.parse_text(text, "/nonexistent/h.conf", reader=no_includes)
    except conf.ConfError as exc:
        assert "\n" not in str(exc)
        return
    for res in cfg.resources:
        res.get("name")
        try:
            from_director_config(cfg)
        except conf.ConfError:
            pass


def test_console_credentials_named_console_wins(tmp_path):
    path = write(tmp_path, "bconsole.conf", 'Director { Name = d; DIRport = 9101; address = h; Password = "dirpw" }\n'
                                            'Console { Name = "mon"; Director = d; Password = "monpw" }\n')
    assert console_credentials(path, "d") == ("mon", "monpw", "h", 9101)
    path = write(tmp_path, "b2.conf", 'Director { Name = d; Password = "dirpw" }\n')
    assert console_credentials(path, "d")[:2] == ("*UserAgent*", "dirpw")


def test_bacula_base64_compatible_is_unpadded_standard_base64():
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256)), hashlib.md5(b"x").digest()):
        assert console.bacula_base64(data, True) == base64.b64encode(data).decode().rstrip("=")


def test_bacula_base64_vector_from_bacula_unit_test():
    data = bytes([0xa5, 0x7d, 0xa3, 0xc4, 0x2c, 0xa0, 0x08, 0xe9, 0x32, 0xb9, 0xc7, 0x84, 0xf6, 0xd3, 0xdf, 0x4f])
    assert console.bacula_base64(data, True) == "pX2jxCygCOkyuceE9tPfTw"
    # the sign-extending variant differs once a byte >= 0x80 follows leftover bits
    assert console.bacula_base64(data, False) != console.bacula_base64(data, True)
    assert console.bacula_base64(b"abc", False) == console.bacula_base64(b"abc", True)


def test_password_key_is_md5_hex():
    assert console.password_key("pw") == hashlib.md5(b"pw").hexdigest().encode()
    assert console.password_key("[md5]abc") == b"abc"


def test_director_error_lines():
    parse = """bacula-dir: ERROR TERMINATION at parse_conf.c:1157
Config error: Keyword "MaximumConcurentJobs" not permitted in this resource.
Perhaps you left the trailing brace off of the previous resource.
            : line 9, col 25 of file /x/bacula-dir.conf
  Maximum Concurent Jobs = 5

22-Nov 04:20 bacula-dir: ERROR TERMINATION at parse_conf.c:1157
"""
    assert daemon.director_error(parse) == ('Config error: Keyword "MaximumConcurentJobs" not permitted '
                                            'in this resource. (line 9 of /x/bacula-dir.conf)')
    catalog = """bacula-dir: dird.c:1273-0 Could not open Catalog "MyCatalog", database "bacula".
bacula-dir: dird.c:1279-0 postgresql.c:330 Unable to connect to PostgreSQL server. Database=bacula User=bacula
Possible causes: SQL server not running; password incorrect; max_connections exceeded.
22-Nov 04:21 bacula-dir ERROR TERMINATION
"""
    assert daemon.director_error(catalog).startswith('catalog unreachable: Could not open Catalog "MyCatalog"')
    assert daemon.director_error("") is None


def test_proc_helpers_on_ourselves(tmp_path):
    me = proc.proc_info(os.getpid())
    assert me.alive and not me.stopped
    assert proc.read_pidfile(write(tmp_path, "p", "garbage")) is None
    assert proc.read_pidfile(write(tmp_path, "q", "1234\n")) == 1234
    assert proc.lock_holder(str(tmp_path / "q")) is None
    assert proc.config_of(["bacula-dir", "-f", "-c", "/a.conf"]) == "/a.conf"
    assert proc.config_of(["bacula-dir", "-c/b.conf"]) == "/b.conf"


def test_hmac_md5_matches_the_standard_library():
    import hmac
    for key in (b"", b"k", b"0123456789abcdef" * 2, b"x" * 100):
        for msg in (b"", b"<1.2@h>"):
            assert console.hmac_md5(key, msg) == hmac.new(key, msg, hashlib.md5).digest()


def test_parse_challenge():
    assert console.parse_challenge("auth cram-md5 <1.2@h> ssl=0\n") == ("<1.2@h>", False, 0)
    assert console.parse_challenge("auth cram-md5c <1.2@h> ssl=2") == ("<1.2@h>", True, 2)
    assert console.parse_challenge("1999 Authorization failed.") is None


def test_console_times_out_inside_its_budget_on_a_silent_server():
    """A Director that accepts and never speaks (hung, deadlocked) fails inside the budget."""
    import socket
    import time
    from bacula_ha.ocf.deadline import Deadline
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(console.ConsoleTimeout):
            console.DirectorConsole("127.0.0.1", port, "", "pw", Deadline(2.0)).connect()
        assert time.monotonic() - began < 10


def test_console_refuses_a_peer_that_fails_our_challenge():
    """Mutual authentication: something on the port that accepts any answer is not our Director."""
    import socket
    import struct
    import threading
    from bacula_ha.ocf.deadline import Deadline

    def packet(text):
        data = text.encode()
        return struct.pack(">i", len(data)) + data

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def impostor():
            conn, _ = server.accept()
            with conn:
                conn.recv(1000)
                conn.sendall(packet("auth cram-md5 <1.1@x> ssl=0\n"))
                conn.recv(1000)
                conn.sendall(packet("1000 OK auth\n"))
                conn.recv(1000)
                conn.sendall(packet("bogus-answer"))
                conn.recv(1000)

        thread = threading.Thread(target=impostor, daemon=True)
        thread.start()
        with pytest.raises(console.ConsoleError, match="answer to our challenge"):
            console.DirectorConsole("127.0.0.1", server.getsockname()[1], "", "pw", Deadline(10)).connect()
        thread.join(5)


def test_listens_sees_our_own_listening_socket_without_connecting():
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert proc.listens(os.getpid(), port) is False   # bound, not listening yet
        server.listen(1)
        assert proc.listens(os.getpid(), port) is True
        assert proc._listen_inodes_netlink(port) == proc._listen_inodes(port)
        assert proc.listener_of(port) == f"pid {os.getpid()} ({proc.proc_info(os.getpid()).comm})"


@pytest.mark.parametrize("text", ['Director {\n  Password "s3cr3t-value" }\n', 's3cr3t-value\n',
                                  'Director { Name = d }\nPassword s3cr3t-value = x\n'])
def test_reader_errors_never_quote_values(tmp_path, text):
    with pytest.raises(conf.ConfError) as err:
        conf.parse_file(write(tmp_path, "bad.conf", text))
    assert "s3cr3t" not in str(err.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_director_error_never_crashes_and_is_one_line(text):
    line = daemon.director_error(text)
    assert line is None or "\n" not in line
