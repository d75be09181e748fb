# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian packages: built with dpkg-buildpackage from a copy of the tree, their contents checked.

One build per test run (module fixture, about 20 s): the checkout itself gets no
build artifacts. bacula-ha carries what a production node runs; the lab (a test
rig) is only in bacula-ha-lab.
"""

import re
import subprocess
from pathlib import Path

import pytest

from bacula_ha import __version__
from support.paths import AGENTS, ROOT

LIBRARY = "usr/lib/ocf/lib/bacula/bacula_ha"
RUNTIME_DEPENDS = ("python3", "python3-click", "libpq5", "python3-lxml", "resource-agents")


def _checkout_state():
    listing = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    parent = sorted(p.name for p in Path(ROOT).parent.glob("bacula-ha*_*"))
    return listing.stdout, parent


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("debs")
    before = _checkout_state()
    proc = subprocess.run(["sh", str(Path(ROOT) / ".ci" / "build-deb"), str(out)], capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _checkout_state() == before, "the package build left files in (or beside) the checkout"
    found = {p.name.split("_")[0]: p for p in out.glob("*.deb")}
    assert sorted(found) == ["bacula-ha", "bacula-ha-lab"]
    return found


def contents(deb):
    """{path: mode string} of a .deb's data, paths without the leading './'."""
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    files = {}
    for line in listing.stdout.splitlines():
        fields = line.split()
        files[fields[-1].lstrip("./").rstrip("/") if fields[-1] != "./" else ""] = fields[0]
    return files


def field(deb, name):
    proc = subprocess.run(["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip()


def test_production_package_has_agents_library_cli_manpages_completion(debs):
    files = contents(debs["bacula-ha"])
    for name in AGENTS:
        assert files[f"usr/lib/ocf/resource.d/bacula/{name}"] == "-rwxr-xr-x"
        assert f"usr/share/man/man7/ocf_bacula_{name}.7.gz" in files
    for module in ("ocf/agent.py", "agents/director/actions.py", "agents/catalog/probe.py", "admin/cli/__init__.py"):
        assert f"{LIBRARY}/{module}" in files
    assert files["usr/sbin/bacula-ha"] == "-rwxr-xr-x"
    assert "usr/share/man/man8/bacula-ha.8.gz" in files
    assert "usr/share/bash-completion/completions/bacula-ha" in files
    assert "usr/share/doc/bacula-ha/copyright" in files


def test_production_package_has_no_lab_and_no_byte_code(debs):
    files = contents(debs["bacula-ha"])
    assert not [p for p in files if p.startswith(f"{LIBRARY}/lab")]
    assert not [p for p in files if p.endswith(".pyc") or "__pycache__" in p]


def test_lab_package_holds_the_lab_only(debs):
    files = [p for p, mode in contents(debs["bacula-ha-lab"]).items() if not mode.startswith("d")]
    code = [p for p in files if not p.startswith("usr/share/doc/")]
    assert f"{LIBRARY}/lab/pid1.py" in code and f"{LIBRARY}/lab/pdu.py" in code
    # Python modules, and the VM lab's copy of the shipped DRBD resource (it writes it into its guests)
    assert all(p.startswith(f"{LIBRARY}/lab/") and p.endswith(".py") for p in code
               if p != f"{LIBRARY}/lab/vm/drbd-fencing.res"), code
    assert f"{LIBRARY}/lab/vm/drbd-fencing.res" in code
    assert field(debs["bacula-ha-lab"], "Depends").startswith(f"bacula-ha (= {__version__})")


def test_dependencies_are_debian_packages(debs):
    depends = [d.split()[0] for d in field(debs["bacula-ha"], "Depends").split(", ")]
    assert set(RUNTIME_DEPENDS) <= set(depends)
    assert "pacemaker" in field(debs["bacula-ha"], "Recommends")
    assert field(debs["bacula-ha"], "Architecture") == "all"
    assert field(debs["bacula-ha"], "Version") == __version__


def test_unpacked_package_works_without_the_checkout(debs, tmp_path):
    """Agents find the library inside the unpacked tree; man finds the pages; the CLI says the lab is absent."""
    subprocess.run(["dpkg-deb", "-x", str(debs["bacula-ha"]), str(tmp_path)], check=True, timeout=60)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    for name in AGENTS:
        proc = subprocess.run(["/usr/bin/python3", "-B", "-I", "-S", str(tmp_path / "usr/lib/ocf/resource.d/bacula" / name),
                               "meta-data"], capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0 and f'<resource-agent name="{name}"' in proc.stdout
        found = subprocess.run(["man", "-M", str(tmp_path / "usr/share/man"), "-w", f"ocf_bacula_{name}"],
                               capture_output=True, text=True, timeout=60, env=env)
        assert found.returncode == 0 and found.stdout.strip().endswith(f"man7/ocf_bacula_{name}.7.gz")
    launcher = (tmp_path / "usr/sbin/bacula-ha").read_text()
    assert launcher.startswith("#!/usr/bin/python3\n") and "'/usr/lib/ocf/lib/bacula'" in launcher
    proc = subprocess.run(["/usr/bin/python3", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from bacula_ha.admin.cli import main; sys.exit(main(['lab', 'status']))",
                           str(tmp_path / "usr/lib/ocf/lib/bacula")], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1 and "the lab is not installed here" in proc.stderr


def test_built_maintainer_scripts_compile_then_remove_byte_code(debs, tmp_path):
    """The .deb's own postinst/prerm, pointed at the unpacked tree: caches appear, then are gone."""
    root, control = tmp_path / "root", tmp_path / "control"
    subprocess.run(["dpkg-deb", "-x", str(debs["bacula-ha"]), str(root)], check=True, timeout=60)
    subprocess.run(["dpkg-deb", "-e", str(debs["bacula-ha"]), str(control)], check=True, timeout=60)
    library = root / LIBRARY

    def run(script, *args):
        text = (control / script).read_text().replace("/usr/lib/ocf/", f"{root}/usr/lib/ocf/")
        proc = subprocess.run(["sh", "-c", text, script, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

    run("postinst", "configure")
    assert list((library / "ocf" / "__pycache__").glob("agent.cpython-*.pyc"))
    run("prerm", "remove")
    assert not list(library.rglob("__pycache__"))


def test_maintainer_scripts_compile_and_clean_byte_code():
    """postinst compiles the library (no .pyc in the .deb), prerm removes the caches dpkg does not own."""
    debian = Path(ROOT) / "debian"
    for package, path in (("bacula-ha", LIBRARY), ("bacula-ha-lab", f"{LIBRARY}/lab")):
        postinst = (debian / f"{package}.postinst").read_text()
        prerm = (debian / f"{package}.prerm").read_text()
        assert f"-m compileall -q /{path} " in postinst and "#DEBHELPER#" in postinst
        assert f"find /{path} -type d -name __pycache__" in prerm and "#DEBHELPER#" in prerm
        for script in (postinst, prerm):
            assert subprocess.run(["sh", "-n"], input=script, text=True, timeout=30).returncode == 0
        lint = subprocess.run(["shellcheck", "-s", "sh", debian / f"{package}.postinst", debian / f"{package}.prerm"],
                              capture_output=True, text=True, timeout=60)
        assert lint.returncode == 0, lint.stdout


def test_versions_agree_everywhere():
    """debian/changelog, bacula_ha.__version__, CHANGELOG.md and the agents' meta-data version."""
    top = (Path(ROOT) / "debian/changelog").read_text().splitlines()[0]
    assert re.match(r"^bacula-ha \(([^)]+)\)", top).group(1) == __version__
    assert re.search(rf"^## {re.escape(__version__)}\b", (Path(ROOT) / "CHANGELOG.md").read_text(), re.M)
    for name in AGENTS:
        assert f'version="{__version__}"' in (Path(ROOT) / "agents" / name).read_text()
