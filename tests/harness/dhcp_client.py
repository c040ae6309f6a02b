"""A tiny DHCPv4 client that speaks as a relay agent, for tests inside network namespaces.

It needs no raw sockets: like perfdhcp -4 -l, it binds UDP port 67 on a local address, puts that
address into giaddr and sends to the server's port 67; servers (dhcpd, Kea) answer relayed
messages to giaddr:67. Each operation is one client identity (MAC and optional client-id) doing:

- ``dora``: DISCOVER/OFFER/REQUEST/ACK (optionally with host-name and a requested lease time);
- ``init-reboot``: REQUEST with requested-IP and no server-id (RFC 2131 4.3.2 INIT-REBOOT): an
  authoritative server ACKs the client's own address and NAKs any other;
- ``renew``: REQUEST with ciaddr (unicast RENEWING as seen through a relay);
- ``decline`` / ``release``: no answer expected (dhcpd marks a declined address abandoned).

The result is a dict ``{"op", "mac", "reply": "ACK"|"NAK"|"OFFER"|None, "address", "server_id",
"lease_time"}``. ``run_client_ops(net, ops)`` runs a list of operations inside the client namespace
(one process, ``python -m tests.harness.dhcp_client`` reading JSON on stdin); the module can also
be used in-process when the caller already is in the right namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.harness.netns import NetnsPair

MAGIC_COOKIE = b"\x63\x82\x53\x63"
MSG_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
             8: "INFORM"}
MSG_CODES = {v: k for k, v in MSG_TYPES.items()}
OPT_PAD, OPT_END = 0, 255
OPT_HOSTNAME, OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_MSG_TYPE, OPT_SERVER_ID = 12, 50, 51, 53, 54
OPT_PARAM_LIST, OPT_CLIENT_ID = 55, 61
#: what a client asks for besides lease time and server id: subnet mask, routers, DNS servers,
#: domain name (the options a differential test compares between two servers)
ASKED_OPTIONS = (1, 3, 6, 15)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.replace(":", ""))


def build_packet(msg_type: str, mac: str, xid: int, *, giaddr: str, ciaddr: str = "0.0.0.0",
                 client_id: str | None = None, requested_ip: str | None = None,
                 server_id: str | None = None, hostname: str | None = None,
                 lease_time: int | None = None, params: Sequence[int] | None = None) -> bytes:
    """A BOOTREQUEST carrying DHCP message ``msg_type`` relayed through ``giaddr`` (hops 1)."""
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1, 1, 6, 1, xid, 0, 0,
        ipaddress.IPv4Address(ciaddr).packed, b"\0" * 4, b"\0" * 4,
        ipaddress.IPv4Address(giaddr).packed,
        _mac_bytes(mac) + b"\0" * 10, b"", b"",
    )
    opts = bytearray(MAGIC_COOKIE)

    def add(code: int, value: bytes) -> None:
        opts.extend((code, len(value)))
        opts.extend(value)

    add(OPT_MSG_TYPE, bytes([MSG_CODES[msg_type]]))
    if client_id:
        add(OPT_CLIENT_ID, _hex_bytes(client_id))
    if requested_ip:
        add(OPT_REQUESTED_IP, ipaddress.IPv4Address(requested_ip).packed)
    if server_id:
        add(OPT_SERVER_ID, ipaddress.IPv4Address(server_id).packed)
    if hostname:
        add(OPT_HOSTNAME, hostname.encode())
    if lease_time is not None:
        add(OPT_LEASE_TIME, struct.pack("!I", lease_time))
    if msg_type in ("DISCOVER", "REQUEST"):
        asked = params if params is not None else (*ASKED_OPTIONS, OPT_LEASE_TIME, OPT_SERVER_ID)
        add(OPT_PARAM_LIST, bytes(asked))
    opts.append(OPT_END)
    return header + bytes(opts)


@dataclass
class Reply:
    msg_type: str
    xid: int
    yiaddr: str
    chaddr: str
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def server_id(self) -> str | None:
        raw = self.options.get(OPT_SERVER_ID)
        return str(ipaddress.IPv4Address(raw)) if raw and len(raw) == 4 else None

    @property
    def lease_time(self) -> int | None:
        raw = self.options.get(OPT_LEASE_TIME)
        return int(struct.unpack("!I", raw)[0]) if raw and len(raw) == 4 else None


def parse_packet(data: bytes) -> Reply | None:
    """Parse a BOOTREPLY; None for anything that is not a DHCP reply."""
    if len(data) < 240 or data[0] != 2 or data[236:240] != MAGIC_COOKIE:
        return None
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = str(ipaddress.IPv4Address(data[16:20]))
    chaddr = ":".join(f"{b:02x}" for b in data[28:34])
    options: dict[int, bytes] = {}
    i = 240
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        length = data[i + 1]
        options[code] = data[i + 2:i + 2 + length]
        i += 2 + length
    mt = options.get(OPT_MSG_TYPE)
    if not mt:
        return None
    return Reply(MSG_TYPES.get(mt[0], str(mt[0])), xid, yiaddr, chaddr, options)


class RelayClient:
    """Sends client messages as a relay on ``local`` (giaddr) to ``server`` port 67."""

    def __init__(self, local: str, server: str, *, timeout: float = 2.0, retries: int = 2) -> None:
        self.local, self.server, self.timeout, self.retries = local, server, timeout, retries
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((local, 67))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RelayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, packet: bytes) -> None:
        self.sock.sendto(packet, (self.server, 67))

    def _exchange(self, packet: bytes, xid: int, want: Sequence[str]) -> Reply | None:
        for _ in range(self.retries + 1):
            self._send(packet)
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    data, _addr = self.sock.recvfrom(4096)
                except TimeoutError:
                    break
                reply = parse_packet(data)
                if reply is not None and reply.xid == xid and reply.msg_type in want:
                    return reply
        return None

    def dora(self, mac: str, *, client_id: str | None = None, hostname: str | None = None,
             lease_time: int | None = None) -> dict[str, Any]:
        xid = random.getrandbits(32)
        common: dict[str, Any] = {"giaddr": self.local, "client_id": client_id, "hostname": hostname,
                                  "lease_time": lease_time}
        offer = self._exchange(build_packet("DISCOVER", mac, xid, **common), xid, ("OFFER", "NAK"))
        if offer is None or offer.msg_type != "OFFER":
            return _result("dora", mac, offer)
        req = build_packet("REQUEST", mac, xid, requested_ip=offer.yiaddr, server_id=offer.server_id,
                           **common)
        return _result("dora", mac, self._exchange(req, xid, ("ACK", "NAK")))

    def init_reboot(self, mac: str, address: str, *, client_id: str | None = None) -> dict[str, Any]:
        xid = random.getrandbits(32)
        req = build_packet("REQUEST", mac, xid, giaddr=self.local, client_id=client_id,
                           requested_ip=address)
        return _result("init-reboot", mac, self._exchange(req, xid, ("ACK", "NAK")), asked=address)

    def renew(self, mac: str, address: str, *, client_id: str | None = None) -> dict[str, Any]:
        xid = random.getrandbits(32)
        req = build_packet("REQUEST", mac, xid, giaddr=self.local, ciaddr=address, client_id=client_id)
        return _result("renew", mac, self._exchange(req, xid, ("ACK", "NAK")), asked=address)

    def decline(self, mac: str, address: str, server_id: str, *,
                client_id: str | None = None) -> dict[str, Any]:
        xid = random.getrandbits(32)
        self._send(build_packet("DECLINE", mac, xid, giaddr=self.local, client_id=client_id,
                                requested_ip=address, server_id=server_id))
        return {"op": "decline", "mac": mac, "reply": None, "address": address}

    def release(self, mac: str, address: str, server_id: str, *,
                client_id: str | None = None) -> dict[str, Any]:
        xid = random.getrandbits(32)
        self._send(build_packet("RELEASE", mac, xid, giaddr=self.local, ciaddr=address,
                                client_id=client_id, server_id=server_id))
        return {"op": "release", "mac": mac, "reply": None, "address": address}

    def run(self, op: dict[str, Any]) -> dict[str, Any]:
        """Run one operation given as a dict: {"op": "dora", "mac": ..., "client_id": ..., ...}."""
        kind = op["op"]
        mac, cid = op["mac"], op.get("client_id")
        if kind == "dora":
            return self.dora(mac, client_id=cid, hostname=op.get("hostname"), lease_time=op.get("lease_time"))
        if kind == "init-reboot":
            return self.init_reboot(mac, op["address"], client_id=cid)
        if kind == "renew":
            return self.renew(mac, op["address"], client_id=cid)
        if kind == "decline":
            return self.decline(mac, op["address"], op.get("server_id") or self.server, client_id=cid)
        if kind == "release":
            return self.release(mac, op["address"], op.get("server_id") or self.server, client_id=cid)
        raise ValueError(f"unknown DHCP client operation {kind!r}")


def _result(op: str, mac: str, reply: Reply | None, asked: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "mac": mac, "reply": reply.msg_type if reply else None,
                           "address": None, "server_id": None, "lease_time": None,
                           "options": {}}
    if asked:
        out["asked"] = asked
    if reply is not None:
        out["address"] = reply.yiaddr if reply.msg_type in ("ACK", "OFFER") else None
        out["server_id"] = reply.server_id
        out["lease_time"] = reply.lease_time
        # the options the client asked for (parameter request list), as the server sent them
        out["options"] = {str(code): reply.options[code].hex() for code in ASKED_OPTIONS
                          if code in reply.options}
    return out


def run_client_ops(net: NetnsPair, ops: Sequence[dict[str, Any]], *, local: str | None = None,
                   server: str | None = None, timeout: float = 2.0, retries: int = 2) -> list[dict[str, Any]]:
    """Run ``ops`` in ``net``'s client namespace in one process; one result dict per op, in order.

    ``local`` (giaddr, default the client side's link address) must be an address of the client
    namespace; ``server`` defaults to the server side's link address.
    """
    argv = [sys.executable, "-m", "tests.harness.dhcp_client", "--local", local or net.cli_addr4,
            "--server", server or net.srv_addr4, "--timeout", str(timeout), "--retries", str(retries)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    budget = 30.0 + len(ops) * timeout * (retries + 1) * 2
    proc = net.run("cli", argv, input=json.dumps(list(ops)), env=env, cwd=str(REPO_ROOT), timeout=budget)
    if proc.returncode != 0:
        raise RuntimeError(f"DHCP test client failed in {net.cli_ns} (exit {proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Relay-style DHCPv4 test client; JSON ops on stdin.")
    parser.add_argument("--local", required=True, help="local address = giaddr")
    parser.add_argument("--server", required=True)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--retries", type=int, default=2)
    args = parser.parse_args(argv)
    ops = json.load(sys.stdin)
    with RelayClient(args.local, args.server, timeout=args.timeout, retries=args.retries) as client:
        results = [client.run(op) for op in ops]
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
