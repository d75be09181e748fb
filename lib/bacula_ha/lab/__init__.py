# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha lab`: a real multi-node Bacula HA cluster on one Linux machine.

Each node is a set of namespaces (net, UTS, IPC, mount, PID) with a small
init as PID 1 that runs corosync and pacemakerd; a bridge in a "switch"
network namespace connects them on 198.51.100.0/24.  A virtual power switch
(the PDU, :mod:`.pdu`) outside the nodes powers them off for real, driven by
a fence agent speaking the fence-agents protocol (:mod:`.fence`).

Modules, one job each:
  layout    names, addresses and paths of one lab
  registry  what a lab created, so teardown is complete even after a crash
  sh        running commands (bounded, logged)
  netns     network namespaces, the switch and the cables
  init      PID 1 of a node or lab host
  node      booting, killing and entering nodes
  pdu       the virtual power switch (a daemon in the switch namespace)
  fence     the fence agent (fence_bhlab) the nodes' fencers run
  cluster   corosync.conf, the seeded CIB, the Pacemaker configuration
  dirconf   the lab's Bacula Director configuration
  stacks    the drbd architecture (data, resources) and what all stacks share
  gitstack  the git architecture (catalog host, Git server)
  streamstack the streaming architecture (a PostgreSQL per node, PAF)
  rendered  the resources: the shipped snippets with lab values and documented overrides
  checks    console requests, catalog rows, "who runs the Director"
  faults    fault injection with measured recovery times
  lab       the Lab object behind the CLI
"""
