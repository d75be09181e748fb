# SPDX-License-Identifier: GPL-2.0-or-later
"""The virtual PDU: the lab's power switch and cable tray, a daemon in the switch namespace.

Why a daemon: a node's fence agent runs inside the node's PID namespace,
from where other nodes' processes are invisible; only something in the root
PID namespace can power a node off.  As with a real PDU, the fence agent
reaches it over the network (TCP 198.51.100.254:7777), so a node that has
lost its network cannot fence anybody.

Line protocol, one request per connection, answer "OK ..." or "ERR reason":
  ping | list | status M (answers ON/OFF) | off M | on M
The lab itself also talks to it over a Unix socket (pdu.sock in the
workdir), which additionally accepts:
  boot M (power on now) | unplug M | plug M | cancel (drop pending power-ons) | quit

"off" kills the machine's init (its whole PID namespace, mounts included),
pulls its switch-side link and flushes its addresses, so it no longer
answers ARP for a VIP.  "on" boots the machine after `boot_delay` seconds,
like a real BIOS; a too-fast "reboot" would let the node rejoin before the
others noticed it left, and it would then halt on its own fencing notice.

Every action is appended to pdu-events.jsonl: {"t": epoch seconds,
"event": "off"|"on"|"boot"|"unplug"|"plug", "machine": M, "via": "net"|"lab"}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Tuple

from .layout import PDU_PORT, SWITCH_IP, Layout
from . import netns, node


class Power(Protocol):
    """The machines behind the PDU's outlets: namespace nodes here, QEMU VMs in the VM lab."""

    def machines(self) -> List[str]: ...
    def is_on(self, machine: str) -> bool: ...
    def power_off(self, machine: str) -> None: ...
    def boot(self, machine: str) -> Optional[subprocess.Popen]: ...
    def set_cable(self, machine: str, plugged: bool) -> None: ...


class NamespacePower:
    """Outlets of the namespace lab: a node is its PID namespace plus its switch-side veth."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def machines(self) -> List[str]:
        base = self.layout.workdir / "nodes"
        return sorted(p.name for p in base.iterdir() if (p / "spec.json").exists())

    def is_on(self, machine: str) -> bool:
        return node.init_pid(self.layout, machine) is not None

    def power_off(self, machine: str) -> None:
        node.power_off(self.layout, machine)
        netns.set_cable(self.layout, machine, False)

    def boot(self, machine: str) -> Optional[subprocess.Popen]:
        return node.boot(self.layout, machine)

    def set_cable(self, machine: str, plugged: bool) -> None:
        netns.set_cable(self.layout, machine, plugged)


class Pdu:
    def __init__(self, layout: Layout, boot_delay: float, power: Optional[Power] = None,
                 events: Optional[Path] = None):
        self.layout = layout
        self.power: Power = power or NamespacePower(layout)
        self.events = events or layout.pdu_events
        self.boot_delay = boot_delay
        self.lock = threading.RLock()
        self.pending: Dict[str, threading.Timer] = {}
        self.children: List[subprocess.Popen] = []
        self.unplugged = set()

    def machines(self) -> List[str]:
        return self.power.machines()

    def event(self, event: str, machine: str, via: str) -> None:
        line = json.dumps({"t": time.time(), "event": event, "machine": machine, "via": via})
        with open(self.events, "a") as f:
            f.write(line + "\n")

    def is_on(self, machine: str) -> bool:
        return self.power.is_on(machine)

    def off(self, machine: str, via: str) -> None:
        with self.lock:
            timer = self.pending.pop(machine, None)
            if timer:
                timer.cancel()
            self.power.power_off(machine)
            self.event("off", machine, via)

    def boot(self, machine: str, via: str) -> None:
        with self.lock:
            timer = self.pending.pop(machine, None)
            if timer and timer is not threading.current_thread():
                timer.cancel()   # booted now: a pending delayed power-on must not fire later
            if self.is_on(machine):
                return
            child = self.power.boot(machine)
            if child is not None:
                self.children.append(child)
            if machine not in self.unplugged:
                self.power.set_cable(machine, True)
            self.event("boot", machine, via)

    def on(self, machine: str, via: str) -> None:
        with self.lock:
            if self.is_on(machine) or machine in self.pending:
                return
            self.event("on", machine, via)
            timer = threading.Timer(self.boot_delay, self._boot_quietly, (machine, via))
            timer.daemon = True
            self.pending[machine] = timer
            timer.start()

    def _boot_quietly(self, machine: str, via: str) -> None:
        try:
            self.boot(machine, via)
        except Exception as exc:  # noqa: BLE001  (a daemon thread: log and go on)
            print(f"boot {machine} failed: {exc}", flush=True)

    def cable(self, machine: str, plugged: bool) -> None:
        with self.lock:
            if plugged:
                self.unplugged.discard(machine)
            else:
                self.unplugged.add(machine)
            if plugged and not self.is_on(machine):
                return   # a powered-off machine's link stays down until it boots
            self.power.set_cable(machine, plugged)
            self.event("plug" if plugged else "unplug", machine, "lab")

    def cancel(self) -> None:
        with self.lock:
            for timer in self.pending.values():
                timer.cancel()
            self.pending.clear()

    def reap(self) -> None:
        with self.lock:
            self.children = [p for p in self.children if p.poll() is None]

    def handle(self, line: str, via: str) -> str:
        words = line.split()
        if not words:
            return "ERR empty request"
        command, args = words[0], words[1:]
        if command == "ping":
            return "OK pong"
        if command == "list":
            return "OK " + " ".join(self.machines())
        if len(args) != 1 and command in ("status", "off", "on", "boot", "unplug", "plug"):
            return f"ERR usage: {command} MACHINE"
        if args and args[0] not in self.machines():
            return f"ERR unknown machine {args[0]}"
        if command == "status":
            return "OK ON" if self.is_on(args[0]) else "OK OFF"
        if command == "off":
            self.off(args[0], via)
            return "OK off"
        if command == "on":
            self.on(args[0], via)
            return "OK on"
        if via == "lab":
            if command == "boot":
                self.boot(args[0], via)
                return "OK booted"
            if command in ("unplug", "plug"):
                self.cable(args[0], command == "plug")
                return f"OK {command}"
            if command == "cancel":
                self.cancel()
                return "OK cancelled"
            if command == "quit":
                self.cancel()
                threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0)), daemon=True).start()
                return "OK bye"
        return f"ERR unknown command {command}"


def _handler(pdu: Pdu, via: str):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(10)
            try:
                line = self.rfile.readline(512).decode("ascii", "replace").strip()
                answer = pdu.handle(line, via)
            except Exception as exc:  # noqa: BLE001  (answer the client, keep serving)
                answer = f"ERR {exc}"
            print(f"{time.strftime('%H:%M:%S')} {via}: {line!r} -> {answer}", flush=True)
            self.wfile.write((answer + "\n").encode())
    return Handler


class _Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(layout: Layout, boot_delay: float, pdu: Optional[Pdu] = None,
          address: Tuple[str, int] = (SWITCH_IP, PDU_PORT), socket_path: Optional[Path] = None) -> None:
    """Serve the fence agents on `address` (TCP) and the lab on `socket_path` (Unix), forever."""
    pdu = pdu or Pdu(layout, boot_delay)
    socket_path = socket_path or layout.pdu_socket
    tcp = _Tcp(address, _handler(pdu, "net"))
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    unix = _Unix(str(socket_path), _handler(pdu, "lab"))
    for server in (tcp, unix):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"pdu: serving {address[0]}:{address[1]} and {socket_path}", flush=True)
    while True:
        time.sleep(1)
        pdu.reap()


def exchange(sock: socket.socket, line: str) -> str:
    """The PDU protocol, client side: one request line out, one answer line back (stripped)."""
    sock.sendall((line + "\n").encode())
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(512)
        if not chunk:
            break
        answer += chunk
    return answer.decode().strip()


def request(layout: Layout, line: str, timeout: float = 30, socket_path: Optional[Path] = None) -> str:
    """Send one request to the PDU over its Unix socket; returns the answer without "OK "."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path or layout.pdu_socket))
        text = exchange(sock, line)
    if not text.startswith("OK"):
        from .sh import LabError
        raise LabError(f"PDU: {line}: {text or 'no answer'}")
    return text[3:]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bacula_ha.lab.pdu")
    parser.add_argument("--root", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--boot-delay", type=float, default=10.0)
    args = parser.parse_args(argv)
    serve(Layout(args.name, args.root), args.boot_delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
