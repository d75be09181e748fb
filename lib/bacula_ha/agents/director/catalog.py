"""Can the Director reach its catalog? (monitor depth 20 and the start pre-check)

Why not a console command: `status dir` and `version` never touch the catalog,
and `list jobs` with the catalog down blocks for 30 s (the Director retries 6
times, 5 s apart) before bconsole even gets an answer. The Catalog resource
names the database, so we connect to it ourselves, bounded, as the Director
would: same address, port, user and password. psycopg is loaded only here
(it costs ~100 ms to import), never on the level-0 path.
"""

from __future__ import annotations

import socket
from typing import Optional

from ...ocf import thirdparty
from .settings import Catalog


def where(cat: Catalog) -> str:
    host = cat.host or cat.socket or "local socket"
    return f"{host}:{cat.port or 5432}/{cat.dbname}"


def reachable(cat: Catalog, timeout: float) -> Optional[str]:
    """Fast TCP pre-check (no psycopg): None when the catalog's port accepts, else why not.

    Only for TCP catalogs; a socket catalog is left to the full check.
    """
    if not cat.host or cat.host.startswith("/"):
        return None
    try:
        with socket.create_connection((cat.host, cat.port or 5432), timeout=max(0.1, timeout)):
            return None
    except socket.timeout:
        return f"catalog unreachable: connecting to {where(cat)} timed out"
    except OSError as exc:
        return f"catalog unreachable: {where(cat)}: {exc.strerror or exc}"


def check(cat: Catalog, timeout: float, full: bool = True) -> Optional[str]:
    """None when the catalog answers as a writable Bacula catalog, else the problem (one line).

    `full=False` only logs in (the start's pre-check: a wrong password or a missing
    database would otherwise cost 30 s of `bacula-dir -t` retries; schema version and
    writability are left to the Director, whose own message is the better reason).
    """
    psycopg = thirdparty.load("psycopg")
    host = cat.host or cat.socket or None
    try:
        conn = psycopg.connect(dbname=cat.dbname, user=cat.user, password=cat.password,
                               host=host, port=cat.port, autocommit=True,
                               connect_timeout=max(2, int(timeout)),
                               options=f"-c statement_timeout={max(100, int(timeout * 1000))}")
    except psycopg.Error as exc:
        text = _first_line(exc)
        if "authentication failed" in text or "does not exist" in text:
            return f"catalog refuses the Director's Catalog settings: {where(cat)}: {text}"
        return f"catalog unreachable: {where(cat)}: {text}"
    if not full:
        conn.close()
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VersionId FROM Version")
            row = cur.fetchone()
            if row is None:
                return f"catalog {where(cat)} has no Version row (not a Bacula catalog?)"
            cur.execute("SELECT pg_is_in_recovery()")
            if cur.fetchone()[0]:
                return f"catalog {where(cat)} is a read-only standby: the Director cannot record jobs"
    except psycopg.Error as exc:
        return f"catalog {where(cat)} query failed: {_first_line(exc)}"
    finally:
        conn.close()
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split()) if text else type(exc).__name__
