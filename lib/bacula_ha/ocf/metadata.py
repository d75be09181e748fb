# SPDX-License-Identifier: GPL-2.0-or-later
"""Meta-data XML, built with lxml from the agent's declarations.

The output validates against both resource-agents' ra-api-1.dtd (what
ocf-tester 4.12 checks, hence the DOCTYPE) and the OCF 1.1 RelaxNG schema.
OCF 1.1-only markup is mapped onto what both accept; see docs/metadata.md.
"""

from __future__ import annotations

DOCTYPE = '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">'
OCF_VERSION = "1.1"
LANG = "en"


def _describe(param) -> str:
    """Long description plus the facts the 1.1-only markup would otherwise carry."""
    text = param.longdesc.strip()
    extra = []
    if param.choices:
        extra.append("Allowed values: " + ", ".join(param.choices) + ".")
    if param.minimum is not None or param.maximum is not None:
        low = "" if param.minimum is None else f"at least {param.minimum}"
        high = "" if param.maximum is None else f"at most {param.maximum}"
        extra.append("Value: " + " and ".join(x for x in (low, high) if x) + ".")
    if param.secret:
        extra.append("Secret: never logged; keep it out of the CIB where possible (cibsecret).")
    return text + ("\n" + " ".join(extra) if extra else "")


def build_metadata(agent) -> str:
    """The XML for an ocf.agent.Agent (read through its attributes only: no import back to agent)."""
    from .thirdparty import load
    etree = load("lxml.etree")

    root = etree.Element("resource-agent", name=agent.name, version=agent.version)
    etree.SubElement(root, "version").text = OCF_VERSION
    etree.SubElement(root, "longdesc", lang=LANG).text = agent.longdesc.strip()
    etree.SubElement(root, "shortdesc", lang=LANG).text = agent.shortdesc.strip()

    params = etree.SubElement(root, "parameters")
    for param in agent.params:
        node = etree.SubElement(params, "parameter", name=param.name,
                                required="1" if param.required else "0",
                                unique="1" if param.unique else "0")
        etree.SubElement(node, "longdesc", lang=LANG).text = _describe(param)
        etree.SubElement(node, "shortdesc", lang=LANG).text = param.shortdesc.strip()
        content = etree.SubElement(node, "content", type=param.type)
        default = param.default_text()
        if default is not None:
            content.set("default", default)

    actions = etree.SubElement(root, "actions")
    for action in agent.actions:
        for entry in action.metadata_entries():
            etree.SubElement(actions, "action", **entry)

    # No encoding in the declaration: crmsh parses the text as a str, and lxml refuses a str
    # that declares an encoding ("Cannot parse meta-data XML").
    body = etree.tostring(root, pretty_print=True, encoding="unicode", doctype=DOCTYPE)
    return '<?xml version="1.0"?>\n' + body
