# SPDX-License-Identifier: GPL-2.0-or-later
"""A Bacula catalog on a private PostgreSQL, for catalog-check tests and benchmarks.

`CatalogServer` = PgCluster + Debian's catalog scripts + a libpq password file
(mode 0600) for the `bacula` user, and the agent parameters that reach it.
`fill_file_table()` makes a catalog "huge" quickly (generate_series) so that a
benchmark can compare checks on an empty and a large catalog.
"""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
from typing import Dict, Optional

from .pg import PgCluster


def write_passfile(directory: str, password: str, user: str = "bacula", name: str = "pgpass") -> str:
    """A libpq password file matching every host/port/database for `user` (mode 0600)."""
    path = os.path.join(directory, name)
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"*:*:*:{user}:{escaped}\n")
    os.chmod(path, 0o600)
    return path


class CatalogServer:
    """A started PostgreSQL holding a fresh Bacula catalog; `close()` stops and removes it."""

    def __init__(self, password: Optional[str] = None) -> None:
        self.password = password or "pw-" + secrets.token_hex(10)
        self.pg = PgCluster().init().start()
        try:
            self.pg.make_bacula_catalog(self.password)
            self.dir = tempfile.mkdtemp(prefix="bha-cat-")
            self.passfile = write_passfile(self.dir, self.password)
        except BaseException:
            self.pg.destroy()
            raise

    def params(self, **extra: object) -> Dict[str, object]:
        """Agent parameters for this catalog over TCP (scram), plus `extra`."""
        base: Dict[str, object] = {"host": "127.0.0.1", "port": self.pg.port, "passfile": self.passfile}
        base.update(extra)
        return base

    def close(self) -> None:
        self.pg.signal(signal.SIGCONT)  # a test may have frozen it
        self.pg.destroy()
        import shutil
        shutil.rmtree(getattr(self, "dir", ""), ignore_errors=True)


def fill_file_table(pg: PgCluster, rows: int, db: str = "bacula", jobs: int = 1000,
                    paths: int = 100_000, filenames: int = 500_000, timeout: float = 900) -> None:
    """Insert `rows` File rows (and the Job/Path/Filename rows they point at), then ANALYZE.

    On the reference machine 5 M File rows take about 35 s (the full run of bench/catalog_size.py).
    """
    sql = f"""
INSERT INTO Job (Job, Name, Type, Level, JobStatus, SchedTime)
  SELECT 'job.' || g, 'job' || g, 'B', 'F', 'T', now() FROM generate_series(1, {int(jobs)}) g;
INSERT INTO Path (Path) SELECT '/data/dir' || g || '/' FROM generate_series(1, {int(paths)}) g;
INSERT INTO Filename (Name) SELECT 'file' || g FROM generate_series(1, {int(filenames)}) g;
INSERT INTO File (FileIndex, JobId, PathId, FilenameId, LStat, Md5)
  SELECT g, 1 + g % {int(jobs)}, 1 + g % {int(paths)}, 1 + g % {int(filenames)},
         'P0A BAAA IGk B Po Po A 4 BAA I BgIbPN BgIbPN BgIbPN A A C', 'md5-' || g
  FROM generate_series(1, {int(rows)}) g;
ANALYZE Job; ANALYZE Path; ANALYZE Filename; ANALYZE File;
"""
    from .pg import PG_BIN
    result = pg._as_postgres([f"{PG_BIN}/psql", "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres",
                              "-d", db, "-w", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             check=False, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"filling the File table failed: {result.stderr.strip()}")
