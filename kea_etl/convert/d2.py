"""dhcpd.conf's DNS update setup -> a kea-dhcp-ddns (D2) configuration.

dhcpd sends DNS updates itself, with the ``key`` (TSIG) and ``zone`` declarations of its
configuration; Kea hands them to a separate daemon, kea-dhcp-ddns (D2), configured apart. From
``key NAME { algorithm A; secret "S"; }`` and ``zone NAME { primary ADDR; [primary6 ADDR;]
[secondary ADDR;] key NAME; }`` this writes ``kea-dhcp-ddns.conf``: ``tsig-keys`` and the zones
as ``forward-ddns`` / ``reverse-ddns`` domains (``in-addr.arpa.`` / ``ip6.arpa.`` names are
reverse) with their DNS servers (port 53). The secrets go into files of their own (``secret-file``,
Kea 2.5.8+; Kea 3.x refuses a clear-text ``secret`` in the configuration), never into the config.
Kea 2.2 / 2.4 have no ``secret-file``: the finding says to put ``secret`` back for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

__all__ = ["ALGORITHMS", "DdnsSetup", "SECRET_DIR", "TsigKey", "Zone"]

#: dhcpd algorithm names -> Kea's (D2 tsig-keys.algorithm)
ALGORITHMS = {"hmac-md5": "HMAC-MD5", "hmac-md5.sig-alg.reg.int": "HMAC-MD5",
              "hmac-md5.sig-alg.reg.int.": "HMAC-MD5", "hmac-sha1": "HMAC-SHA1",
              "hmac-sha224": "HMAC-SHA224", "hmac-sha256": "HMAC-SHA256",
              "hmac-sha384": "HMAC-SHA384", "hmac-sha512": "HMAC-SHA512"}
#: where the written configuration expects the secret files (install them there, or edit it)
SECRET_DIR = "/etc/kea"


@dataclass
class TsigKey:
    name: str
    algorithm: str
    secret: str
    path: str
    line: int

    @property
    def secret_file(self) -> str:
        return f"tsig-{self.name.rstrip('.')}.secret"


@dataclass
class Zone:
    name: str
    servers: list[str]
    key: str | None
    path: str
    line: int

    @property
    def reverse(self) -> bool:
        return self.name.lower().rstrip(".").endswith(("in-addr.arpa", "ip6.arpa"))


@dataclass
class DdnsSetup:
    """The keys and zones of one or both families' dhcpd configurations."""

    keys: dict[str, TsigKey] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys or self.zones)

    def merge(self, other: DdnsSetup) -> None:
        for k, v in other.keys.items():
            self.keys.setdefault(k, v)
        for k, z in other.zones.items():
            self.zones.setdefault(k, z)

    def config(self, secret_dir: str = SECRET_DIR) -> dict[str, Any]:
        """The D2 configuration (listening where kea-dhcp4/6's ``dhcp-ddns`` defaults send)."""
        def domain(z: Zone) -> dict[str, Any]:
            d: dict[str, Any] = {"name": z.name if z.name.endswith(".") else z.name + ".",
                                 "dns-servers": [{"ip-address": s, "port": 53}
                                                 for s in z.servers]}
            if z.key is not None and z.key in self.keys:
                d["key-name"] = z.key
            return d

        body: dict[str, Any] = {
            "ip-address": "127.0.0.1", "port": 53001,
            "tsig-keys": [{"name": k.name, "algorithm": k.algorithm,
                           "secret-file": str(Path(secret_dir) / k.secret_file)}
                          for k in self.keys.values()],
            "forward-ddns": {"ddns-domains": [domain(z) for z in self.zones.values()
                                              if not z.reverse]},
            "reverse-ddns": {"ddns-domains": [domain(z) for z in self.zones.values()
                                              if z.reverse]},
        }
        return {"DhcpDdns": body}


def parse_key(name: str, stmts: list[tuple[str, list[str], str, int]], path: str, line: int
              ) -> TsigKey | str:
    """A ``key`` block's statements (keyword, words, path, line) -> the key, or why not."""
    algorithm = secret = None
    for kw, words, _p, _ln in stmts:
        if kw == "algorithm" and words:
            algorithm = ALGORITHMS.get(words[0].lower())
            if algorithm is None:
                return f"algorithm {words[0]} is not one Kea's D2 knows"
        elif kw == "secret" and words:
            secret = words[0]
    if algorithm is None or not secret:
        return "a key needs an algorithm and a secret"
    return TsigKey(name.rstrip(";"), algorithm, secret, path, line)


def parse_zone(name: str, stmts: list[tuple[str, list[str], str, int]], path: str, line: int
               ) -> Zone | str:
    """A ``zone`` block's statements -> the zone, or why not (a server named, not addressed)."""
    servers: list[str] = []
    key = None
    for kw, words, _p, _ln in stmts:
        if kw in ("primary", "primary6", "secondary", "secondary6") and words:
            for w in words:
                try:
                    servers.append(str(ip_address(w)))
                except ValueError:
                    return f"DNS server {w!r} is a name; Kea's D2 needs addresses"
        elif kw == "key" and words:
            key = words[0].strip('"')
    if not servers:
        return "a zone needs a primary DNS server address"
    return Zone(name, servers, key, path, line)
