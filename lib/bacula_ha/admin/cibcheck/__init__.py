# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha check`: does a CIB run the Director stack safely?

Pure functions over the CIB XML (live from `cibadmin -Q` or a file), so the same checks
run against a live cluster, a shadow CIB or a rendered snippet loaded offline.
"""
