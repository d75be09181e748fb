# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha check` against CIBs built by crmsh offline (Pacemaker's own CIB format).

Issue 15.4: every miss and false alarm found in the field has a case here, and every
finding names the element (by id) to add or change.
"""

import os
import subprocess

import pytest

from support.paths import ROOT

pytestmark = pytest.mark.scheduler

NODES = """node node1
node node2
"""

FENCING = """primitive st-ipmi-node1 stonith:fence_ipmilan params ip=198.51.100.201 username=admin \\
  password_script=/etc/cluster/ipmi-pass pcmk_host_list=node1 pcmk_delay_max=10s op monitor interval=60s
primitive st-ipmi-node2 stonith:fence_ipmilan params ip=198.51.100.202 username=admin \\
  password_script=/etc/cluster/ipmi-pass pcmk_host_list=node2 op monitor interval=60s
"""

DIRECTOR_OPS = """op monitor interval=20s timeout=30s op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 \\
  op start timeout=60s op stop timeout=60s"""

GOOD = NODES + FENCING + """property cib-bootstrap-options: stonith-enabled=true no-quorum-policy=stop
primitive p_catalog ocf:bacula:bacula-catalog-check params host=/run/postgresql mode=local \\
  op monitor interval=10s timeout=30s op start timeout=60s
primitive p_director ocf:bacula:bacula-director params config=/etc/bacula/bacula-dir.conf \\
  """ + DIRECTOR_OPS + """
primitive p_vip IPaddr2 params ip=198.51.100.100 cidr_netmask=24 op monitor interval=10s
group g_bacula p_catalog p_director p_vip
"""

GIT = NODES + FENCING + """property cib-bootstrap-options: stonith-enabled=true
primitive p_config ocf:bacula:bacula-config-pull params repository=file:///srv/git/bacula-config.git \\
  op monitor interval=30s role=Unpromoted timeout=60s op monitor interval=29s role=Promoted timeout=60s \\
  op start timeout=120s op stop timeout=30s op promote timeout=120s op demote timeout=30s
clone ms_config p_config meta promotable=true promoted-max=1
primitive p_director ocf:bacula:bacula-director """ + DIRECTOR_OPS + """
primitive p_vip IPaddr2 params ip=198.51.100.100 cidr_netmask=24 op monitor interval=10s
group g_director p_director p_vip
colocation col_director_with_config inf: g_director ms_config:Promoted
order ord_config_then_director Mandatory: ms_config:promote g_director:start
"""


def load(tmp_path, text, name="cib.xml"):
    cib = tmp_path / name
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    crm = tmp_path / (name + ".crm")
    crm.write_text(text)
    env = {**os.environ, "CIB_file": str(cib)}
    proc = subprocess.run(["crm", "-F", "configure", "load", "update", str(crm)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return cib


def check(cib, *extra):
    proc = subprocess.run(["/usr/bin/python3", "-m", "bacula_ha", "check", "--cib", str(cib), *extra],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": os.path.join(ROOT, "lib")})
    return proc.returncode, proc.stdout + proc.stderr


def changed(text, old, new):
    assert old in text, old
    return text.replace(old, new)


def test_safe_group_passes(tmp_path):
    rc, out = check(load(tmp_path, GOOD))
    assert rc == 0, out
    assert out.strip().endswith("0 error(s), 0 warning(s)"), out


def test_git_architecture_passes(tmp_path):
    rc, out = check(load(tmp_path, GIT))
    assert rc == 0, out
    assert out.strip().endswith("0 error(s), 0 warning(s)"), out


@pytest.mark.parametrize("arch", ["drbd", "git", "shared"])
@pytest.mark.parametrize("fencing", ["ipmilan", "sbd"])
def test_rendered_configurations_pass_without_any_finding(tmp_path, arch, fencing):
    """No false alarms on what `bacula-ha render` produces."""
    from bacula_ha.admin.render import render
    text = render(arch, "crm", {"fencing": fencing}, example=True)
    rc, out = check(load(tmp_path, NODES + text))
    assert rc == 0 and out.strip().endswith("0 error(s), 0 warning(s)"), out


@pytest.mark.parametrize("arch", ["streaming", "dfs"])
def test_new_shipped_architectures_pass(tmp_path, arch):
    """streaming: the Director follows the PAF primary, the configuration is promoted with it
    (transitively), and the replication address is not taken for a misplaced Director VIP."""
    with open(os.path.join(ROOT, "crm-snippets", f"{arch}.crm"), encoding="utf-8") as handle:
        text = handle.read()
    rc, out = check(load(tmp_path, text))
    assert rc == 0 and "0 error(s), 0 warning(s)" in out, out
    if arch == "streaming":   # without the configuration's colocation with the primary: refused
        broken = "\n".join(l for l in text.splitlines() if "col_config_pull_promoted_on_pgsql_primary" not in l)
        rc, out = check(load(tmp_path, broken, "broken.xml"))
        assert rc != 0 and "the promoted config-pull (p_config_pull)" in out, out


def test_disabled_fencing_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "stonith-enabled=true", "stonith-enabled=false")))
    assert rc == 1 and "ERROR   stonith-enabled: fencing is disabled" in out
    assert "fix: crm configure property stonith-enabled=true" in out


def test_director_before_catalog_check_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "group g_bacula p_catalog p_director p_vip",
                                           "group g_bacula p_director p_catalog p_vip")))
    assert rc == 1 and "p_director: not colocated with and ordered after catalog-check (p_catalog)" in out
    assert "fix: in group g_bacula, put p_catalog before p_director" in out


def test_director_not_tied_to_promoted_config_pull_is_an_error(tmp_path):
    text = changed(changed(GIT, "ms_config:Promoted", "ms_config"), "order ord_config_then_director", "# ")
    rc, out = check(load(tmp_path, text))
    assert rc == 1 and "not colocated with and ordered after the promoted config-pull (p_config)" in out
    assert ("fix: crm configure colocation col_g_director_with_ms_config inf: g_director ms_config:Promoted; "
            "crm configure order o_ms_config_before_g_director Mandatory: ms_config:promote g_director:start") in out


def test_bad_parameter_value_and_short_timeout_and_no_monitor(tmp_path):
    text = changed(changed(GOOD, "mode=local", "mode=remote"), DIRECTOR_OPS, "op start timeout=10s")
    rc, out = check(load(tmp_path, text))
    assert rc == 1
    assert "p_catalog: parameter mode: 'remote' is not one of local, external" in out
    assert "fix: crm resource param p_catalog set mode VALUE" in out
    assert "ERROR   p_director: start timeout 10s is below the agent's advised 60s" in out
    assert "ERROR   p_director: no recurring monitor" in out
    assert ("fix: op monitor interval=20s timeout=30s on p_director; "
            "op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 on p_director") in out


# -- misses (issue 15.4) ---------------------------------------------------------------
def test_stopped_fence_device_is_an_error(tmp_path):
    text = changed(GOOD, "pcmk_host_list=node1 pcmk_delay_max=10s op monitor interval=60s",
                   "pcmk_host_list=node1 pcmk_delay_max=10s op monitor interval=60s meta target-role=Stopped")
    rc, out = check(load(tmp_path, text))
    assert rc == 1
    assert "ERROR   st-ipmi-node1: fencing device cannot be used: target-role=Stopped on st-ipmi-node1" in out
    assert "fix: crm resource start st-ipmi-node1" in out
    assert "ERROR   node1: no usable fencing device can fence this node" in out


def test_every_fence_device_stopped_means_no_fencing(tmp_path):
    text = GOOD.replace("op monitor interval=60s\n", "op monitor interval=60s meta target-role=Stopped\n")
    rc, out = check(load(tmp_path, text))
    assert rc == 1 and "ERROR   fencing: no usable fencing device is configured (every one is stopped)" in out


def test_host_list_naming_other_nodes_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "pcmk_host_list=node2", "pcmk_host_list=node3")))
    assert rc == 1
    assert "ERROR   st-ipmi-node2: pcmk_host_list names node3, not a node of this cluster (node1, node2)" in out
    assert "fix: crm resource param st-ipmi-node2 set pcmk_host_list" in out
    assert "ERROR   node2: no usable fencing device can fence this node" in out
    assert "location l_fence_node2_not_on_target fence_node2 -inf: node2" in out


def test_maintenance_mode_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "no-quorum-policy=stop", "no-quorum-policy=stop maintenance-mode=true")))
    assert rc == 1 and "ERROR   maintenance-mode: the cluster is in maintenance mode" in out
    assert "fix: crm configure property maintenance-mode=false" in out


def test_unmanaged_group_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "group g_bacula p_catalog p_director p_vip",
                                           "group g_bacula p_catalog p_director p_vip meta is-managed=false")))
    assert rc == 1 and "ERROR   g_bacula: is-managed=false: Pacemaker neither monitors nor recovers it" in out
    assert "fix: crm resource manage g_bacula" in out


def test_two_nodes_without_any_fence_delay_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, GOOD.replace(" pcmk_delay_max=10s", "")))
    assert rc == 1 and "ERROR   fencing: two-node cluster without a fence delay" in out
    assert "crm resource meta g_bacula set priority 10" in out
    # priority-fencing-delay without any resource priority delays nothing
    text = GOOD.replace(" pcmk_delay_max=10s", "").replace("no-quorum-policy=stop",
                                                           "no-quorum-policy=stop priority-fencing-delay=15s")
    rc, out = check(load(tmp_path, text, "prio.xml"))
    assert rc == 1 and "ERROR   priority-fencing-delay: set, but no resource has a priority" in out
    rc, out = check(load(tmp_path, text.replace("group g_bacula p_catalog p_director p_vip",
                                                "group g_bacula p_catalog p_director p_vip meta priority=10"),
                         "prio-ok.xml"))
    assert rc == 0, out


def test_without_known_nodes_a_missing_delay_is_a_warning_and_strict_fails(tmp_path):
    text = GOOD.replace(NODES, "").replace(" pcmk_delay_max=10s", "")
    rc, out = check(load(tmp_path, text))
    assert rc == 0 and "WARNING fencing: two-node cluster without a fence delay" in out
    rc, _ = check(load(tmp_path, text, "strict.xml"), "--strict")
    assert rc == 1


def test_missing_start_op_uses_the_default_timeout_and_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, " \\\n  op start timeout=60s op stop timeout=60s", "")))
    assert rc == 1
    assert "ERROR   p_director: start timeout 20s (Pacemaker's default) is below the agent's advised 60s " \
           "(no start op)" in out
    assert "fix: op start timeout=60s on p_director" in out


def test_op_defaults_timeout_counts(tmp_path):
    text = changed(GOOD, " \\\n  op start timeout=60s op stop timeout=60s", "") + "op_defaults timeout=90s\n"
    rc, out = check(load(tmp_path, text))
    assert rc == 0, out


def test_short_monitor_timeout_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "op monitor interval=20s timeout=30s",
                                           "op monitor interval=20s timeout=5s")))
    assert rc == 1 and "ERROR   p_director: monitor timeout 5s is below the agent's advised 30s" in out


def test_no_depth_10_director_monitor_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, " op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10", "")))
    assert rc == 1 and "ERROR   p_director: no depth-10 monitor" in out
    assert "fix: op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 on p_director" in out


def test_config_pull_without_promoted_monitor_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GIT, " op monitor interval=29s role=Promoted timeout=60s", "")))
    assert rc == 1 and "ERROR   p_config: no monitor for the Promoted role" in out
    assert "fix: op monitor interval=29s role=Promoted timeout=60s on p_config" in out


def test_iso8601_timeouts_are_read_not_skipped(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "op start timeout=60s op stop timeout=60s",
                                           "op start timeout=PT10S op stop timeout=PT1M")))
    assert rc == 1 and "ERROR   p_director: start timeout PT10S is below the agent's advised 60s" in out
    assert "p_director: stop" not in out
    rc, out = check(load(tmp_path, changed(GOOD, "op start timeout=60s", "op start timeout=PT1M30S"), "ok.xml"))
    assert rc == 0, out


def test_unparseable_timeout_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, changed(GOOD, "op start timeout=60s", "op start timeout=sixty")))
    assert rc == 1 and "ERROR   p_director: start timeout 'sixty' is not a duration" in out


# -- false alarms (issue 15.4) ------------------------------------------------------------
def test_an_unrelated_ipaddr2_is_not_reported(tmp_path):
    text = GOOD + "primitive p_web_ip IPaddr2 params ip=198.51.100.50 cidr_netmask=24 op monitor interval=10s\n"
    rc, out = check(load(tmp_path, text))
    assert rc == 0 and "p_web_ip" not in out and out.strip().endswith("0 error(s), 0 warning(s)"), out


def test_a_director_without_any_vip_is_warned_with_the_fix(tmp_path):
    text = changed(GOOD, "group g_bacula p_catalog p_director p_vip", "group g_bacula p_catalog p_director")
    rc, out = check(load(tmp_path, text))
    assert rc == 0 and "WARNING p_director: no floating IP runs with the Director" in out
    assert "fix: add the VIP to group g_bacula after p_director" in out


def test_watchdog_only_sbd_is_fencing(tmp_path):
    text = GOOD.replace(FENCING, "").replace("no-quorum-policy=stop", "no-quorum-policy=stop stonith-watchdog-timeout=10s")
    rc, out = check(load(tmp_path, text))
    assert rc == 0 and "fencing" not in out.replace("0 error(s)", ""), out
    rc, out = check(load(tmp_path, GOOD.replace(FENCING, ""), "none.xml"))
    assert rc == 1 and "ERROR   fencing: no usable fencing device is configured" in out


def test_a_non_cib_xml_file_is_refused(tmp_path):
    other = tmp_path / "pom.xml"
    other.write_text("<project><configuration><resources/></configuration></project>")
    rc, out = check(other)
    assert rc == 1 and "not a Pacemaker CIB: the root element is <project>, not <cib>" in out
    assert "error(s)" not in out and "Traceback" not in out


def test_unreadable_cib_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<cib><configuration>")
    rc, out = check(bad)
    assert rc == 1 and "cannot read the CIB" in out and "Traceback" not in out


# -- the Director's address (issue 15.2, seen from the CIB) ---------------------------------
@pytest.mark.parametrize("dir_address,finding", [
    ("", None),
    ("DirAddress = 127.0.0.1", "is a loopback address"),
    ("DirAddress = 198.51.100.100", "DirAddress 198.51.100.100 is the address of p_vip, which does not start "
                                    "before p_director"),
])
def test_director_address_against_the_vip(tmp_path, dir_address, finding):
    conf = tmp_path / "bacula-dir.conf"
    conf.write_text(f"Director {{\n  Name = d\n  {dir_address}\n  Password = x\n}}\n")
    cib = load(tmp_path, changed(GOOD, "config=/etc/bacula/bacula-dir.conf", f"config={conf}"))
    rc, out = check(cib, "--local-files")
    if finding is not None:
        assert check(cib)[0] == 0        # a CIB file from elsewhere: this machine's files say nothing
    if finding is None:
        assert rc == 0, out
        return
    assert rc == 1 and f"ERROR   p_director: {conf}: " in out and finding in out, out
    assert f"fix: remove DirAddress from {conf}" in out
    if "p_vip" in finding:
        assert "or in group g_bacula put p_vip before p_director" in out
        vip_first = changed(GOOD, "group g_bacula p_catalog p_director p_vip", "group g_bacula p_vip p_catalog p_director")
        rc, out = check(load(tmp_path, changed(vip_first, "config=/etc/bacula/bacula-dir.conf", f"config={conf}"),
                             "vipfirst.xml"), "--local-files")
        assert rc == 0, out
