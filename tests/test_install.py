# SPDX-License-Identifier: GPL-2.0-or-later
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
    # no byte code shipped: it would be tied to one Python and owned by no package manifest
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".pyc" or p.name == "__pycache__"]
    for page in ["man7/ocf_bacula_bacula-director.7", "man8/bacula-ha.8"]:
        assert (tmp_path / "usr/share/man" / page).is_file()
    launcher = (tmp_path / "usr/sbin/bacula-ha").read_text()
    assert launcher.startswith("#!/usr/bin/python3\n") and "'/usr/lib/ocf/lib/bacula'" in launcher
    assert str(tmp_path) not in launcher  # DESTDIR never leaks into installed files


@pytest.mark.parametrize("ocf_root", ["usr/lib/ocf", "../escaped", "./x"])
def test_relative_ocf_root_is_refused_and_nothing_is_written(tmp_path, ocf_root):
    stage = tmp_path / "stage"
    proc = subprocess.run(["make", "-s", "install", f"DESTDIR={stage}", f"OCF_ROOT={ocf_root}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--ocf-root must be an absolute path" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.rglob("*")) == []


def test_dotdot_cannot_climb_out_of_destdir(tmp_path):
    stage = tmp_path / "stage"
    staged_install(stage / "", "OCF_ROOT=/../../escaped/ocf")
    assert [p.name for p in tmp_path.iterdir()] == ["stage"]
    assert (stage / "escaped/ocf/resource.d/bacula/bacula-director").is_file()


def test_bash_completion_asks_the_installed_cli(tmp_path):
    staged_install(tmp_path)
    script = (tmp_path / "usr/share/bash-completion/completions/bacula-ha").read_text()
    assert "_BACULA_HA_COMPLETE=bash_complete" in script and "complete -o nosort -F" in script
    env = {"PATH": "/usr/bin:/bin", "COMP_WORDS": "bacula-ha ren", "COMP_CWORD": "1",
           "_BACULA_HA_COMPLETE": "bash_complete", "PYTHONPATH": str(tmp_path / "usr/lib/ocf/lib/bacula")}
    proc = subprocess.run(["/usr/bin/python3", "-B", str(tmp_path / "usr/sbin/bacula-ha")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["plain,render"]


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


def test_installed_vm_lab_reads_the_shipped_drbd_resource_without_the_checkout(tmp_path):
    """`make demo-vm` runs the installed CLI: its VM lab writes crm-snippets/drbd-fencing.res into
    the guests, which an installed library must carry (no checkout beside it)."""
    staged_install(tmp_path, "WITH_LAB=1")
    library = tmp_path / "usr/lib/ocf/lib/bacula"
    proc = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from bacula_ha.lab.vm import config; print(config.shipped_res(), end='')", str(library)],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(ROOT, "crm-snippets", "drbd-fencing.res")) as f:
        assert proc.stdout == f.read()
    # a production install has no lab, hence no copy
    staged_install(tmp_path / "prod")
    assert not (tmp_path / "prod/usr/lib/ocf/lib/bacula/bacula_ha/lab").exists()


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
def test_man_finds_the_agents_pages_after_make_install():
    """`make test` installs first (PREFIX=/usr/local): `man ocf_bacula_bacula-director` must work."""
    for name in AGENTS:
        found = subprocess.run(["man", "-w", f"ocf_bacula_{name}"], capture_output=True, text=True, timeout=60)
        assert found.returncode == 0 and found.stdout.strip().endswith(f"/man7/ocf_bacula_{name}.7"), found.stderr


@pytest.mark.root
def test_cli_launcher_installed_on_system_python():
    proc = subprocess.run(["/usr/local/sbin/bacula-ha", "version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("bacula-ha ")
    proc = subprocess.run(["/usr/local/sbin/bacula-ha", "meta-data", "bacula-catalog-check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and 'name="bacula-catalog-check"' in proc.stdout


def test_pip_install_then_bacula_ha_install_gives_working_agents(tmp_path):
    """setup.cfg's promise: a pip install carries everything; `bacula-ha install` puts the agents in place."""
    src, prefix, stage = tmp_path / "src", tmp_path / "pip", tmp_path / "stage"
    src.mkdir()
    subprocess.run(f"tar -C {ROOT} --exclude=.git --exclude=__pycache__ --exclude=./dist --exclude=./build -cf - . "
                   f"| tar -C {src} -xf -", shell=True, check=True, timeout=120)
    proc = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--prefix", str(prefix), "."], cwd=src, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    site = next(prefix.rglob("bacula_ha/__init__.py")).parent.parent
    # the pip layout alone: the agents sit in share/bacula-ha/agents and cannot load their library
    shipped = next(prefix.rglob("share/bacula-ha/agents/bacula-director"))
    alone = subprocess.run(["/usr/bin/python3", "-B", "-I", "-S", str(shipped), "meta-data"],
                           capture_output=True, text=True, timeout=60)
    assert alone.returncode == 5 and "bacula_ha library not found" in alone.stderr
    script = next(prefix.rglob("bin/bacula-ha"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(["/usr/bin/python3", str(script), "install", "--destdir", str(stage), "--prefix", "/usr"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    for name in AGENTS:
        agent = stage / "usr/lib/ocf/resource.d/bacula" / name
        meta = subprocess.run(["/usr/bin/python3", "-B", "-I", "-S", str(agent), "meta-data"],
                              capture_output=True, text=True, timeout=60)
        assert meta.returncode == 0 and f'name="{name}"' in meta.stdout
    assert not (stage / "usr/lib/ocf/lib/bacula/bacula_ha/lab").exists()


@pytest.mark.parametrize("name", AGENTS)
def test_an_agent_symlinked_elsewhere_finds_its_library(name, tmp_path):
    """The bootstrap looks beside the agent's path first (no `os` import), then beside its
    target: an operator's symlink into resource.d keeps working."""
    from support.paths import agent_path
    link = tmp_path / "resource.d" / "site" / name
    link.parent.mkdir(parents=True)
    link.symlink_to(agent_path(name))
    proc = subprocess.run(["/usr/bin/python3", "-IS", str(link), "meta-data"], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert f'<resource-agent name="{name}"' in proc.stdout
