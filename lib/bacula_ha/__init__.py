# SPDX-License-Identifier: GPL-2.0-or-later
"""bacula-ha: Pacemaker OCF resource agents for a highly available Bacula Director.

Import nothing heavy here: every agent action imports this package first,
and the monitor runs every few seconds on every node.

Package map (a test keeps it equal to the tree):

Runs inside Pacemaker, on every node (installed by ``make install``):
    ocf/                 the OCF 1.1 runtime: declared parameters -> meta-data,
                         validation, environment, deadlines, bounded commands, logging
    agents/              what each agent knows, called by the thin executables in agents/
      director/          bacula-director: start/stop/monitor of bacula-dir, the
                         in-process console (console.py), its catalog reach (catalog.py),
                         jobs a dead or stopped Director left running (jobs.py)
      catalog/           bacula-catalog-check: is the catalog usable? (probe.py: the one
                         catalog probe, also used by director/catalog.py; libpq.py)
      configpull/        bacula-config-pull: Git fetch, signature policy, atomic deploy

Admin tools, run by people (installed by ``make install``):
    admin/               the ``bacula-ha`` command and what it uses
      cli/               click commands: install, render, check, rejoin, lab
      render/            crm/pcs snippets per architecture from a site's values
      cibcheck/          ``bacula-ha check``: what in a CIB makes failover unsafe
      install.py         installs the agents, this library, man pages and completion
      manpage.py         ocf_bacula_*(7) from the agents' meta-data, bacula-ha(8) from the CLI
      completion.py      bash completion for bacula-ha (click's)
      rejoin.py          ``bacula-ha rejoin``: a former catalog primary follows the new one

Test rig (not installed on production nodes unless asked):
    lab/                 a multi-node cluster in Linux namespaces: node PID 1 (pid1.py),
                         virtual power switch (pdu.py), lab fence agent, the git
                         architecture's Patroni catalog (patroni.py), fault suite
      vm/                the same on two QEMU VMs with real DRBD: image build (image.py),
                         VMs (machine.py), the PDU's QEMU outlets (power.py), the host's
                         File and Storage daemon (client.py), faults, the local Vagrant
                         box for vagrant/ (box.py)

Flow: Pacemaker runs agents/bacula-director monitor -> ocf.agent dispatches to
agents.director.actions.monitor -> proc.py (/proc), console.py (the Director's
port) and catalog.py (agents.catalog.probe, PostgreSQL via libpq) -> an OCF exit code.
"""

__version__ = "0.1.0"
