# SPDX-License-Identifier: GPL-2.0-or-later
"""What the benchmarks need, made once per run and always torn down.

Reuses the test suite's helpers (tests/support: private PostgreSQL clusters,
DirectorLab, CatalogServer, git repositories) so the benchmarks drive exactly
what the tests drive. Everything is registered on one ExitStack: bench/run
closes it on success, failure and Ctrl-C. A missing prerequisite raises
Unavailable, which the benchmark turns into "not measured: <reason>".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import Callable, Dict, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
for _path in (TESTS, os.path.join(ROOT, "lib")):   # tests/support, and the checkout's bacula_ha
    if _path not in sys.path:
        sys.path.insert(0, _path)

PYTHON = "/usr/bin/python3"
PYTHON_BASELINE = (PYTHON, "-I", "-S", "-c", "pass")
DUMMY = "/usr/lib/ocf/resource.d/heartbeat/Dummy"
PGSQL_RA = "/usr/lib/ocf/resource.d/heartbeat/pgsql"
BACULA_DIR = "/usr/sbin/bacula-dir"
BCONSOLE = "/usr/sbin/bconsole"
AGENTS = ("bacula-director", "bacula-catalog-check", "bacula-config-pull")


class Unavailable(Exception):
    """A prerequisite of a benchmark is missing; the message is the row's reason."""


class Bench:
    """Run-wide settings, a scratch directory, and lazily made shared daemons."""

    def __init__(self, quick: bool, agents_dir: str, log: Callable[[str], None]) -> None:
        self.quick = quick
        self.agents_dir = agents_dir
        self.log = log
        self.stack = contextlib.ExitStack()
        # bacula-dir runs as `bacula` and PostgreSQL as `postgres`: every ancestor
        # of the scratch dir must be searchable by them (mkdtemp's 0700 is not).
        self.tmp = tempfile.mkdtemp(prefix="bha-bench-")
        os.chmod(self.tmp, 0o755)
        self.stack.callback(shutil.rmtree, self.tmp, True)
        self._cache: Dict[str, object] = {}

    # -- run sizes -------------------------------------------------------------
    def runs(self, full: int, quick: int = 3) -> int:
        return quick if self.quick else full

    @property
    def warmup(self) -> int:
        return 1 if self.quick else 3

    def path(self, *parts: str) -> str:
        """A file path in the scratch directory (its directory made)."""
        path = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def dir(self, *parts: str) -> str:
        """A directory in the scratch directory, made (mode 0755: daemons' users traverse it)."""
        path = os.path.join(self.tmp, *parts)
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def agent(self, name: str) -> str:
        return os.path.join(self.agents_dir, name)

    def close(self) -> None:
        self.stack.close()

    def _once(self, key: str, make: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- prerequisites -----------------------------------------------------------
    @staticmethod
    def require_root() -> None:
        if os.geteuid() != 0:
            raise Unavailable("needs root (PostgreSQL runs as postgres, bacula-dir as bacula)")

    @staticmethod
    def require_file(path: str, what: str) -> None:
        if not os.access(path, os.X_OK):
            raise Unavailable(f"{what} not installed ({os.path.basename(path)} missing)")

    # -- shared daemons ---------------------------------------------------------------
    def catalog(self, name: str, fill_rows: int = 0):
        """A started CatalogServer (tests/support/catalog.py), File table filled with `fill_rows`."""
        def make():
            self.require_root()
            try:
                from support.catalog import CatalogServer, fill_file_table
            except ImportError as exc:
                raise Unavailable(f"tests/support/catalog.py not importable: {exc}")
            server = CatalogServer()
            self.stack.callback(server.close)
            if fill_rows:
                self.log(f"filling the File table of catalog '{name}' with {fill_rows:,} rows")
                fill_file_table(server.pg, fill_rows)
            return server
        return self._once(f"catalog:{name}", make)

    def director_lab(self):
        """A DirectorLab (tests/support/director.py) on its own PostgreSQL; not started."""
        def make():
            self.require_root()
            self.require_file(BACULA_DIR, "bacula-director")
            try:
                from support.director import DirectorLab
                from support.pg import PgCluster
            except ImportError as exc:
                raise Unavailable(f"tests/support/director.py not importable: {exc}")
            pg = PgCluster(base=self._pg_base("director-pg")).init().start()
            self.stack.callback(pg.destroy)
            lab = DirectorLab(self.path("director", "x"), pg)
            self.stack.callback(lab.cleanup)
            return lab
        return self._once("director", make)

    def _pg_base(self, name: str) -> str:
        base = os.path.join(self.tmp, name)
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)
        return base

    def git_repo(self, name: str):
        """A bare remote and a work clone (tests/support/gitrepo.py)."""
        def make():
            try:
                from support.gitrepo import Repo
            except ImportError as exc:
                raise Unavailable(f"tests/support/gitrepo.py not importable: {exc}")
            if shutil.which("git") is None:
                raise Unavailable("git not installed")
            return Repo(self.dir("git", name))
        return self._once(f"git:{name}", make)


def ocf_env(params: Dict[str, object], *, rsctmp: str, instance: str = "bench", interval_ms: int = 0,
            check_level: Optional[int] = None, role: str = "", timeout_ms: int = 60000) -> Dict[str, str]:
    """The environment pacemaker-execd gives an agent (tests/support/agents.py's ocf_env)."""
    from support.agents import ocf_env as support_env
    return support_env(params, instance=instance, timeout_ms=timeout_ms, interval_ms=interval_ms,
                       check_level=check_level, role=role, rsctmp=rsctmp)
