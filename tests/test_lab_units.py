# SPDX-License-Identifier: GPL-2.0-or-later
"""Lab building blocks that need no root: configs, the fence agent protocol, crm_mon parsing."""

import os
import socketserver
import threading
import xml.etree.ElementTree as ET

from bacula_ha.lab import cluster, dirconf, fence
from bacula_ha.lab.layout import Layout, node_ip

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_addresses_stay_in_test_net_2():
    assert node_ip("node1") == "198.51.100.11"
    assert node_ip("node3") == "198.51.100.13"
    hosts = ("db", "git", "client", "pg1", "pg2", "etcd")
    for host in hosts:
        assert node_ip(host).startswith("198.51.100.")
    addresses = [node_ip(h) for h in hosts] + [node_ip(f"node{i}") for i in (1, 2, 3)]
    assert len(set(addresses)) == len(addresses)


def test_patroni_timings_are_short_and_valid():
    from bacula_ha.lab import patroni
    dcs = patroni.patroni_config(Layout("x", "/nonexistent"), "pg1",
                                 {k: "pw" for k in patroni.SECRETS})["bootstrap"]["dcs"]
    assert dcs["ttl"] >= dcs["loop_wait"] + 2 * dcs["retry_timeout"]   # Patroni's own rule
    assert dcs["ttl"] < 30 and dcs["synchronous_mode"] is True


def test_haproxy_follows_the_patroni_primary_and_cuts_old_sessions():
    from bacula_ha.lab import patroni
    text = patroni.HAPROXY_CFG
    assert "bind 127.0.0.1:5000" in text and "option httpchk OPTIONS /primary" in text
    assert "on-marked-down shutdown-sessions" in text
    for ip in patroni.MEMBERS.values():
        assert f"{ip}:5432 check port 8008" in text


def test_corosync_two_node_only_for_two():
    two = cluster.corosync_conf("x", ["node1", "node2"])
    three = cluster.corosync_conf("x", ["node1", "node2", "node3"])
    assert "two_node: 1" in two and "two_node" not in three
    assert "ring0_addr: 198.51.100.13" in three and "transport: knet" in three


def test_seed_cib_sets_short_dc_deadtime():
    root = ET.fromstring(cluster.SEED_CIB)
    values = {nv.get("name"): nv.get("value") for nv in root.iter("nvpair")}
    assert values == {"dc-deadtime": "2s"}


def test_fencing_configuration_names_every_node():
    text = cluster.base_crm(["node1", "node2", "node3"])
    assert 'pcmk_host_list="node1 node2 node3"' in text
    assert "stonith:fence_bhlab" in text and "stonith-enabled=true" in text


def test_director_conf_quotes_values():
    conf = dirconf.director_conf(dirconf.LabDirectorConf("/w d", "198.51.100.20", 'p"w', "c\\p"))
    assert 'dbpassword = "p\\"w"' in conf
    assert 'Password = "c\\\\p"' in conf
    assert 'WorkingDirectory = "/w d"' in conf
    assert conf.count("{") == conf.count("}")


def test_workdir_is_not_under_run():
    # every node mounts a private tmpfs on /run, which would hide the lab's files
    assert not str(Layout().workdir).startswith("/run/")


def test_parse_crm_mon_sample():
    with open(os.path.join(DATA, "lab-crm_mon.xml")) as f:
        st = cluster.parse_crm_mon(f.read(), "node1")
    assert st.quorum and st.dc == "node2"
    assert sorted(st.online) == ["node1", "node2"]
    assert st.running_on("p_director") == ["node2"]
    assert st.running_on("p_vip") == ["node2"]
    assert st.roles["p_disk"] == {"node2": "Promoted", "node1": "Unpromoted"} or \
        set(st.roles["p_disk"].values()) == {"Promoted", "Unpromoted"}


def test_fence_parses_stdin_and_command_line():
    opts = fence.parse([], "action=off\nport=node2\nipaddr=198.51.100.254\n# comment\n")
    assert opts["action"] == "off" and opts["plug"] == "node2"
    opts = fence.parse(["-o", "status", "-n", "node1", "--ip=198.51.100.254"], None)
    assert (opts["action"], opts["plug"], opts["ipaddr"]) == ("status", "node1", "198.51.100.254")
    opts = fence.parse([], "option=reboot\nnodename=node3\n")
    assert opts["action"] == "reboot" and opts["plug"] == "node3"


def test_fence_metadata_is_valid_and_lists_actions():
    root = ET.fromstring(fence.METADATA)
    assert root.get("name") == "fence_bhlab"
    actions = {a.get("name") for a in root.iter("action")}
    assert {"on", "off", "reboot", "status", "list", "monitor", "metadata"} <= actions


class FakePdu:
    """The PDU's line protocol on 127.0.0.1, recording requests."""

    def __init__(self):
        self.power = {"node1": "ON", "node2": "ON"}
        self.requests = []
        pdu = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                words = self.rfile.readline().decode().split()
                pdu.requests.append(" ".join(words))
                cmd, arg = words[0], (words[1] if len(words) > 1 else "")
                if cmd == "status":
                    answer = f"OK {pdu.power[arg]}"
                elif cmd in ("off", "on"):
                    pdu.power[arg] = cmd.upper()
                    answer = f"OK {cmd}"
                elif cmd == "list":
                    answer = "OK " + " ".join(pdu.power)
                else:
                    answer = "OK pong"
                self.wfile.write((answer + "\n").encode())

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_fence_actions_against_a_pdu(capsys):
    pdu = FakePdu()
    try:
        base = {"ipaddr": "127.0.0.1", "ipport": str(pdu.port), "power_timeout": "5"}
        assert fence.run_action({**base, "action": "status", "plug": "node1"}) == 0
        assert fence.run_action({**base, "action": "off", "plug": "node1"}) == 0
        assert fence.run_action({**base, "action": "status", "plug": "node1"}) == 2
        assert fence.run_action({**base, "action": "reboot", "plug": "node2"}) == 0
        assert "off node2" in pdu.requests and pdu.requests[-1] == "on node2"
        assert fence.run_action({**base, "action": "list"}) == 0
        assert "node1," in capsys.readouterr().out
        assert fence.run_action({**base, "action": "off"}) == 1   # no plug
    finally:
        pdu.close()


def test_fence_fails_when_the_pdu_is_unreachable(monkeypatch, tmp_path):
    # a node cut off from the network cannot fence: connection refused -> failure
    monkeypatch.setattr(fence, "LOG_PATH", str(tmp_path / "fence.log"))
    assert fence.main(["-o", "off", "-n", "node1", "-a", "127.0.0.1", "-u", "1"]) == 1


def test_namespace_backups_reach_the_vip_console_and_the_catalog_address(monkeypatch):
    """Backups.for_namespaces: the console through the VIP with the console password and the
    caller's timeout, the catalog at the stack's address with the catalog password."""
    from bacula_ha.lab import backups
    calls = []
    monkeypatch.setattr(backups, "console_request", lambda layout, password, command, timeout:
                        calls.append(("console", password, command, timeout)) or (True, "Job queued. JobId=7"))
    monkeypatch.setattr(backups, "psql", lambda layout, host, password, sql:
                        calls.append(("psql", host, password, sql)) or (True, "T\n"))
    bk = backups.Backups.for_namespaces(Layout("x", "/nonexistent"), "cons-pw", "198.51.100.21", "db-pw")
    assert bk.run() == 7
    assert bk.wait(7) == "T"
    assert calls == [("console", "cons-pw", "run job=LabBackup yes", 15.0),
                     ("psql", "198.51.100.21", "db-pw", "SELECT JobStatus FROM Job WHERE JobId=7")]
