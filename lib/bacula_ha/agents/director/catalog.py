# SPDX-License-Identifier: GPL-2.0-or-later
"""Can the Director reach its catalog? (monitor depth 20 and the start pre-check)

Why not a console command: `status dir` and `version` never touch the catalog,
and `list jobs` with the catalog down blocks for 30 s (the Director retries 6
times, 5 s apart) before bconsole even gets an answer. The Catalog resource
names the database, so we connect to it ourselves as the Director would (same
address, port, user and password), with the one catalog probe that
bacula-catalog-check uses too (agents/catalog/probe.py): bounded by the
deadline whatever the server does, decided on the failure's kind.
"""

from __future__ import annotations

from ..catalog.errors import Target
from .settings import Catalog

APPLICATION_NAME = "bacula-director-check"


def check(cat: Catalog, timeout: float, full: bool = True) -> None:
    """Return when the catalog answers as a writable Bacula catalog; CheckFailure otherwise.

    `full=False` only logs in (the start's pre-check: a wrong password or a missing
    database would otherwise cost 30 s of `bacula-dir -t` retries; role and schema
    version are left to the Director, whose own message is the better reason).
    The expected VersionId is what the installed Director's catalog script says;
    without the script any single Version row passes.
    """
    from ..catalog.probe import ProbeSettings, check as probe
    expected = None
    if full:
        from ..catalog import version
        try:
            expected = version.discover()[0]
        except version.VersionUnknown:
            expected = None
    settings = ProbeSettings(Target(cat.host or cat.socket, int(cat.port or 5432), cat.dbname, cat.user),
                             password=cat.password, connect_timeout=max(1.0, timeout),
                             expected_version=expected, login_only=not full,
                             application_name=APPLICATION_NAME)
    probe(settings, timeout)

