# SPDX-License-Identifier: GPL-2.0-or-later
"""Every agent's meta-data validates against ra-api-1.dtd (ocf-tester) AND the OCF 1.1 schema."""

import subprocess

import pytest

from support.agents import run_agent
from support.paths import AGENTS, OCF_RNG, RA_DTD_DIR
from bacula_ha.ocf.codes import Exit


@pytest.fixture(scope="module", params=AGENTS)
def metadata(request):
    result = run_agent(request.param, "meta-data", env={})
    assert result.rc == Exit.SUCCESS, result.stderr
    return result.stdout


def test_validates_against_ra_api_dtd(metadata):
    # Same call ocf-tester makes: the DOCTYPE resolves ra-api-1.dtd in its directory.
    proc = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=metadata, text=True,
                          capture_output=True, cwd=RA_DTD_DIR)
    assert proc.returncode == 0, proc.stderr


def test_validates_against_ocf_1_1_relaxng(metadata):
    proc = subprocess.run(["xmllint", "--noout", "--relaxng", OCF_RNG, "-"], input=metadata, text=True,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_declares_ocf_1_1_and_mandatory_actions(metadata):
    from lxml import etree
    # crmsh parses meta-data as text: a declared encoding makes lxml refuse it.
    assert metadata.startswith('<?xml version="1.0"?>\n')
    root = etree.fromstring(metadata.encode())
    assert root.findtext("version") == "1.1"
    actions = {a.get("name") for a in root.iter("action")}
    assert {"start", "stop", "monitor", "meta-data", "validate-all"} <= actions
    for param in root.iter("parameter"):
        assert param.findtext("shortdesc").strip() and param.findtext("longdesc").strip()


def test_every_default_parses_as_its_declared_type(metadata):
    from lxml import etree
    root = etree.fromstring(metadata.encode())
    for content in root.iter("content"):
        default = content.get("default")
        if default is None:
            continue
        if content.get("type") == "integer":
            int(default)
        elif content.get("type") == "boolean":
            assert default in ("true", "false")
