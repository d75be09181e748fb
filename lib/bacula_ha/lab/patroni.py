# SPDX-License-Identifier: GPL-2.0-or-later
"""The git architecture's external catalog in the lab: a real Patroni cluster.

Lab hosts (namespaces booted by the PDU, so each one can crash as a fault):
  pg1   198.51.100.23  Patroni + PostgreSQL 15 (REST API on :8008)
  pg2   198.51.100.24  Patroni + PostgreSQL 15
  etcd  198.51.100.25  etcd, one member: Patroni's distributed configuration store

The catalog is made once, before boot, in pg1's data directory with Bacula's own
scripts (stacks.catalog_script). Patroni adopts it: an initialized data directory
and no cluster in etcd make pg1 take the leader key; pg2 clones it with
pg_basebackup. synchronous_mode is on: a commit returns once the standby has it,
so a row committed before the primary crashes is on the member promoted after it.

How the Director reaches the primary: every cluster node runs HAProxy on
127.0.0.1:5000 (HAPROXY_CFG). It forwards to the member whose REST API answers
200 on OPTIONS /primary and, when a member stops answering so, cuts the sessions
still open to it, so a client never stays on a demoted or dead server. The
Director and bacula-catalog-check connect there. The lab's own clients (switch
namespace) have no HAProxy: they use libpq multi-host with
target_session_attrs=read-write (observe.psql).

Timings, short for the lab (Patroni's defaults: ttl 30, loop_wait 10, retry_timeout 10):
  ttl 10 s           the leader key expires 10 s after the primary's last renewal: a crashed
                     primary is replaced about 10 s after the crash;
  loop_wait 1 s      each member runs its HA loop every second (switchover in ~2-3 s);
  retry_timeout 4 s  etcd and PostgreSQL calls are retried that long before the leader demotes
                     itself (Patroni wants ttl >= loop_wait + 2 * retry_timeout).
HAProxy checks every member each second; down after 2 failed checks, up after 1 good one.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from .layout import ETCD_HOST_IP, HAPROXY_PORT, PG1_HOST_IP, PG2_HOST_IP, PG_PORT, PYTHON, Layout
from .netns import connect_in
from .node import write_host_spec
from .sh import LabError, run
from .stacks import PGBIN, catalog_script, ids

SCOPE = "bacula-catalog"
MEMBERS: Dict[str, str] = {"pg1": PG1_HOST_IP, "pg2": PG2_HOST_IP}
FIRST = "pg1"             # holds the catalog made before boot; Patroni adopts it
#: pid1 polls (5 a second, each poll at most ~2 s) this long for the first member's primary
WAIT_FOR_FIRST_S = 12
ETCD = "etcd"
HOSTS = [ETCD, *MEMBERS]
REST_PORT = 8008
ETCD_PORT = 2379
ETCD_PEER_PORT = 2380
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4
REST_USER = "patroni"
#: secrets.json keys the Patroni cluster adds
SECRETS = ("pg_superuser", "pg_replication", "patroni_rest")

PG_HBA = ["local all all trust",
          "host replication replicator 198.51.100.0/24 scram-sha-256",
          "host all all 198.51.100.0/24 scram-sha-256",
          "host all all 127.0.0.1/32 scram-sha-256"]

HAPROXY_CFG = f"""# bacula-ha lab: the catalog's primary, wherever Patroni put it
global
    maxconn 200
    log stdout format raw local0 notice

defaults
    mode tcp
    log global
    option log-health-checks
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 2s

listen catalog
    bind 127.0.0.1:{HAPROXY_PORT}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
""" + "".join(f"    server {m} {ip}:{PG_PORT} check port {REST_PORT}\n" for m, ip in MEMBERS.items())


def member_dir(layout: Layout, member: str) -> Path:
    return layout.workdir / "patroni" / member


def data_dir(layout: Layout, member: str) -> Path:
    return member_dir(layout, member) / "data"


def haproxy_cfg_path(layout: Layout) -> Path:
    return layout.workdir / "haproxy.cfg"


def patroni_config(layout: Layout, member: str, sec: Dict[str, str]) -> dict:
    ip = MEMBERS[member]
    return {
        "scope": SCOPE, "namespace": "/service/", "name": member,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"{ip}:{REST_PORT}", "connect_address": f"{ip}:{REST_PORT}",
                    "authentication": {"username": REST_USER, "password": sec["patroni_rest"]}},
        "etcd3": {"hosts": [f"{ETCD_HOST_IP}:{ETCD_PORT}"]},
        "bootstrap": {"dcs": {
            "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
            "maximum_lag_on_failover": 1048576, "synchronous_mode": True,
            "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": {
                "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                "max_wal_senders": 5, "max_replication_slots": 5, "max_connections": 40,
                "wal_keep_size": "128MB"}}}},
        "postgresql": {
            "listen": f"{ip}:{PG_PORT}", "connect_address": f"{ip}:{PG_PORT}",
            "data_dir": str(data_dir(layout, member)), "bin_dir": PGBIN,
            "pgpass": str(member_dir(layout, member) / "pgpass"), "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": "postgres", "password": sec["pg_superuser"]},
                "replication": {"username": "replicator", "password": sec["pg_replication"]}},
            "parameters": {"unix_socket_directories": "/run/postgresql", "shared_buffers": "32MB"},
            "pg_hba": PG_HBA,
            "basebackup": [{"checkpoint": "fast"}],
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True},
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def prepare(layout: Layout, sec: Dict[str, str]) -> None:
    """Data directories, the catalog on pg1, Patroni's and etcd's host specs, HAProxy's file."""
    pg_uid, pg_gid = ids("postgres", "postgres")
    (layout.workdir / "patroni").mkdir(parents=True, exist_ok=True)
    for m in MEMBERS:
        d = member_dir(layout, m)
        d.mkdir(exist_ok=True)
        os.chown(d, pg_uid, pg_gid)
        os.chmod(d, 0o700)
        cfg = d / "patroni.yml"
        cfg.write_text(json.dumps(patroni_config(layout, m, sec), indent=1))   # JSON is YAML
        os.chown(cfg, pg_uid, pg_gid)
        os.chmod(cfg, 0o600)
    q = shlex.quote
    first = str(data_dir(layout, FIRST))
    sock = str(layout.workdir / "setup-sock")
    pg = f"runuser -u postgres -- {PGBIN}"
    script = catalog_script(first, sock, sec["db"]) + f"""
{pg}/pg_ctl -D {q(first)} -s -w -t 60 -l {q(sock)}/roles.log \\
   -o "-c listen_addresses='' -c unix_socket_directories={q(sock)}" start
{PGBIN}/psql -h {q(sock)} -U postgres -q -X -v ON_ERROR_STOP=1 -d postgres <<SQL
ALTER ROLE postgres PASSWORD '$LAB_SU_PASSWORD';
CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$LAB_REPL_PASSWORD';
SQL
{pg}/pg_ctl -D {q(first)} -s -w -t 60 -m fast stop
rm -rf {q(sock)}
"""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAB_DB_PASSWORD": sec["db"], "HOME": "/root",
           "LAB_SU_PASSWORD": sec["pg_superuser"], "LAB_REPL_PASSWORD": sec["pg_replication"]}
    run(["sh", "-c", script], timeout=180, env=env)
    for m in MEMBERS:
        service = {"argv": ["patroni", str(member_dir(layout, m) / "patroni.yml")], "user": "postgres",
                   "group": "postgres", "log": str(layout.node_dir(m) / "console.log"),
                   "env": {"HOME": str(member_dir(layout, m)), "PYTHONPATH": ""}}
        if m != FIRST:
            # An empty member that finds etcd empty bootstraps a cluster of its own (initdb) and
            # wins the race against the adoption of the catalog: wait (bounded) for the first
            # member's primary. Once the cluster exists in etcd, this passes or times out harmlessly.
            service.update(wait_for=[PYTHON, "-S", "-c", "import urllib.request; urllib.request.urlopen("
                                     f"'http://{MEMBERS[FIRST]}:{REST_PORT}/primary', timeout=2)"],
                           wait_before=WAIT_FOR_FIRST_S)
        write_host_spec(layout, m, [service], dirs=[["/run/postgresql", "postgres", "postgres", "2775"]])
    etcd_dir = layout.workdir / "etcd"
    etcd_dir.mkdir(exist_ok=True)
    os.chown(etcd_dir, *ids("etcd", "etcd"))
    os.chmod(etcd_dir, 0o700)
    url = f"http://{ETCD_HOST_IP}"
    write_host_spec(layout, ETCD, [{
        "argv": ["etcd", "--name", ETCD, "--data-dir", str(etcd_dir / "data"),
                 "--listen-client-urls", f"{url}:{ETCD_PORT}", "--advertise-client-urls", f"{url}:{ETCD_PORT}",
                 "--listen-peer-urls", f"{url}:{ETCD_PEER_PORT}",
                 "--initial-advertise-peer-urls", f"{url}:{ETCD_PEER_PORT}",
                 "--initial-cluster", f"{ETCD}={url}:{ETCD_PEER_PORT}", "--initial-cluster-state", "new",
                 "--logger", "zap", "--log-level", "warn"],
        "user": "etcd", "group": "etcd", "log": str(layout.node_dir(ETCD) / "console.log"),
        "env": {"HOME": str(etcd_dir)}}])
    haproxy_cfg_path(layout).write_text(HAPROXY_CFG)
    os.chmod(haproxy_cfg_path(layout), 0o644)


def haproxy_service(layout: Layout, node: str) -> dict:
    """The node's HAProxy, a service of the node like a systemd unit (pid1 starts it)."""
    return {"argv": ["haproxy", "-db", "-f", str(haproxy_cfg_path(layout))], "user": "haproxy",
            "group": "haproxy", "log": str(layout.node_dir(node) / "haproxy.log")}


def clients_host() -> str:
    """Where the lab's clients (switch namespace) reach the catalog: every member; with
    target_session_attrs=read-write (observe.psql) libpq picks the primary."""
    return ",".join(MEMBERS.values())


# -- the REST API, from the switch namespace (a client's view) --------------------------------------

def rest(layout: Layout, member: str, method: str = "GET", path: str = "/cluster",
         body: Optional[dict] = None, password: str = "", timeout: float = 3.0) -> Tuple[int, Any]:
    """(HTTP status, decoded body) of one REST call to member; (0, None) when it does not answer."""
    sock = connect_in(layout.switch_ns, MEMBERS[member], REST_PORT, timeout=timeout)
    if sock is None:
        return 0, None
    conn = http.client.HTTPConnection(MEMBERS[member], REST_PORT, timeout=timeout)
    conn.sock = sock
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{REST_USER}:{password}".encode()).decode()
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        status = resp.status
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace").strip()


def cluster_state(layout: Layout) -> Optional[dict]:
    """GET /cluster from the first member that answers (None: none does)."""
    for m in MEMBERS:
        status, body = rest(layout, m)
        if status == 200 and isinstance(body, dict):
            return body
    return None


def roles(state: Optional[dict]) -> Dict[str, Tuple[str, str]]:
    """member -> (role, state) from a /cluster answer."""
    return {m["name"]: (m.get("role", ""), m.get("state", "")) for m in (state or {}).get("members", [])}


def leader(layout: Layout) -> Optional[str]:
    for name, (role, state) in roles(cluster_state(layout)).items():
        if role == "leader" and state == "running":
            return name
    return None


def healthy(state: Optional[dict]) -> bool:
    """A running leader and a running synchronous standby: a switchover or a crash of the
    primary can be survived without losing a committed row."""
    found = roles(state)
    return (sum(1 for r, s in found.values() if r == "leader" and s == "running") == 1
            and any(r == "sync_standby" and s == "running" for r, s in found.values()))


def wait_healthy(layout: Layout, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = cluster_state(layout)
        if healthy(state):
            return state or {}
        if time.monotonic() > deadline:
            raise LabError(f"the Patroni cluster is not healthy after {timeout:.0f} s: {roles(state) or 'no answer'}")
        time.sleep(0.5)


def switchover(layout: Layout, password: str, timeout: float = 30) -> Tuple[str, str]:
    """POST /switchover to the leader: the sync standby becomes the primary. Returns (old, new)."""
    state = wait_healthy(layout, timeout=timeout)
    found = roles(state)
    old = next(n for n, (r, _) in found.items() if r == "leader")
    new = next(n for n, (r, _) in found.items() if r == "sync_standby")
    status, body = rest(layout, old, "POST", "/switchover", {"leader": old, "candidate": new},
                        password=password, timeout=timeout)
    if status != 200:
        raise LabError(f"Patroni switchover {old} -> {new} refused: HTTP {status}: {body}")
    return old, new
