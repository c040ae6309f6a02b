"""A failover relationship -> a Kea HA hook skeleton and what the operator must still do.

dhcpd's ``failover peer`` (:mod:`kea_etl.convert.build`) and a Windows DHCP Server failover
relationship (:mod:`kea_etl.convert.windows`) both become one :class:`Relationship`; this module
writes the ``libdhcp_ha.so`` entry and the to-do list common to both, so the two sources give the
same guidance. Kea HA is server-wide (one relationship per server in Kea 2.x) and its peers talk
HTTP to each other's control channel, not the failover protocol on TCP 647.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Relationship", "ha_library", "ha_todo"]


@dataclass(frozen=True, slots=True)
class Relationship:
    name: str
    #: this server's role in the source (dhcpd primary / secondary; Windows: the exporting
    #: server is taken as primary)
    role: Literal["primary", "secondary"]
    mode: Literal["hot-standby", "load-balancing"]
    #: this server's and the partner's address ('' when the source does not say)
    address: str = ""
    peer_address: str = ""
    #: seconds without an answer before the partner is considered down
    max_response_delay: int = 60
    max_unacked: int = 5
    #: what the source's failover traffic used ("dhcpd's failover port 647")
    old_port: str = "the failover port 647"

    @property
    def me(self) -> str:
        return f"{self.name}-{self.role}"

    @property
    def them(self) -> str:
        return f"{self.name}-{'secondary' if self.role == 'primary' else 'primary'}"


def ha_library(rel: Relationship, hooks_dir: str) -> dict[str, Any]:
    """The ``hooks-libraries`` entry for ``rel``: peers ``NAME-primary`` / ``NAME-secondary`` at
    ``http://ADDRESS:8000/`` (loopback placeholders when an address is unknown)."""
    other = "standby" if rel.mode == "hot-standby" else "secondary"
    role_me = "primary" if rel.role == "primary" else other
    role_them = other if rel.role == "primary" else "primary"
    ha = {"this-server-name": rel.me, "mode": rel.mode, "heartbeat-delay": 10000,
          "max-response-delay": max(rel.max_response_delay * 1000, 20000), "max-ack-delay": 5000,
          "max-unacked-clients": rel.max_unacked if rel.mode == "load-balancing" else 0,
          "peers": [
              {"name": rel.me, "url": f"http://{rel.address or '127.0.0.1'}:8000/",
               "role": role_me, "auto-failover": True},
              {"name": rel.them, "url": f"http://{rel.peer_address or '127.0.0.2'}:8000/",
               "role": role_them, "auto-failover": True}]}
    return {"library": f"{hooks_dir}/libdhcp_ha.so", "parameters": {"high-availability": [ha]}}


def ha_todo(rel: Relationship) -> list[str]:
    """What the operator must do for any converted relationship."""
    return [f"on the partner ({rel.peer_address or 'peer address'}), this-server-name must be "
            f"'{rel.them}'",
            "each peer's URL is its Kea HTTP listener (Kea 2.x: kea-ctrl-agent, default "
            "port 8000, or the HA hook's dedicated listener; Kea 3.x: the daemon's "
            f"control-sockets), not {rel.old_port}",
            "HA needs the lease_cmds hook on both peers (added) and, for Kea 2.x, "
            "a kea-ctrl-agent or multi-threading with http-dedicated-listener",
            "TLS and basic authentication between the peers (trust-anchor, cert-file, "
            "key-file / basic-auth-user)"]
