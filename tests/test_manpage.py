# SPDX-License-Identifier: GPL-2.0-or-later
"""Man pages generated from the agents' meta-data (ocf_bacula_*(7)) and the CLI (bacula-ha(8))."""

import re
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from bacula_ha import __version__
from bacula_ha.admin import manpage
from support.paths import AGENTS, ROOT, agent_path


def render(text, tmp_path, name="page.7"):
    """groff's plain-text rendering, with every warning enabled; a warning fails the test."""
    page = tmp_path / name
    page.write_text(text)
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", str(page)],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return " ".join(proc.stdout.split())          # refilled text: compare words, not line breaks


@pytest.mark.parametrize("name", AGENTS)
def test_agent_page_has_every_parameter_and_action(name, tmp_path):
    xml = manpage.agent_metadata(Path(agent_path(name)))
    root = etree.fromstring(xml.encode())
    text = render(manpage.agent_manpage(xml, __version__, "2026-01-01"), tmp_path)
    assert f"ocf_bacula_{name} - {root.findtext('shortdesc')}" in text
    for param in root.findall("parameters/parameter"):
        shown = re.search(re.escape(param.get("name")) + r" " + re.escape(param.findtext("shortdesc")), text)
        assert shown, f"parameter {param.get('name')} missing from ocf_bacula_{name}(7)"
        default = param.find("content").get("default")
        if default:
            assert f'default "{default}"' in text
    for action in root.findall("actions/action"):
        assert f"{action.get('name')} {manpage.ACTION_TEXT[action.get('name')]}" in text
        assert f"Suggested minimum timeout: {action.get('timeout')}." in text
    assert f"primitive p_{name} ocf:bacula:{name}" in text and f"pcs resource create p_{name}" in text
    for param in root.findall("parameters/parameter[@required='1']"):
        assert f'params {param.get("name")}="string"' in text   # the crm example names required params


def test_text_that_looks_like_roff_stays_text(tmp_path):
    """A longdesc line starting with '.' or holding a backslash must not become a roff request."""
    xml = ('<resource-agent name="x"><shortdesc>short</shortdesc><longdesc>first\n.SH INJECTED\n'
           "'br\nC:\\path a-b</longdesc><parameters><parameter name=\"p\" required=\"1\">"
           '<longdesc>.TH BAD</longdesc><shortdesc>s</shortdesc><content type="string"/></parameter>'
           "</parameters><actions><action name=\"start\" timeout=\"5s\"/></actions></resource-agent>")
    text = render(manpage.agent_manpage(xml, "1", "2026-01-01"), tmp_path)
    assert "first .SH INJECTED 'br C:\\path a-b" in text
    assert ".TH BAD" in text


def test_bad_meta_data_is_an_error_not_a_page():
    with pytest.raises(manpage.ManpageError):
        manpage.agent_manpage("<not-xml", "1")
    with pytest.raises(manpage.ManpageError):
        manpage.agent_manpage("<other name='x'/>", "1")


def test_cli_page_lists_every_command_and_option(tmp_path):
    from bacula_ha.admin.cli import COMMANDS
    text = render(manpage.cli_manpage(__version__, "2026-01-01", AGENTS), tmp_path, "bacula-ha.8")
    assert "bacula-ha - High availability for the Bacula Director" in text
    for command in COMMANDS:
        assert re.search(rf"\b{re.escape(command)} (\[OPTIONS\]|COMMAND)", text), command
    for option in ("--values FILE", "--format [crm|pcs]", "--cib FILE", "--with-lab"):
        assert option in text
    for name in AGENTS:
        assert f"ocf_bacula_{name}(7)" in text
    assert "lab demo" not in text        # the lab's commands belong to the lab, not to production nodes


def test_build_date_is_reproducible(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert manpage.build_date() == "2023-11-14"


def test_man_finds_the_installed_pages(tmp_path):
    """`man ocf_bacula_bacula-director` works on what make install writes."""
    proc = subprocess.run(["make", "-s", "install", f"DESTDIR={tmp_path}", "PREFIX=/usr"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    mandir = tmp_path / "usr/share/man"
    for page, section in [(f"ocf_bacula_{a}", "7") for a in AGENTS] + [("bacula-ha", "8")]:
        found = subprocess.run(["man", "-M", str(mandir), "-w", page], capture_output=True, text=True, timeout=30)
        assert found.returncode == 0 and found.stdout.strip() == str(mandir / f"man{section}" / f"{page}.{section}")
