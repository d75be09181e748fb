# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/production.md and the scripts it shows stay one source.

The guide's shell steps are vagrant/provision/step-*.sh, shown verbatim; the Vagrant
provisioning runs the same files. Rewrite the guide's copies after changing a script with
`/usr/bin/python3 tests/support/guide.py`.
"""

from __future__ import annotations

import os
import re

import pytest

from support.guide import GUIDE, fill, includes
from support.paths import ROOT
from support.steps import PROVISION, STEP_SCRIPTS as STEPS, site_variables_read
# Steps the Vagrant cluster cannot run, and why.
NOT_IN_VAGRANT = {"step-fencing-ipmi.sh": "the VMs have no BMC (they fence with sbd or fence_virsh)"}


def _guide() -> str:
    with open(GUIDE) as fh:
        return fh.read()


def test_every_step_script_is_in_the_guide_once():
    shown = [os.path.basename(path) for path, _ in includes(_guide())]
    assert sorted(shown) == sorted(os.path.basename(s) for s in STEPS)


@pytest.mark.parametrize("path, shown", includes(_guide()), ids=lambda v: os.path.basename(v)[:40])
def test_guide_shows_the_script_verbatim(path, shown):
    with open(os.path.join(ROOT, path)) as fh:
        assert shown == fh.read(), f"{path} differs from the guide: run /usr/bin/python3 tests/support/guide.py"


def test_guide_is_up_to_date_as_a_whole():
    assert fill(_guide()) == _guide()


def test_every_bash_block_is_a_script():
    """Shell steps live in scripts; the guide's other blocks are files or one-off commands."""
    text = _guide()
    bash_blocks = len(re.findall(r"^```bash$", text, re.M))
    assert bash_blocks == len(includes(text))


def _provisioning_code() -> str:
    """director.sh and cluster.sh without their comments."""
    code = []
    for script in ("director.sh", "cluster.sh"):
        with open(os.path.join(PROVISION, script)) as fh:
            code += [re.sub(r"(^|\s)#.*$", "", line) for line in fh]
    return "\n".join(code)


@pytest.mark.parametrize("step", [s for s in STEPS if os.path.basename(s) not in NOT_IN_VAGRANT],
                         ids=os.path.basename)
def test_vagrant_provisioning_runs_the_step(step):
    assert os.path.basename(step) in _provisioning_code()


def test_steps_vagrant_cannot_run_are_real_and_not_run():
    names = {os.path.basename(s) for s in STEPS}
    for name in NOT_IN_VAGRANT:
        assert name in names and name not in _provisioning_code()


def test_site_env_examples_define_what_the_steps_read():
    text = _guide()
    blocks = re.findall(r"<!-- site.env -->\n```\n(.*?)```", text, re.S)
    assert blocks
    defined = {m.group(1) for block in blocks for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=", block, re.M)}
    for step in STEPS:
        used = site_variables_read(step)
        assert used <= defined, (os.path.basename(step), used - defined)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_resolve():
    text = _guide()
    anchors = {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", text):
        path, _, anchor = target.partition("#")
        if path.startswith("http"):
            continue
        if path:
            assert os.path.exists(os.path.join(os.path.dirname(GUIDE), path)), target
        elif anchor:
            assert anchor in anchors, target


def test_readme_links_the_guide():
    with open(os.path.join(ROOT, "README.md")) as fh:
        readme = fh.read()
    assert "(docs/production.md)" in readme
