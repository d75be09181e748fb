"""bacula-ha: Pacemaker OCF resource agents for a highly available Bacula Director.

Import nothing heavy here: every agent action imports this package first,
and the monitor runs every few seconds on every node.
"""

__version__ = "0.1.0"
