# SPDX-License-Identifier: GPL-2.0-or-later
"""Can clients reach the Director where it will listen? (DirAddress mistakes)

File daemons, Storage daemons, bconsole and BWeb reach the Director through
the floating IP. Two Bacula configurations break that and are common when a
single-node setup is made highly available:

* `DirAddress = 127.0.0.1` (or localhost, ::1): the Director answers only on
  the node itself; every console check of this agent passes, every client
  fails. Wrong wherever the file is used: refused by validate-all and start.
* `DirAddress = <the VIP>` while the group starts the Director before the
  IPaddr2 resource: the address is on no interface yet, bind() fails with
  EADDRNOTAVAIL. Whether an address is on this node depends on the node and
  the moment, so validate-all warns and start refuses with the reason and the
  fix, instead of letting bacula-dir die on its bind.

Exit codes: ERR_ARGS (hard, this node). The Director's configuration is a
node-local file (mounted, pulled or copied per node; see actions.py), so a
wrong one bans this node and lets Pacemaker try the others; where every
node has the same file, the resource ends stopped with this reason.
"""

from __future__ import annotations

from ...ocf.codes import Exit, OcfError
from . import proc

TYPE_CHECKING = False   # the one convention: `typing` stays off the probe's import path
if TYPE_CHECKING:  # pragma: no cover
    from typing import List, Optional, Tuple

WILDCARDS = ("", "0.0.0.0", "::", "*")
#: Names every resolver maps to the loopback interface (RFC 6761 reserves *.localhost).
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6",
                  "ip6-localhost", "ip6-loopback")
UNSET_HINT = "remove DirAddress (the Director then listens on all addresses, the floating IP included)"


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, ::ffff:127.x or a name that always means this host."""
    addr = address.strip().lower().strip("[]")
    if addr in LOOPBACK_NAMES or addr.endswith(".localhost"):
        return True
    import ipaddress
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def loopback_only(listen: List[Tuple[str, int]]) -> Optional[str]:
    """The reason when no listen address can be reached from another host, else None."""
    if not listen or not all(is_loopback(addr) for addr, _port in listen):
        return None
    shown = ", ".join(sorted({addr for addr, _port in listen}))
    return (f"DirAddress {shown} is a loopback address: File and Storage daemons and consoles cannot "
            f"reach the Director through the floating IP; {UNSET_HINT}")


def bind_problems(listen: List[Tuple[str, int]]) -> List[Tuple[str, str]]:
    """(kind, reason) for each listen address the Director could not bind on this node now."""
    found: List[Tuple[str, str]] = []
    for addr, port in listen:
        bind_addr = "0.0.0.0" if addr in WILDCARDS else addr.strip("[]")
        try:
            state = proc.bind_probe(bind_addr, port)
        except OSError as exc:
            found.append(("error", f"cannot test {addr}:{port}: {exc.strerror or exc}"))
            continue
        if state == proc.BIND_IN_USE:
            holder = proc.listener_of(port)
            found.append((state, f"port {addr or bind_addr}:{port} is already in use"
                                 f"{' by ' + holder if holder else ''}: the Director cannot listen"))
        elif state == proc.BIND_NOT_LOCAL:
            found.append((state, f"DirAddress {addr} is not an address of this node, so the Director cannot "
                                 f"listen on it; if it is the floating IP, the Director starts before it: "
                                 f"{UNSET_HINT}, or order the IPaddr2 resource before the Director"))
        elif state == proc.BIND_UNRESOLVED:
            found.append((state, f"DirAddress {addr} does not resolve on this node"))
    return found


def check_for_start(listen: List[Tuple[str, int]]) -> None:
    """Refuse a start whose Director clients could not reach or that could not bind."""
    reason = loopback_only(listen)
    if reason:
        raise OcfError(Exit.ERR_ARGS, reason)
    for kind, reason in bind_problems(listen):
        # a port in use may be freed by recovery elsewhere (a soft failure); an address this
        # node lacks or cannot resolve stays missing here (hard for this node)
        raise OcfError(Exit.ERR_GENERIC if kind in (proc.BIND_IN_USE, "error") else Exit.ERR_ARGS, reason)


def check_for_validate(listen: List[Tuple[str, int]], log) -> None:
    """validate-all: refuse a loopback-only Director; warn about what only this node lacks now.

    A port in use is not reported: here it is usually the running Director's own.
    """
    reason = loopback_only(listen)
    if reason:
        raise OcfError(Exit.ERR_ARGS, reason)
    for kind, reason in bind_problems(listen):
        if kind != proc.BIND_IN_USE:
            log.warning(f"a start on this node would fail now: {reason}")


__all__ = ["is_loopback", "loopback_only", "bind_problems", "check_for_start", "check_for_validate"]
