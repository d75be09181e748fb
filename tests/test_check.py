"""`bacula-ha check` against CIBs built by crmsh offline (Pacemaker's own CIB format)."""

import os
import subprocess

import pytest

from support.paths import ROOT

pytestmark = pytest.mark.scheduler

FENCING = """primitive st-ipmi-node1 stonith:fence_ipmilan params ip=198.51.100.201 username=admin \\
  password_script=/etc/cluster/ipmi-pass pcmk_host_list=node1 pcmk_delay_max=10s op monitor interval=60s
"""

GOOD = FENCING + """property cib-bootstrap-options: stonith-enabled=true no-quorum-policy=stop
primitive p_catalog ocf:bacula:bacula-catalog-check params host=/run/postgresql mode=local \\
  op monitor interval=10s timeout=30s op start timeout=60s
primitive p_director ocf:bacula:bacula-director params config=/etc/bacula/bacula-dir.conf \\
  op monitor interval=20s timeout=30s op start timeout=60s op stop timeout=60s
primitive p_vip IPaddr2 params ip=198.51.100.100 cidr_netmask=24 op monitor interval=10s
group g_bacula p_catalog p_director p_vip
"""

GIT = FENCING + """property cib-bootstrap-options: stonith-enabled=true
primitive p_config ocf:bacula:bacula-config-pull params repository=file:///srv/git/bacula-config.git \\
  op monitor interval=30s role=Unpromoted timeout=60s op monitor interval=29s role=Promoted timeout=60s
clone ms_config p_config meta promotable=true promoted-max=1
primitive p_director ocf:bacula:bacula-director op monitor interval=20s timeout=30s
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


def test_safe_group_passes(tmp_path):
    rc, out = check(load(tmp_path, GOOD))
    assert rc == 0, out
    assert out.strip().endswith("0 error(s), 0 warning(s)")


def test_git_architecture_passes(tmp_path):
    rc, out = check(load(tmp_path, GIT))
    assert rc == 0, out


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
    rc, out = check(load(tmp_path, GOOD.replace("stonith-enabled=true", "stonith-enabled=false")))
    assert rc == 1 and "ERROR   stonith-enabled: fencing is disabled" in out


def test_director_before_catalog_check_is_an_error(tmp_path):
    rc, out = check(load(tmp_path, GOOD.replace("group g_bacula p_catalog p_director p_vip",
                                                "group g_bacula p_director p_catalog p_vip")))
    assert rc == 1 and "p_director: not colocated with and ordered after catalog-check (p_catalog)" in out


def test_director_not_tied_to_promoted_config_pull_is_an_error(tmp_path):
    text = GIT.replace("ms_config:Promoted", "ms_config")
    rc, out = check(load(tmp_path, text))
    assert rc == 1 and "not colocated with and ordered after the promoted config-pull (p_config)" in out


def test_bad_parameter_value_and_short_timeout_and_no_monitor(tmp_path):
    text = GOOD.replace("mode=local", "mode=remote").replace(
        "op monitor interval=20s timeout=30s op start timeout=60s op stop timeout=60s", "op start timeout=10s")
    rc, out = check(load(tmp_path, text))
    assert rc == 1
    assert "p_catalog: parameter mode: 'remote' is not one of local, external" in out
    assert "p_director: start timeout 10s is below the agent's advised 60s" in out
    assert "p_director: no recurring monitor" in out


def test_two_nodes_without_fencing_delay_warns_and_strict_fails(tmp_path):
    rc, out = check(load(tmp_path, GOOD.replace(" pcmk_delay_max=10s", "")))
    assert rc == 0 and "both nodes may shoot each other" in out
    rc, _ = check(load(tmp_path, GOOD.replace(" pcmk_delay_max=10s", ""), "strict.xml"), "--strict")
    assert rc == 1


def test_unreadable_cib_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<cib><configuration>")
    rc, out = check(bad)
    assert rc == 1 and "cannot read the CIB" in out and "Traceback" not in out
