# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab's pieces that need no VM: the DRBD 8.4 form of the shipped resource, the rendered CIB,
the QEMU command line, /proc/drbd parsing, the accelerator choice, the PDU on QEMU outlets, the
host's File and Storage daemon (with a real Director on the host standing in for the guest's)."""

import dataclasses
import os
import socket
import subprocess
import time

import pytest

from bacula_ha.admin.render import render
from bacula_ha.lab import backups, dirconf, pdu
from bacula_ha.lab.backups import Backups
from bacula_ha.lab.layout import Layout
from bacula_ha.lab.vm import client, config, machine
from bacula_ha.lab.vm.image import Image
from bacula_ha.lab.vm.lab import parse_proc_drbd

NODES = ["node1", "node2"]


def _dump(tmp_path, text, parser):
    """drbdadm's own parser (offline, no module needed), seen as node1."""
    local = tmp_path / "r0.res"
    local.write_text(text.replace("on node1 {", f"on {os.uname().nodename} {{"))
    return subprocess.run([parser, "-c", str(local), "dump", "r0"], capture_output=True, text=True, timeout=60)


def test_shipped_res_needs_the_84_form_and_the_84_form_parses(tmp_path):
    """Debian 12's kernel has DRBD 8.4: its parser rejects the shipped DRBD 9 file and accepts ours,
    with the same fencing policy and the shipped handler scripts."""
    shipped = config.shipped_res()
    assert _dump(tmp_path, shipped, "/usr/lib/drbd/drbdadm-84").returncode != 0
    result = _dump(tmp_path, config.drbd_res(NODES), "/usr/lib/drbd/drbdadm-84")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "fencing          resource-and-stonith;" in out
    assert "fence-peer       /usr/lib/drbd/crm-fence-peer.9.sh;" in out
    assert "after-resync-target /usr/lib/drbd/crm-unfence-peer.9.sh;" in out
    assert "protocol           C;" in out
    assert "disk             /dev/vdb;" in out
    assert "198.51.100.11:7789" in out and "198.51.100.12:7789" in out


def test_84_form_changes_only_what_84_lacks():
    converted = config.drbd84(config.shipped_res())
    assert "auto-promote" not in converted and "node-id" not in converted
    assert "unfence-peer" not in converted.replace("crm-unfence-peer", "")
    kept = [line.strip() for line in config.shipped_res().splitlines()
            if line.strip() and not line.strip().startswith(("auto-promote", "node-id", "fencing", "unfence-peer",
                                                              "options {", "#"))]
    for line in kept:
        if line != "}":
            assert line in converted, line


def test_dialect_9_keeps_the_shipped_file():
    text = config.drbd_res(NODES, dialect="9.2")
    assert "auto-promote no;" in text and "unfence-peer" in text and "disk /dev/vdb;" in text


def test_rendered_cib_is_the_snippet_with_lab_fencing():
    """Everything but the fence devices is exactly `bacula-ha render drbd` with the lab's values."""
    ours = config.crm_config(NODES, 41234)
    rendered = render("drbd", "crm", config.render_values(NODES))
    strip = lambda text: [l for l in text.splitlines()
                          if l.strip() and not l.startswith("#") and "fence_node" not in l
                          and "ipaddr=" not in l and "params ip=" not in l and "op monitor interval=60s" not in l]
    assert strip(ours) == strip(rendered)
    assert ours.count("stonith:fence_bhlab") == 2 and "stonith:fence_ipmilan" not in ours
    assert "params ipaddr=10.0.2.2 ipport=41234 plug=node1 pcmk_host_list=node1" in ours
    assert "location l_fence_node1_not_on_target fence_node1 -INFINITY: node1" in ours
    assert "nic=eth1" in ours and "priority-fencing-delay=5s" in ours


def test_corosync_token_is_raised_under_emulation():
    assert "token: 8000" in config.corosync("x", NODES, "tcg")
    assert "token: 3000" in config.corosync("x", NODES, "kvm")


def test_proc_drbd_parsing():
    st = parse_proc_drbd("version: 8.4.11 (api:1/proto:86-101)\n 0: cs:SyncSource ro:Primary/Secondary "
                         "ds:UpToDate/Inconsistent C r-----\n")
    assert (st.role, st.peer_role, st.cstate, st.disk, st.peer_disk) == \
        ("Primary", "Secondary", "SyncSource", "UpToDate", "Inconsistent")
    assert parse_proc_drbd("version: 8.4.11\n").cstate == "Unconfigured"


def test_accelerator_override_and_pvm(monkeypatch):
    monkeypatch.setenv("BACULA_HA_VM_ACCEL", "tcg")
    assert machine.accelerator()[0] == "tcg"
    monkeypatch.delenv("BACULA_HA_VM_ACCEL")
    accel, why = machine.accelerator()
    if os.path.exists("/sys/module/kvm_pvm"):
        assert accel == "tcg" and "PVM" in why


def test_qemu_command_line(tmp_path):
    spec = machine.MachineSpec("node2", 2, str(tmp_path), 2222, 5001, 5002)
    argv = machine.command(spec, Image(tmp_path / "img"))
    assert argv[:3] == ["nice", "-n", "10"]
    line = " ".join(argv)
    assert "tcg,thread=multi,tb-size=128" in line
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in line          # ssh only on the host's loopback
    assert "udp=127.0.0.1:5002,localaddr=127.0.0.1:5001" in line
    assert "mac=52:54:00:99:00:02" in line and "systemd.hostname=node2" in line


class FakeOutlets:
    """QEMU outlets without QEMU: records what the PDU asked for."""

    def __init__(self):
        self.on = {"node1": True, "node2": True}
        self.calls = []

    def machines(self):
        return sorted(self.on)

    def is_on(self, m):
        return self.on[m]

    def power_off(self, m):
        self.on[m] = False
        self.calls.append(("off", m))

    def boot(self, m):
        self.on[m] = True
        self.calls.append(("boot", m))

    def set_cable(self, m, plugged):
        self.calls.append(("cable", m, plugged))


def test_pdu_drives_any_outlets(tmp_path):
    """The shared PDU logic (delayed power-on, cables, events) works with a non-namespace backend."""
    outlets = FakeOutlets()
    server = pdu.Pdu(Layout("t", str(tmp_path)), 0.2, power=outlets, events=tmp_path / "events.jsonl")
    assert server.handle("status node1", "net") == "OK ON"
    assert server.handle("off node1", "net") == "OK off"
    assert server.handle("status node1", "net") == "OK OFF"
    assert server.handle("unplug node2", "lab") == "OK unplug"
    assert server.handle("on node1", "net") == "OK on"
    time.sleep(0.6)
    assert outlets.on["node1"] and ("boot", "node1") in outlets.calls
    assert ("cable", "node2", False) in outlets.calls
    assert server.handle("unplug node2", "net").startswith("ERR")   # fence agents cannot pull cables
    events = (tmp_path / "events.jsonl").read_text()
    assert '"event": "off", "machine": "node1", "via": "net"' in events


@pytest.mark.parametrize("bad", ["status", "off nodeX"])
def test_pdu_refuses_bad_requests(tmp_path, bad):
    server = pdu.Pdu(Layout("t", str(tmp_path)), 0.2, power=FakeOutlets(), events=tmp_path / "e.jsonl")
    assert server.handle(bad, "net").startswith("ERR")


def test_operation_timeouts_scale_for_emulated_cpus():
    plain = config.crm_config(NODES, 1)
    scaled = config.crm_config(NODES, 1, 5)
    assert "op monitor interval=29s timeout=20s role=Promoted" in plain
    assert "op monitor interval=29s timeout=100s role=Promoted" in scaled
    assert "op start interval=0s timeout=1200s" in scaled and "op start interval=0s timeout=240s" in plain
    assert plain.count(" timeout=") == scaled.count(" timeout=")
    assert "connect_timeout" not in plain and "connect_timeout=25" in scaled   # one login, scaled too
    assert "priority-fencing-delay=5s" in plain and "priority-fencing-delay=20s" in scaled


# -- the host's File and Storage daemon --------------------------------------------------------
SECRETS = {"fd": "fd-secret-0123456789", "sd": "sd-secret-0123456789"}


def test_director_reaches_the_host_through_qemus_alias_and_the_fd_the_sd_on_loopback(tmp_path):
    ports = {"fd": 41001, "sd": 41002}
    text = dirconf.director_conf(dirconf.LabDirectorConf(
        working_dir="/w", db_address="localhost", db_password="d", console_password="c",
        backup=client.backup_set(Layout("t", str(tmp_path)), SECRETS, ports)))
    client_res = text.split("Client {", 1)[1].split("}", 1)[0]
    storage_res = text.split("Storage {", 1)[1].split("}", 1)[0]
    assert "Address = 10.0.2.2" in client_res and "FDPort = 41001" in client_res
    assert "Address = 10.0.2.2" in storage_res and "SDPort = 41002" in storage_res
    assert "FD Storage Address = 127.0.0.1" in storage_res
    assert str(tmp_path / "t" / "client" / "data") in text
    # the namespace lab's Storage has none: its File daemon reaches the Storage daemon where the Director does
    assert "FD Storage Address" not in dirconf.director_conf(dirconf.LabDirectorConf(
        working_dir="/w", db_address="localhost", db_password="d", console_password="c"))


@pytest.fixture
def host_daemons(tmp_path):
    layout = Layout("t", str(tmp_path))
    ports = {"fd": machine.free_port(), "sd": machine.free_port()}
    client.start(layout, SECRETS, ports)
    yield layout, ports
    client.stop(layout)


def _listening(port):
    """Local addresses with a TCP socket listening on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:
                    found.add(address)
    return found


@pytest.mark.root
@pytest.mark.daemons
def test_host_daemons_listen_on_loopback_only_secrets_in_0600_files_and_stop_leaves_nothing(host_daemons):
    layout, ports = host_daemons
    pids = client.pids(layout)
    assert len(pids) == 2
    for port in ports.values():
        assert _listening(port) == {"0100007F"}          # 127.0.0.1, nothing else
    etc = backups.base(layout) / "etc"
    for name in ("bacula-fd.conf", "bacula-sd.conf"):
        assert os.stat(etc / name).st_mode & 0o777 == 0o600
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode()
        assert SECRETS["fd"] not in cmdline and SECRETS["sd"] not in cmdline and str(etc) in cmdline
    assert sorted(client.stop(layout)) == sorted(pids)
    assert client.pids(layout) == []
    for port in ports.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


WRONG_STORAGE = """
Storage {{
  Name = FdWrongWay
  Address = 127.0.0.1
  FD Storage Address = 127.0.0.2
  SDPort = {sd_port}
  Password = "{password}"
  Device = FileStorage
  Media Type = File
}}
Job {{
  Name = "WrongWayBackup"
  Type = Backup
  Level = Full
  Client = lab-fd
  FileSet = "Lab Set"
  Storage = FdWrongWay
  Pool = File
  Messages = Standard
}}
"""


@pytest.mark.root
@pytest.mark.daemons
def test_backup_and_byte_for_byte_restore_through_the_host_daemons(host_daemons, tmp_path):
    """A real Director (on the host, so at 127.0.0.1 instead of the guests' 10.0.2.2) backs up and
    restores through the VM lab's daemons with lab/backups.py's code.  `FD Storage Address` is
    where the File daemon goes: a job whose Storage says 127.0.0.2 (Address still 127.0.0.1, where
    the Director reaches the real Storage daemon) has its File daemon knock at 127.0.0.2."""
    from support.director import DirectorLab
    from support.jobs import console
    from support.pg import PgCluster

    layout, ports = host_daemons
    pg = PgCluster().init().start()
    lab = None
    try:
        bset = dataclasses.replace(client.backup_set(layout, SECRETS, ports),
                                   fd_address="127.0.0.1", sd_address="127.0.0.1")
        assert bset.fd_storage_address == "127.0.0.1"
        lab = DirectorLab(str(tmp_path), pg, name=dirconf.DIRECTOR_NAME, backup=bset)
        lab.write_config(extra=WRONG_STORAGE.format(sd_port=ports["sd"], password=SECRETS["sd"]))
        lab.start_direct()
        bk = Backups(layout, lambda command, timeout: (True, console(lab, command, timeout)),
                     lambda sql: (True, pg.psql(sql, db="bacula")))
        jobid = bk.run(backups.BACKUP_JOB, timeout=30)
        assert bk.wait(jobid, timeout=60) == "T", bk.daemons_now()
        ok, detail = bk.restore_and_compare(jobid, timeout=60)
        assert ok, detail
        assert "files identical" in detail
        # a stand-in "Storage daemon" at 127.0.0.2 (the real one listens on 127.0.0.1 only)
        with socket.socket() as trap:
            trap.bind(("127.0.0.2", ports["sd"]))
            trap.listen(1)
            trap.settimeout(60)
            wrong = bk.run("WrongWayBackup", timeout=30)
            conn, _peer = trap.accept()
            with conn:
                conn.settimeout(10)
                hello = conn.recv(4096)
        assert b"Hello Bacula SD: Start Job WrongWayBackup" in hello, hello     # the FD's greeting to an SD
        bk.console(f"cancel jobid={wrong} yes")
        assert bk.wait(wrong, "A", timeout=60) == "A"
    finally:
        if lab:
            lab.cleanup()
        pg.destroy()
@pytest.mark.scheduler
def test_lab_crm_file_loads_in_one_crmsh_run(tmp_path):
    """What `lab up` loads in one `crm configure load update` (the snippet, the lab's properties
    and TCG op defaults) is accepted by crmsh and ends in the CIB (fence_bhlab is not installed on
    this host: fence_dummy stands in for the check)."""
    from bacula_ha.lab.cluster import SEED_CIB
    from bacula_ha.lab.vm.lab import LAB_PROPERTIES, lab_additions
    text = config.crm_config(NODES, 41234, config.TIMEOUT_FACTOR_TCG) + lab_additions("tcg")
    text = text.replace("stonith:fence_bhlab", "stonith:fence_dummy").replace(
        "params ipaddr=10.0.2.2 ipport=41234 plug=node1 ", "params ").replace(
        "params ipaddr=10.0.2.2 ipport=41234 plug=node2 ", "params ")
    (tmp_path / "lab.crm").write_text(text)
    cib = tmp_path / "cib.xml"
    cib.write_text(SEED_CIB)
    env = dict(os.environ, CIB_file=str(cib))
    load = subprocess.run(["crm", "configure", "load", "update", str(tmp_path / "lab.crm")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert load.returncode == 0, load.stderr
    props = subprocess.run(["cibadmin", "-Q", "-o", "crm_config"], env=env, capture_output=True, text=True,
                           timeout=60).stdout
    for prop in LAB_PROPERTIES:
        name, value = prop.split("=")
        assert f'name="{name}" value="{value}"' in props
    assert 'name="stonith-enabled" value="true"' in props
    defaults = subprocess.run(["cibadmin", "-Q", "-o", "op_defaults"], env=env, capture_output=True,
                              text=True, timeout=60).stdout
    assert 'name="timeout" value="120s"' in defaults
    assert "op_defaults" not in lab_additions("kvm")
