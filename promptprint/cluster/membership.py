"""The members of a deployment, from configuration or from DNS.

* **Configuration** (``--peers a:50051,b:50051 --self a:50051``): each member's name is its
  address as written. In a Kubernetes StatefulSet, list the pods' stable names
  (``pp-0.pp:50051, pp-1.pp:50051, ...``, which the headless service resolves): a pod keeps
  its name, and with it its keys and its volume, when it is rescheduled.
* **DNS** (``--peers-dns pp.ns.svc:50051 --self $POD_IP:50051``): the A records of a
  headless service name are the members, re-resolved periodically. An address changes when
  a pod is rescheduled, so a member is *named* by its reverse-DNS name when there is one
  (Kubernetes publishes ``pp-0.pp.ns.svc.cluster.local`` for a StatefulSet pod's IP) and by
  its address otherwise; keys follow names. The service should publish not-ready
  addresses (``publishNotReadyAddresses: true``): a member that drops out of the records
  hands its keys to the others, which then start those templates from nothing, and takes
  them back when it returns. With it published, a dead member fails its keys fast
  (SHARD_UNAVAILABLE) and keeps the template view whole.

Resolution blocks (the system resolver); the server runs it on a worker thread.
"""

from __future__ import annotations

import socket
from typing import Callable

from promptprint.cluster.placement import Member, Placement

#: ``resolve(host) -> addresses`` (IPv4 A records by default).
Resolver = Callable[[str], list[str]]
#: ``reverse(address) -> name or None``.
ReverseResolver = Callable[[str], str | None]


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); ValueError naming the address otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT with a port in 1..65535, got {address!r}")
    return host.strip("[]"), int(port)


def static_placement(peers: list[str], self_address: str) -> Placement:
    """The placement of a configured member list (``--peers``), seen from ``self_address``."""
    for address in [*peers, self_address]:
        split_address(address)
    unique = list(dict.fromkeys(peers))
    return Placement(tuple(Member(a, a) for a in unique), self_address)


def resolve_ipv4(host: str) -> list[str]:
    """The IPv4 addresses ``host`` resolves to, sorted (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return sorted({str(info[4][0]) for info in infos})


def reverse_name(address: str) -> str | None:
    """The reverse-DNS name of an address, or None when it has none."""
    try:
        return socket.gethostbyaddr(address)[0]
    except (socket.herror, socket.gaierror, OSError):
        return None


class DnsMembership:
    """Members from the A records of one name, each named by its reverse-DNS name.

    Args:
        service: ``name:port``: the name to resolve and the port every member listens on.
        self_address: ``ip:port`` of this process, as the records list it.
        resolve / reverse: the resolvers (the system's by default).
    """

    def __init__(
        self, service: str, self_address: str, resolve: Resolver = resolve_ipv4, reverse: ReverseResolver = reverse_name
    ) -> None:
        self._host, self._port = split_address(service)
        split_address(self_address)
        self._self = self_address
        self._resolve = resolve
        self._reverse = reverse

    def placement(self) -> Placement:
        """Resolve now; this process is always a member (its own record may not be
        published yet while it starts)."""
        addresses = {f"{ip}:{self._port}" for ip in self._resolve(self._host)} | {self._self}
        members = []
        for address in sorted(addresses):
            name = self._reverse(split_address(address)[0])
            members.append(Member(f"{name}:{self._port}" if name else address, address))
        self_name = next(m.name for m in members if m.address == self._self)
        return Placement(tuple(members), self_name)
