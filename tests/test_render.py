# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-ha render: site values in, crm/pcs text out, clear errors otherwise.

Pure Python except the shellcheck/drbdadm checks of the shipped files; the
scheduler proofs of the same text are in test_snippets_scheduler.py.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from bacula_ha.admin.render import ARCHITECTURES, FORMATS, RenderError, render
from bacula_ha.admin.render.values import parse_file, resolve
from support.paths import ROOT

SNIPPETS = os.path.join(ROOT, "crm-snippets")
DRBD = {"nodes": "alpha,beta", "vip": "203.0.113.5", "vip_cidr": "24",
        "ipmi_address.alpha": "203.0.113.101", "ipmi_address.beta": "203.0.113.102",
        "ipmi_user": "fence", "ipmi_password_script": "/etc/bacula-ha/pw", "drbd_device": "/dev/drbd0"}


def problems(arch: str, values: dict, example: bool = False) -> list:
    with pytest.raises(RenderError) as info:
        render(arch, "crm", values, example=example)
    return info.value.problems


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_shipped_snippets_are_the_example_rendering(arch, fmt):
    """The files users paste and `bacula-ha render --example` never drift apart."""
    with open(os.path.join(SNIPPETS, f"{arch}.{fmt}"), encoding="utf-8") as handle:
        assert handle.read() == render(arch, fmt, {}, example=True)


def test_shipped_example_values_are_the_documented_ones():
    text = render("drbd", "crm", {}, example=True)
    for value in ("node1", "node2", "ip=192.0.2.10", "cidr_netmask=24", "device=/dev/drbd0"):
        assert value in text


def test_pcs_scripts_pass_shellcheck():
    scripts = [os.path.join(SNIPPETS, f"{arch}.pcs") for arch in ARCHITECTURES]
    result = subprocess.run(["shellcheck", "-s", "sh", *scripts], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    assert all(os.stat(s).st_mode & stat.S_IXUSR for s in scripts)


def test_drbd_fencing_fragment_parses(tmp_path):
    """drbdadm parses the documented drbd.conf fragment offline (no kernel module needed)."""
    with open(os.path.join(SNIPPETS, "drbd-fencing.res"), encoding="utf-8") as handle:
        text = handle.read()
    assert "fencing resource-and-stonith;" in text
    local = tmp_path / "r0.res"   # drbdadm only shows a resource that has an `on <this host>` section
    local.write_text(text.replace("on node2 {", "on bacula-ha-test-peer {")
                     .replace("on node1 {", f"on {os.uname().nodename} {{"))
    result = subprocess.run(["drbdadm", "-c", str(local), "dump", "r0"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "fencing          resource-and-stonith;" in result.stdout
    assert "fence-peer       /usr/lib/drbd/crm-fence-peer.9.sh;" in result.stdout
    assert "unfence-peer     /usr/lib/drbd/crm-unfence-peer.9.sh;" in result.stdout
    for handler in ("crm-fence-peer.9.sh", "crm-unfence-peer.9.sh"):
        assert os.access(f"/usr/lib/drbd/{handler}", os.X_OK)
    bad = tmp_path / "bad.res"
    bad.write_text(local.read_text().replace("resource-and-stonith", "resource-and-nothing"))
    assert subprocess.run(["drbdadm", "-c", str(bad), "dump", "r0"], capture_output=True,
                          timeout=60).returncode != 0


def test_every_missing_site_value_is_reported_at_once():
    found = problems("drbd", {})
    for key in ("nodes", "vip", "vip_cidr", "ipmi_user", "ipmi_password_script", "drbd_device"):
        assert any(p.startswith(f"{key}: missing") for p in found), (key, found)
    found = problems("drbd", {k: v for k, v in DRBD.items() if k != "ipmi_address.beta"})
    assert found == ["ipmi_address.beta: missing (BMC address of each node (ipmi_address.NODE))"]
    found = problems("git", {"nodes": "a,b", "vip": "203.0.113.5", "vip_cidr": "24", "fencing": "sbd"})
    assert {p.split(":")[0] for p in found} == {"sbd_devices", "catalog_host", "git_repository"}


def test_complete_values_render():
    text = render("drbd", "crm", DRBD)
    assert "ip=203.0.113.5 cidr_netmask=24" in text
    assert "pcmk_host_list=alpha" in text and "location l_fence_beta_not_on_target fence_beta -INFINITY: beta" in text
    assert "192.0.2" not in text   # no example value sneaks in


@pytest.mark.parametrize("key,value,message", [
    ("nodes", "alpha", "needs exactly 2 node names, got 1"),
    ("nodes", "alpha,beta,gamma", "needs exactly 2 node names, got 3"),
    ("nodes", "alpha,alpha", "node names must be unique"),
    ("nodes", "alpha,be_ta", "'be_ta' is not a valid node name"),
    ("vip", "203.0.113.300", "'203.0.113.300' is not an IPv4 or IPv6 address"),
    ("vip", "fe80::1", "cannot be a service address"),
    ("vip", "::1", "cannot be a service address"),
    ("vip", "127.0.0.1", "cannot be a service address"),
    ("vip", "203.0.113.0", "is the network or broadcast address of 203.0.113.0/24"),
    ("vip", "203.0.113.255", "is the network or broadcast address"),
    ("vip_cidr", "33", "prefix /33 is longer than an IPv4 address (32 bits)"),
    ("vip_cidr", "129", "'129' is not a prefix length"),
    ("vip_cidr", "/24", "is not a prefix length"),
    ("vip_nic", "eth 0", "is not a network interface name"),
    ("fencing", "ilo", "'ilo' is not one of: ipmilan, sbd, virsh"),
    ("ipmi_address.alpha", "203.0.113", "neither an IP address nor a host name"),
    ("ipmi_password_script", "pw.sh", "is not an absolute path"),
    ("drbd_device", "/dev/sdb1", "is not a DRBD device"),
    ("drbd_resource", "r 0", "may only contain letters"),
    ("fstype", "nfs4", "makes no sense on a DRBD device"),
    ("pgdata", "/var/lib/postgresql/15/main", "is not on the replicated/shared/distributed file system"),
    ("director_config", "/etc/bacula/bacula-dir.conf", "is not on the replicated/shared/distributed file system"),
    ("migration_threshold", "0", "is not an integer from 1 to 1000"),
    ("failure_timeout", "ten minutes", "is not a duration"),
    ("ipmi_user", "fence$(reboot)", "must not contain quotes"),
    ("fs_options", "a;b", "must not contain quotes"),
    ("vipp", "1", "unknown key 'vipp' (did you mean 'vip'?)"),
    ("ipmi_address", "203.0.113.9", "per-node key, write it as ipmi_address.NODE"),
    ("vip.alpha", "203.0.113.9", "not a per-node key, write it as vip"),
    ("ipmi_address.gamma", "203.0.113.9", "'gamma' is not in nodes (alpha, beta)"),
])
def test_invalid_values_are_named(key, value, message):
    found = problems("drbd", {**DRBD, key: value})
    assert any(message in p and p.startswith(key.split(".")[0]) or message in p for p in found), found
    assert any(message in p for p in found)


@pytest.mark.parametrize("device,fstype,ok", [
    ("/dev/disk/by-id/wwn-0x5", "xfs", True), ("nfs.example.net:/export/bacula", "nfs4", True),
    ("/dev/sdb1", "nfs", False), ("nfs.example.net:/export", "ext4", False), ("nfs.example.net:relative", "nfs", False),
])
def test_shared_device_must_fit_the_file_system(device, fstype, ok):
    values = {"nodes": "a,b,c", "vip": "198.51.100.9", "vip_cidr": "24", "fencing": "sbd",
              "sbd_devices": "/dev/disk/by-id/sbd", "fs_device": device, "fstype": fstype}
    if ok:
        assert f"device={device}" in render("shared", "crm", values)
    else:
        assert any(p.startswith("fs_device:") for p in problems("shared", values))


def test_sbd_device_count():
    base = {"nodes": "a,b", "vip": "198.51.100.9", "vip_cidr": "24", "fencing": "sbd", "fs_device": "/dev/sdb"}
    assert problems("shared", {**base, "sbd_devices": "/dev/a,/dev/b,/dev/c,/dev/d"}) == ["sbd_devices: give 1 to 3 devices"]
    assert "devices=/dev/a,/dev/b" in render("shared", "crm", {**base, "sbd_devices": "/dev/a, /dev/b"})


def test_values_file_format():
    text = """
# site values
[bacula-ha]
nodes = alpha, beta
vip = "203.0.113.5"   
; another comment
ipmi_address.alpha=203.0.113.101
"""
    assert parse_file(text) == {"nodes": "alpha, beta", "vip": "203.0.113.5", "ipmi_address.alpha": "203.0.113.101"}
    with pytest.raises(RenderError) as info:
        parse_file("[site]\nvip = 1\nvip = 2\njust words\n= x\n", source="site.ini")
    assert info.value.problems == [
        "site.ini:1: unknown section [site] (only [bacula-ha] is allowed)",
        "site.ini:3: vip given twice",
        "site.ini:4: expected key = value, got 'just words'",
        "site.ini:5: expected key = value, got '= x'",
    ]


def test_unknown_architecture_and_format():
    with pytest.raises(RenderError, match="unknown architecture 'nfs'"):
        render("nfs", "crm", {}, example=True)
    with pytest.raises(RenderError, match="unknown format 'xml'"):
        render("drbd", "xml", {}, example=True)


# ---------------------------------------------------------------- quoting

SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x7f), max_size=30)


@settings(max_examples=200, deadline=None)
@given(SAFE_TEXT)
def test_a_value_is_one_word_or_rejected(options):
    """Whatever a user writes, it ends up as exactly one crm/sh word or is refused."""
    values = {**DRBD, "fs_options": options}
    try:
        pcs_text = render("drbd", "pcs", values)
        crm_text = render("drbd", "crm", values)
    except RenderError as exc:
        assert any(p.startswith("fs_options:") for p in exc.problems)
        return
    expected = f"options={options.strip()}"
    if not options.strip():
        assert "options=" not in crm_text
        return
    pcs_line = next(l for l in pcs_text.splitlines() if "device=/dev/drbd0" in l).rstrip("\\ ")
    assert expected in shlex.split(pcs_line)
    crm_line = next(l for l in crm_text.splitlines() if "device=/dev/drbd0" in l).rstrip("\\ ")
    assert expected in shlex.split(crm_line.replace("params ", "", 1))


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=4), st.integers(min_value=8, max_value=30))
def test_any_usable_ipv4_vip_renders(address, prefix):
    import ipaddress
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    usable = not (address.is_loopback or address.is_multicast or address.is_unspecified or address.is_link_local
                  or address in (network.network_address, network.broadcast_address)
                  or str(address) == "255.255.255.255")
    values = {**DRBD, "vip": str(address), "vip_cidr": str(prefix)}
    if usable:
        assert f"ip={address} cidr_netmask={prefix}" in render("drbd", "crm", values)
    else:
        assert any(p.startswith("vip:") for p in problems("drbd", values))


# ---------------------------------------------------------------- command line

def invoke(*args):
    from click.testing import CliRunner
    from bacula_ha.admin.cli import main
    return CliRunner(mix_stderr=False).invoke(main, ["render", *args])


def test_cli_reports_all_problems_and_fails():
    result = invoke("drbd", "--set", "vip=203.0.113.0", "--set", "nodes=alpha")
    assert result.exit_code == 1
    assert "invalid site values:" in result.stderr
    assert "nodes: needs exactly 2 node names, got 1" in result.stderr
    assert "vip_cidr: missing" in result.stderr


def test_cli_values_file_set_override_and_output(tmp_path):
    values = tmp_path / "site.ini"
    values.write_text("\n".join(f"{k} = {v}" for k, v in DRBD.items()) + "\nvip = 203.0.113.77\n".replace(
        "vip = 203.0.113.77\n", ""))
    out = tmp_path / "bacula.pcs"
    result = invoke("drbd", "--values", str(values), "--set", "vip=203.0.113.77", "--format", "pcs", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("#!/bin/sh\n") and "ip=203.0.113.77" in text
    assert os.stat(out).st_mode & stat.S_IXUSR
    assert invoke("drbd", "--values", str(tmp_path / "absent.ini")).exit_code == 1
    shown = invoke("git", "--example")
    assert shown.exit_code == 0 and "ocf:bacula:bacula-config-pull" in shown.output


def test_cli_help_lists_the_keys():
    result = invoke("--help")
    assert result.exit_code == 0
    for key in ("nodes:", "vip_cidr:", "ipmi_address.NODE:", "sbd_devices:", "git_repository:"):
        assert key in result.output


def test_resolve_keeps_node_order():
    values = resolve("git", {"nodes": "c, a ,b"}, example=True)
    assert values.nodes == ["c", "a", "b"]


def test_readme_documents_every_key_and_file():
    from bacula_ha.admin.render.values import FIELDS
    with open(os.path.join(SNIPPETS, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for field in FIELDS:
        assert f"| `{field.key}{'.NODE' if field.per_node else ''}` |" in readme, field.key
    for name in os.listdir(SNIPPETS):
        assert f"`{name}`" in readme or name == "README.md", name


def test_one_values_file_serves_every_architecture():
    """Keys of the other architectures are accepted (the lab keeps one file); typos are not."""
    values = {**DRBD, "git_repository": "git://198.51.100.20/bacula-config.git", "catalog_host": "198.51.100.20",
              "fs_device": "/dev/sdb1", "catalog_sslmode": "disable", "mount_point": "/srv/bacula",
              "repl_vip": "203.0.113.6", "dfs_device": "gluster.example.net:/bacula"}
    for arch in ARCHITECTURES:
        text = render(arch, "crm", values)
        assert "ip=203.0.113.5" in text
    assert "repository=git://198.51.100.20/bacula-config.git" in render("git", "crm", values)
    assert "drbd" not in render("git", "crm", values)


# ---------------------------------------------------------------- streaming, dfs, file layout

STREAMING = {**{k: v for k, v in DRBD.items() if k != "drbd_device"}, "repl_vip": "203.0.113.6",
             "git_repository": "https://git.example.org/dir.git"}
DFS = {**{k: v for k, v in DRBD.items() if k != "drbd_device"}, "catalog_host": "db.example.org",
       "dfs_device": "gluster.example.org:/bacula"}


def test_drbd_and_shared_keep_the_director_files_on_the_replicated_file_system():
    """The seeds' layout: configuration and working directory on the device that follows the
    Director; the defaults derive from mount_point."""
    text = render("drbd", "crm", {**DRBD, "mount_point": "/srv/catalog"})
    assert "config=/srv/catalog/etc/bacula-dir.conf console_config=/srv/catalog/etc/bconsole.conf" in text
    assert "pgdata=/srv/catalog/postgresql/15/main" in text
    text = render("shared", "crm", {**DRBD, "fs_device": "/dev/sdb1"})
    assert "config=/srv/bacula/etc/bacula-dir.conf" in text


def test_streaming_renders_paf_with_its_own_data_per_node():
    text = render("streaming", "crm", STREAMING)
    assert "primitive p_pgsql ocf:heartbeat:pgsqlms" in text
    assert "pgdata=/etc/postgresql/15/main datadir=/var/lib/postgresql/15/main" in text
    assert "notify=true" in text.split("clone ms_pgsql", 1)[1].split("\n\n", 1)[0]
    assert "params ip=203.0.113.6 cidr_netmask=24" in text          # the replication address
    assert "params mode=local host=/var/run/postgresql" in text
    assert "colocation col_bacula_on_pgsql_primary INFINITY: g_bacula ms_pgsql:Promoted" in text
    assert "order o_pgsql_promote_before_bacula Mandatory: ms_pgsql:promote g_bacula:start" in text
    assert "config=/etc/bacula/bacula-dir.conf" in text             # deployed by bacula-config-pull
    assert "repository=https://git.example.org/dir.git" in text
    assert "/srv/" not in text                                        # no shared file system at all


@pytest.mark.parametrize("arch,values,key,value,message", [
    ("streaming", STREAMING, "repl_vip", "203.0.113.5", "must differ from vip"),
    ("streaming", STREAMING, "repl_vip", "", "repl_vip: missing"),
    ("streaming", STREAMING, "git_repository", "", "git_repository: missing"),
    ("dfs", DFS, "dfs_fstype", "ext4", "'ext4' is not one of: glusterfs, ceph, nfs4, nfs"),
    ("dfs", DFS, "dfs_device", "", "dfs_device: missing"),
    ("dfs", DFS, "director_config", "/etc/bacula/bacula-dir.conf", "is not on the replicated/shared/distributed"),
    ("dfs", DFS, "catalog_host", "", "catalog_host: missing"),
])
def test_new_architectures_name_bad_values(arch, values, key, value, message):
    given = {k: v for k, v in values.items() if k != key}
    if value:
        given[key] = value
    found = problems(arch, given)
    assert any(message in p for p in found), found


def test_dfs_mounts_everywhere_or_trusts_the_system():
    text = render("dfs", "crm", DFS)
    assert "clone cl_dfs p_dfs" in text and "fstype=glusterfs" in text
    assert "colocation col_bacula_with_dfs INFINITY: g_bacula cl_dfs" in text
    assert "order o_dfs_before_bacula Mandatory: cl_dfs:start g_bacula:start" in text
    assert "params mode=external host=db.example.org" in text
    assert "config=/srv/bacula/etc/bacula-dir.conf" in text
    text = render("dfs", "crm", {**DFS, "dfs_managed": "false"})
    assert "ocf:heartbeat:Filesystem" not in text and "cl_dfs" not in text
    assert "config=/srv/bacula/etc/bacula-dir.conf" in text


def test_streaming_postgresql_fragment_is_what_paf_and_the_snippet_need(tmp_path):
    """PostgreSQL itself reads the shipped fragment; PAF's start checks (application_name,
    recovery_target_timeline) and the snippet's example values agree with it."""
    import glob
    postgres = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))[-1]
    with open(os.path.join(SNIPPETS, "streaming-postgresql.conf"), encoding="utf-8") as handle:
        (tmp_path / "bacula-ha.conf").write_text(handle.read())
    (tmp_path / "postgresql.conf").write_text("include 'bacula-ha.conf'\n")

    def setting(name: str) -> str:
        result = subprocess.run([postgres, "-C", name, "-D", str(tmp_path)], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert setting("synchronous_standby_names") == "ANY 1 (node1, node2)"
    assert setting("synchronous_commit") == "on"
    assert setting("recovery_target_timeline") == "latest"
    assert setting("wal_log_hints") == "on"                     # bacula-ha rejoin (pg_rewind)
    conninfo = setting("primary_conninfo")
    assert "application_name=node1" in conninfo and "password" not in conninfo
    repl_vip = resolve("streaming", {}, example=True).repl_vip
    assert f"host={repl_vip} " in conninfo                      # the snippet's p_vip_repl


# ---------------------------------------------------------------- issue 15.5

@pytest.mark.parametrize("vip,prefix", [("2001:db8:10::5", "64"), ("2001:db8::a", "120"), ("fd00::10", "48")])
def test_ipv6_vips_render(vip, prefix):
    text = render("drbd", "crm", {**DRBD, "vip": vip, "vip_cidr": prefix})
    assert f"ip={vip} cidr_netmask={prefix}" in text


def test_ipv6_subnet_router_anycast_is_refused():
    assert any(p.startswith("vip: 2001:db8:10:: is the subnet-router anycast")
               for p in problems("drbd", {**DRBD, "vip": "2001:db8:10::", "vip_cidr": "64"}))


@pytest.mark.scheduler
def test_ipv6_vip_loads_into_a_cib(tmp_path):
    from support.scheduler import configuration, crm_load, empty_cib
    cib = empty_cib(str(tmp_path / "cib.xml"))
    snippet = tmp_path / "v6.crm"
    snippet.write_text(render("drbd", "crm", {**DRBD, "vip": "2001:db8:10::5", "vip_cidr": "64"}))
    assert crm_load(cib, str(snippet)).returncode == 0
    group = configuration(cib)["resources"]["g_bacula"]["group"]
    vip = next(p for p in group if p["id"] == "p_vip")
    assert vip["params"]["ip"] == "2001:db8:10::5" and vip["params"]["cidr_netmask"] == "64"


@pytest.mark.parametrize("changes,message", [
    ({"vip": "203.0.113.101"}, "vip: 203.0.113.101 is also ipmi_address.alpha: the VIP moves with the Director"),
    ({"vip": "2001:db8::1", "vip_cidr": "64", "ipmi_address.beta": "2001:db8:0::1"},
     "vip: 2001:db8::1 is also ipmi_address.beta"),
    ({"ipmi_address.beta": "203.0.113.101"}, "ipmi_address.beta: 203.0.113.101 is also ipmi_address.alpha"),
    ({"ipmi_address.alpha": "BMC.example.net", "ipmi_address.beta": "bmc.example.net"},
     "ipmi_address.beta: bmc.example.net is also ipmi_address.alpha"),
    ({"nodes": "alpha,ALPHA", "ipmi_address.ALPHA": "203.0.113.102"}, "node names must be unique"),
    ({"fencing": "virsh", "virsh_host": "203.0.113.5"}, "vip: 203.0.113.5 is also virsh_host"),
    ({"fencing": "virsh", "virsh_host": "203.0.113.1", "virsh_domain.alpha": "vm1", "virsh_domain.beta": "VM1"},
     "virsh_domain.beta: VM1 is also the domain of alpha"),
])
def test_duplicate_addresses_and_names_are_refused(changes, message):
    values = {**DRBD, **changes}
    if values.get("fencing") == "virsh":
        values = {k: v for k, v in values.items() if not k.startswith("ipmi_")}
    found = problems("drbd", values)
    assert any(message in p for p in found), found


def test_git_catalog_host_may_be_a_proxy_on_every_node():
    values = {**DRBD, "catalog_host": "127.0.0.1", "catalog_port": "5000",
              "git_repository": "ssh://git@g.example.net/c.git"}
    assert "params mode=external host=127.0.0.1 port=5000" in render("git", "crm", values)


def test_git_catalog_host_must_not_be_the_vip():
    values = {**DRBD, "catalog_host": "203.0.113.5", "git_repository": "ssh://git@g.example.net/c.git"}
    assert any("vip: 203.0.113.5 is also catalog_host" in p for p in problems("git", values))


def test_keys_the_architecture_does_not_use_are_warned():
    values = resolve("drbd", {**DRBD, "git_repository": "ssh://g/c.git", "sbd_devices": "/dev/sdb",
                              "fs_device": "/dev/sdc"})
    assert values.warnings == ["fs_device is not used by architecture drbd: ignored",
                               "git_repository is not used by architecture drbd: ignored",
                               "sbd_devices is not used by fencing ipmilan (it is for sbd): ignored"]
    assert resolve("drbd", DRBD).warnings == []
    result = invoke("drbd", *sum((["--set", f"{k}={v}"] for k, v in DRBD.items()), []),
                    "--set", "git_branch=main")
    assert result.exit_code == 0
    assert "warning: git_branch is not used by architecture drbd: ignored" in result.stderr


def _drbd_args():
    return sum((["--set", f"{k}={v}"] for k, v in DRBD.items()), [])


def test_cli_missing_output_directory_is_one_line(tmp_path):
    result = invoke("drbd", *_drbd_args(), "-o", str(tmp_path / "absent" / "out.crm"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "cannot write" in result.stderr and "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.root
def test_cli_permission_error_is_one_line(tmp_path):
    """As an unprivileged user: a directory it cannot write and a values file it cannot read."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)
    secret = tmp_path / "site.ini"
    secret.write_text("nodes = a,b\n")
    secret.chmod(0o600)
    os.chmod(tmp_path, 0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib")}
    for args, expected in (([*_drbd_args(), "-o", str(locked / "out.crm")], "cannot write"),
                           (["--values", str(secret)], "cannot read values file")):
        proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               "/usr/bin/python3", "-m", "bacula_ha", "render", "drbd", *args],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert expected in proc.stderr and "Permission denied" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_non_utf8_values_file_is_one_line(tmp_path):
    values = tmp_path / "site.ini"
    values.write_bytes(b"nodes = alpha,beta\nipmi_user = f\xe9nce\n")
    result = invoke("drbd", "--values", str(values))
    assert result.exit_code == 1
    assert "is not UTF-8 text (byte 0xe9 on line 2)" in result.stderr
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_cli_output_through_a_symlink_keeps_the_symlink(tmp_path):
    real = tmp_path / "real.crm"
    real.write_text("old\n")
    link = tmp_path / "link.crm"
    link.symlink_to(real)
    result = invoke("drbd", *_drbd_args(), "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "ip=203.0.113.5" in real.read_text()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_cli_output_to_a_device_writes_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, encoding="utf-8").read()))
    reader.start()
    result = invoke("drbd", *_drbd_args(), "-o", str(fifo))
    reader.join(30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)          # still the FIFO, not a regular file
    assert "ip=203.0.113.5" in received[0]
    assert invoke("drbd", *_drbd_args(), "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_cli_output_keeps_an_existing_files_mode(tmp_path):
    out = tmp_path / "out.crm"
    out.write_text("old\n")
    out.chmod(0o600)
    assert invoke("drbd", *_drbd_args(), "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and "ip=203.0.113.5" in out.read_text()


def test_cli_output_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.crm"
    link.symlink_to("target.crm")                       # relative, target missing
    assert invoke("drbd", *_drbd_args(), "-o", str(link)).exit_code == 0
    assert link.is_symlink() and "ip=203.0.113.5" in (tmp_path / "target.crm").read_text()


def test_cli_output_to_dev_stdout_on_a_pipe(tmp_path):
    proc = subprocess.run(["/usr/bin/python3", "-m", "bacula_ha", "render", "drbd", *_drbd_args(), "-o", "/dev/stdout"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib")})
    assert proc.returncode == 0, proc.stderr
    assert "ip=203.0.113.5" in proc.stdout


def test_cli_non_utf8_argument_is_refused_not_a_traceback(tmp_path):
    arg = os.fsdecode(b"git_repository=ssh://h/\xe9")
    proc = subprocess.run([b"/usr/bin/python3", b"-m", b"bacula_ha", b"render", b"git", b"--example",
                           b"--set", os.fsencode(arg), b"-o", os.fsencode(str(tmp_path / "out.crm"))],
                          capture_output=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 1
    assert b"git_repository: is not UTF-8 text" in proc.stderr and b"Traceback" not in proc.stderr
    assert not (tmp_path / "out.crm").exists()
