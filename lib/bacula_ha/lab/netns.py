# SPDX-License-Identifier: GPL-2.0-or-later
"""Network namespaces: the switch (a bridge), one namespace per node/host, cables.

The switch namespace holds the bridge with 198.51.100.254, the PDU and the
test clients.  Each node's veth has its "cable end" vNAME in the switch
namespace: pulling the cable is `ip link set vNAME down` there.  Nothing is
configured in the machine's root namespace.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from .layout import PREFIXLEN, SWITCH_IP, Layout, node_ip
from .registry import Registry
from .sh import run

BRIDGE = "br0"
_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_setns_lock = threading.Lock()


def cable(host: str) -> str:
    return f"v-{host}"[:15]


def create_switch(layout: Layout) -> None:
    ns = layout.switch_ns
    Registry(layout).add("netns", ns)
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "-n", ns, "link", "set", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{SWITCH_IP}/{PREFIXLEN}", "dev", BRIDGE])


def create_host_netns(layout: Layout, host: str) -> None:
    """A namespace for a node or lab host, wired to the switch (cable plugged, no address yet)."""
    ns = layout.netns(host)
    Registry(layout).add("netns", ns)
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", layout.switch_ns, "link", "add", cable(host), "type", "veth",
         "peer", "name", "eth0", "netns", ns])
    run(["ip", "-n", layout.switch_ns, "link", "set", cable(host), "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def configure_address(layout: Layout, host: str) -> None:
    """What a booting machine does: its address on eth0, link up."""
    ns = layout.netns(host)
    run(["ip", "-n", ns, "addr", "flush", "dev", "eth0"])
    run(["ip", "-n", ns, "addr", "add", f"{node_ip(host)}/{PREFIXLEN}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def flush_addresses(layout: Layout, host: str) -> None:
    """Power off: a dead machine answers nothing, not even ARP for its VIP."""
    run(["ip", "-n", layout.netns(host), "addr", "flush", "dev", "eth0"], check=False)
    run(["ip", "-n", layout.netns(host), "link", "set", "eth0", "down"], check=False)


def set_cable(layout: Layout, host: str, plugged: bool) -> None:
    run(["ip", "-n", layout.switch_ns, "link", "set", cable(host), "up" if plugged else "down"])


def netns_exec(layout: Layout, host: str) -> list:
    return ["ip", "netns", "exec", layout.netns(host)]


@contextmanager
def entered(ns_name: str) -> Iterator[None]:
    """Run the body with this thread in network namespace ns_name (sockets created there stay there)."""
    with _setns_lock:
        own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
        try:
            if _libc.setns(target, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {ns_name} failed")
            try:
                yield
            finally:
                if _libc.setns(own, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back failed")
        finally:
            os.close(own)
            os.close(target)


def connect_in(ns_name: str, address: str, port: int, timeout: float = 2.0) -> Optional[socket.socket]:
    """A TCP connection made from inside network namespace ns_name (None if refused/unreachable).

    setns(CLONE_NEWNET) changes only the calling thread; the socket keeps the
    namespace it was created in, so no subprocess is needed per check.
    """
    with entered(ns_name):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        return None
    return sock
