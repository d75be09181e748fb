"""Installation the resource-agents way: staged (DESTDIR) and for real (crm, crm_resource)."""

import os
import subprocess

import pytest

from support.paths import AGENTS, ROOT


def staged_install(destdir, *extra):
    proc = subprocess.run(["make", "-s", "install", f"DESTDIR={destdir}", "PREFIX=/usr", "OCF_ROOT=/usr/lib/ocf", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_install_destdir_layout(tmp_path):
    staged_install(tmp_path)
    for name in AGENTS:
        path = tmp_path / "usr/lib/ocf/resource.d/bacula" / name
        assert path.is_file() and os.access(path, os.X_OK)
    assert (tmp_path / "usr/lib/ocf/lib/bacula/bacula_ha/ocf/agent.py").is_file()
    assert list((tmp_path / "usr/lib/ocf/lib/bacula/bacula_ha/ocf/__pycache__").glob("agent.*.pyc"))
    launcher = (tmp_path / "usr/sbin/bacula-ha").read_text()
    assert launcher.startswith("#!/usr/bin/python3\n") and "'/usr/lib/ocf/lib/bacula'" in launcher
    assert str(tmp_path) not in launcher  # DESTDIR never leaks into installed files


def test_production_install_leaves_the_lab_out(tmp_path):
    staged_install(tmp_path)
    library = tmp_path / "usr/lib/ocf/lib/bacula/bacula_ha"
    assert (library / "agents/director/actions.py").is_file()
    assert not (library / "lab").exists()
    # the installed CLI says why `lab` is missing instead of failing with a traceback
    proc = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from bacula_ha.admin.cli import main; sys.exit(main(['lab', 'status']))", str(library.parent)],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 1 and "the lab is not installed here" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_install_with_lab_adds_the_lab(tmp_path):
    staged_install(tmp_path, "WITH_LAB=1")
    assert (tmp_path / "usr/lib/ocf/lib/bacula/bacula_ha/lab/pid1.py").is_file()


def test_installed_agent_finds_its_library_without_the_checkout(tmp_path):
    staged_install(tmp_path)
    agent = tmp_path / "usr/lib/ocf/resource.d/bacula/bacula-director"
    # The relative lookup ../../lib/bacula works inside DESTDIR too: proves no checkout path is used.
    proc = subprocess.run([str(agent), "meta-data"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and "<resource-agent" in proc.stdout


def test_uninstall_removes_everything_it_installed(tmp_path):
    staged_install(tmp_path)
    proc = subprocess.run(["make", "-s", "uninstall", f"DESTDIR={tmp_path}", "PREFIX=/usr"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.root
def test_crm_sees_installed_agents():
    """`make test` installs first; crmsh and Pacemaker read our meta-data via ocf:bacula:*."""
    for name in AGENTS:
        info = subprocess.run(["crm", "ra", "info", f"ocf:bacula:{name}"], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert "Parameters (*: required, []: default)" in info.stdout
        meta = subprocess.run(["crm_resource", "--show-metadata", f"ocf:bacula:{name}"], capture_output=True,
                              text=True, timeout=60)
        assert meta.returncode == 0 and f'name="{name}"' in meta.stdout


@pytest.mark.root
def test_cli_launcher_installed_on_system_python():
    proc = subprocess.run(["/usr/local/sbin/bacula-ha", "version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("bacula-ha ")
    proc = subprocess.run(["/usr/local/sbin/bacula-ha", "meta-data", "bacula-catalog-check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and 'name="bacula-catalog-check"' in proc.stdout
