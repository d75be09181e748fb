# SPDX-License-Identifier: GPL-2.0-or-later
"""What the agent needs to know about one Director, from its parameters and configs.

Two levels, because a probe must work when the configuration directory is not
mounted: `locate()` finds the pid file (parameter, configuration, or what the
last start recorded under HA_RSCTMP) without failing; `resolve()` reads the
full picture (addresses, directories, console credentials, catalog) and raises
ConfError when a file cannot be read.
"""

from __future__ import annotations

import os

from .conf import Block, Config, ConfError, parse_file

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import List, Optional, Tuple

DEFAULT_PORT = 9101
DEFAULT_ADDRESS = "127.0.0.1"
# Debian's build defaults (bacula-dir -? shows none; these are the compiled-in paths)
DEFAULT_PID_DIR = "/run/bacula"
DEFAULT_WORKING_DIR = "/var/lib/bacula"
RUNTIME_STATE = "runtime"
JOBS_MARKER = "interrupted-jobs"   # a start recorded interrupted jobs the monitors settle (jobs.py)


class Catalog:
    """The Catalog resource: where the Director's database is."""

    def __init__(self, name: str, dbname: str, host: str, port: Optional[int], user: str,
                 password: str, socket: str = "") -> None:
        self.name, self.dbname, self.host, self.port = name, dbname, host, port
        self.user, self.password, self.socket = user, password, socket

    def __repr__(self) -> str:   # never the password
        return f"Catalog({self.name!r}, {self.host}:{self.port}/{self.dbname})"


class DirectorSettings:
    """One Director as the agent sees it."""

    def __init__(self, config: str, name: str, pidfile: str, address: str, port: int,
                 listen: List[Tuple[str, int]], working_dir: str, pid_dir: str) -> None:
        self.config = config
        self.name = name
        self.pidfile = pidfile
        self.address = address              # where checks connect
        self.port = port
        self.listen = listen                # where the Director binds (port-taken check)
        self.working_dir = working_dir
        self.pid_dir = pid_dir
        self.console_name = ""
        self.console_password = ""
        self.catalog: Optional[Catalog] = None

    def __repr__(self) -> str:   # never the passwords
        return f"DirectorSettings({self.config!r}, pidfile={self.pidfile!r}, {self.address}:{self.port})"


def _int(value: Optional[str], what: str) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfError(f"{what} {value!r} is not a number") from None


def _director(conf: Config) -> Block:
    res = conf.first("Director")
    if res is None:
        raise ConfError(f"{conf.path} has no Director resource")
    return res


def _listen(director: Block) -> List[Tuple[str, int]]:
    """DirAddresses = { ip = { addr = A; port = P } ... }, else DirAddress/DIRport."""
    port = _int(director.get("dirport"), "DIRport") or DEFAULT_PORT
    out: List[Tuple[str, int]] = []
    for key, block in director.values:
        if key != "diraddresses":
            continue
        for _kind, sub in block.values:
            addr = sub.get("addr") or "0.0.0.0"
            out.append((addr, _int(sub.get("port"), "DirAddresses port") or port))
    if not out:
        out.append((director.get("diraddress") or "0.0.0.0", port))
    return out


def _check_address(listen: List[Tuple[str, int]]) -> str:
    addr = listen[0][0]
    return DEFAULT_ADDRESS if addr in ("0.0.0.0", "", "::", "*") else addr


def from_director_config(conf: Config) -> Tuple[str, str, int, List[Tuple[str, int]], str, str]:
    """(name, pidfile, port, listen, working_dir, pid_dir) as bacula-dir itself derives them."""
    director = _director(conf)
    listen = _listen(director)
    port = _int(director.get("dirport"), "DIRport") or listen[0][1]
    pid_dir = director.get("piddirectory") or DEFAULT_PID_DIR
    pidfile = os.path.join(pid_dir, f"bacula-dir.{port}.pid")
    return (director.name or "", pidfile, port, listen,
            director.get("workingdirectory") or DEFAULT_WORKING_DIR, pid_dir)


def catalog_of(conf: Config) -> Optional[Catalog]:
    res = conf.first("Catalog")
    if res is None:
        return None
    return Catalog(
        name=res.name or "",
        dbname=res.get("dbname") or "bacula",
        host=res.get("dbaddress") or "",
        port=_int(res.get("dbport"), "DB Port"),
        user=res.get("dbuser") or res.get("user") or "bacula",
        password=res.get("dbpassword") or res.get("password") or "",
        socket=res.get("dbsocket") or "",
    )


def console_credentials(path: str, director_name: str) -> Tuple[str, str, Optional[str], Optional[int]]:
    """(console name, password, address, port) from a bconsole-format file.

    Like bconsole: a Console resource (for our Director, else the first) means
    a named console with its own password; otherwise the default console
    `*UserAgent*` with the Director resource's password.
    """
    conf = parse_file(path)
    directors = conf.of("Director")
    if not directors:
        raise ConfError(f"{path} has no Director resource")
    director = next((d for d in directors if d.name == director_name), directors[0])
    consoles = conf.of("Console")
    console = next((c for c in consoles if c.get("director") in (None, director.name)), None)
    address = director.get("address")
    port = _int(director.get("dirport"), "DIRport")
    if console is not None:
        password = console.get("password")
        if not password:
            raise ConfError(f"{path}: Console {console.name!r} has no Password")
        return console.name or "", password, address, port
    password = director.get("password")
    if not password:
        raise ConfError(f"{path}: Director {director.name!r} has no Password")
    return "*UserAgent*", password, address, port


def resolve(params, with_console: bool = True, with_catalog: bool = False) -> DirectorSettings:
    """Everything about the Director (reads the config; ConfError when it cannot)."""
    conf = parse_file(params.config)
    name, pidfile, port, listen, working_dir, pid_dir = from_director_config(conf)
    settings = DirectorSettings(config=params.config, name=name, pidfile=params.pidfile or pidfile,
                        address=params.address or _check_address(listen),
                        port=params.port or port, listen=listen,
                        working_dir=working_dir, pid_dir=pid_dir)
    if with_console:
        cname, password, _addr, _port = console_credentials(params.console_config, name)
        settings.console_name, settings.console_password = cname, password
    if with_catalog:
        settings.catalog = catalog_of(conf)
    return settings


def for_checks(params, state) -> DirectorSettings:
    """DirectorSettings for a console check: the start's record plus the console config (small),
    so the monitor does not re-read a big Director configuration; resolve() without a record."""
    record = load_runtime(state)
    if not (record and record.get("config") == params.config and record.get("pidfile") and record.get("port")):
        return resolve(params, with_console=True)
    settings = DirectorSettings(config=params.config, name=record.get("name") or "",
                        pidfile=params.pidfile or record["pidfile"],
                        address=params.address or record.get("address") or DEFAULT_ADDRESS,
                        port=params.port or record["port"], listen=[], working_dir="", pid_dir="")
    settings.console_name, settings.console_password, _a, _p = console_credentials(params.console_config,
                                                                                 settings.name)
    return settings


class Located:
    """Just enough to find the process: works without the configuration."""

    def __init__(self, pidfile: Optional[str], address: Optional[str], port: Optional[int],
                 source: str) -> None:
        self.pidfile, self.address, self.port, self.source = pidfile, address, port, source


def locate(params, state) -> Located:
    """The pid file and check address: from the last start's record, else the config.

    The record comes first because it describes the process that runs (the pid
    file it wrote at start), and because it is cheap: a 10,000-client config is
    tens of MB that the level-0 monitor should not parse every 20 s. Without a
    record (node rebooted, HA_RSCTMP cleared) the config is read; without a
    readable config (not mounted) the caller falls back to a /proc scan.
    """
    address = params.address or None
    port = params.port or None
    record = load_runtime(state)
    if record and record.get("config") == params.config and record.get("pidfile"):
        return Located(params.pidfile or record["pidfile"], address or record.get("address"),
                       port or record.get("port"), "state")
    try:
        conf = parse_file(params.config)
        _name, pidfile, cport, listen, _wd, _pd = from_director_config(conf)
        return Located(params.pidfile or pidfile, address or _check_address(listen),
                       port or cport, "config")
    except ConfError:
        pass
    return Located(params.pidfile or None, address, port, "params")


def save_runtime(state, settings: DirectorSettings) -> None:
    """Remember where this start put the pid file (for stop/probe without the config)."""
    record = {"config": settings.config, "pidfile": settings.pidfile,
              "address": settings.address, "port": str(settings.port), "name": settings.name}
    if any("\n" in v for v in record.values()):
        return
    try:
        state.write(RUNTIME_STATE, "".join(f"{k}={v}\n" for k, v in record.items()))
    except OSError:
        pass   # only an optimisation for later probes; never fail a start for it


def load_runtime(state) -> Optional[dict]:
    """The record save_runtime wrote (key=value lines: json costs a probe milliseconds)."""
    try:
        text = state.read(RUNTIME_STATE)
    except OSError:
        return None
    if not text:
        return None
    record = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        record["port"] = int(record["port"]) if record.get("port") else None
    except ValueError:
        record["port"] = None
    return record


__all__ = ["DirectorSettings", "Catalog", "Located", "resolve", "locate", "save_runtime", "load_runtime",
           "console_credentials", "catalog_of", "from_director_config", "ConfError"]
