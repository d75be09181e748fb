# SPDX-License-Identifier: GPL-2.0-or-later
"""Validators for site values: each takes the raw string and returns the
normalised one or raises ValueError with a message a user can act on."""

from __future__ import annotations

import ipaddress
import re
from typing import List

_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")
_PATH = re.compile(r"^/[A-Za-z0-9_./+@%,:=-]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IFACE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|min|h)?$")
_FORBIDDEN = re.compile(r"[\"'`\\\x00-\x1f\x7f$;|&<>]")


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def plain(value: str) -> str:
    """Reject characters that could break out of a crm or sh word, and bytes that are not UTF-8
    (a command-line argument in another encoding arrives as surrogate escapes)."""
    if _UNDECODABLE.search(value):
        raise ValueError("is not UTF-8 text")
    if _FORBIDDEN.search(value):
        raise ValueError("must not contain quotes, backslashes, $ ; | & < > or control characters")
    return value


def node_name(value: str) -> str:
    if not _HOSTNAME.match(value) or len(value) > 253:
        raise ValueError(f"{value!r} is not a valid node name (a host name as corosync knows it)")
    return value


def node_list(value: str, minimum: int = 2, maximum: int = 32) -> List[str]:
    names = [n for n in re.split(r"[\s,]+", value.strip()) if n]
    for name in names:
        node_name(name)
    if len({n.lower() for n in names}) != len(names):
        raise ValueError("node names must be unique (host names compare case-insensitively)")
    if not minimum <= len(names) <= maximum:
        want = f"exactly {minimum}" if minimum == maximum else f"{minimum} to {maximum}"
        raise ValueError(f"needs {want} node names, got {len(names)}")
    return names


def ip_host(value: str) -> str:
    """An IPv4 or IPv6 address a service can use (IPaddr2 takes both)."""
    try:
        addr = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    if addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local \
            or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"{value} cannot be a service address (loopback, multicast, link-local or unspecified)")
    return str(addr)


def cidr(value: str) -> str:
    """A prefix length; vip_in_network checks it against the VIP's family (32 or 128)."""
    if not value.isdigit() or not 1 <= int(value) <= 128:
        raise ValueError(f"{value!r} is not a prefix length (1 to 32, or to 128 for IPv6)")
    return str(int(value))


def vip_in_network(vip: str, prefix: str) -> None:
    """The VIP must be a host address of its own network."""
    addr = ipaddress.ip_address(vip)
    if int(prefix) > addr.max_prefixlen:
        raise ValueError(f"prefix /{prefix} is longer than an IPv{addr.version} address "
                         f"({addr.max_prefixlen} bits)")
    network = ipaddress.ip_network(f"{vip}/{prefix}", strict=False)
    if addr.version == 4 and network.prefixlen < 31 and addr in (network.network_address,
                                                                 network.broadcast_address):
        raise ValueError(f"{vip} is the network or broadcast address of {network}")
    if addr.version == 6 and network.prefixlen < 127 and addr == network.network_address:
        raise ValueError(f"{vip} is the subnet-router anycast address of {network}")


def host(value: str) -> str:
    """An IPv4 or IPv6 address or a DNS name."""
    try:
        return ip_host(value)
    except ValueError:
        pass
    if re.match(r"^[0-9.]+$", value) or ":" in value or not _HOSTNAME.match(value):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    return value


def catalog_address(value: str) -> str:
    """host(), or a loopback address: a proxy on every node in front of the catalog cluster
    (HAProxy towards the Patroni primary) is reached there."""
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return host(value)
    return str(address) if address.is_loopback else host(value)


def same_host(a: str, b: str) -> bool:
    """Two host values naming the same address or name (names compare case-insensitively)."""
    try:
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return a.strip().lower().rstrip(".") == b.strip().lower().rstrip(".")


def abs_path(value: str) -> str:
    if not _PATH.match(value) or "/../" in value + "/" or value.endswith("/.."):
        raise ValueError(f"{value!r} is not an absolute path without spaces or '..'")
    return value


def optional_path(value: str) -> str:
    return abs_path(value) if value else ""


def block_device(value: str) -> str:
    if not abs_path(value).startswith("/dev/") or value.rstrip("/") == "/dev":
        raise ValueError(f"{value!r} is not a block device path under /dev/")
    return value


def drbd_device(value: str) -> str:
    block_device(value)
    if not re.match(r"^/dev/drbd([0-9]+|/by-res/.+|/by-disk/.+)$", value):
        raise ValueError(f"{value!r} is not a DRBD device (/dev/drbdN or /dev/drbd/by-res/RES/VOL)")
    return value


def nfs_export(value: str) -> str:
    server, sep, path = value.partition(":")
    if not sep:
        raise ValueError(f"{value!r} is not an NFS export (server:/path)")
    host(server.strip("[]"))
    abs_path(path)
    return value


def name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} may only contain letters, digits, '_', '.' and '-'")
    return value


def iface(value: str) -> str:
    if value and not _IFACE.match(value):
        raise ValueError(f"{value!r} is not a network interface name")
    return value


def duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration (e.g. 15s, 10min, 1h)")
    return value


def integer(minimum: int, maximum: int):
    def check(value: str) -> str:
        if not re.match(r"^-?[0-9]+$", value) or not minimum <= int(value) <= maximum:
            raise ValueError(f"{value!r} is not an integer from {minimum} to {maximum}")
        return str(int(value))
    return check


def boolean(value: str) -> str:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return "true"
    if lowered in ("0", "false", "no", "off"):
        return "false"
    raise ValueError(f"{value!r} is not a boolean (true/false)")


def choice(*options: str):
    def check(value: str) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not one of: {', '.join(options)}")
        return value
    return check


def score(value: str) -> str:
    return integer(0, 1000000)(value)


def word(value: str) -> str:
    """One word: mount options, comma-separated lists."""
    plain(value)
    if re.search(r"\s", value):
        raise ValueError(f"{value!r} must not contain spaces")
    return value
