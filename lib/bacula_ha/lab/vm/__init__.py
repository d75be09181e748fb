# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab: the DRBD architecture on two QEMU virtual machines with real DRBD (see docs/lab.md)."""
