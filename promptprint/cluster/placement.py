"""Rendezvous (highest-random-weight) hashing of routing keys over a member list.

Every member gets a weight for a key, ``mix(key XOR seed(member))``, and the key belongs to
the member of highest weight. Every process computes the same owner from the same member
list, with no table to share; when a member joins or leaves, only the keys it wins or held
move (about 1/N of them), the others stay where their template state is. Consistent
hashing on a ring gives the same property, but needs virtual nodes to spread keys evenly;
with tens of members, N weights per call (~1 us each in Python) cost less than keeping a ring.

A member is identified by a stable name (``host:port`` as configured, or the name DNS
gives an address: see :mod:`promptprint.cluster.membership`), because the name is what
binds a member to its data directory; the address is only where to reach it.
"""

from __future__ import annotations

import dataclasses
import hashlib

_U64 = (1 << 64) - 1


def _mix(value: int) -> int:
    """The splitmix64 finalizer: a 64-bit bijection whose output bits each depend on
    every input bit, so weights of nearby keys (or seeds) are unrelated."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _U64
    return value ^ (value >> 31)


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One serving process: ``name`` places keys (stable), ``address`` is dialled."""

    name: str
    address: str

    def __post_init__(self) -> None:
        if not self.name or ":" not in self.address:
            raise ValueError(f"a member needs a name and a HOST:PORT address, got {self.name!r} at {self.address!r}")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Who owns which key, for one member list, seen from the member ``self_name``.

    Args:
        members: the serving processes; names must be unique.
        self_name: the name of this process among them.
    """

    members: tuple[Member, ...]
    self_name: str
    _seeds: tuple[int, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [m.name for m in self.members]
        if not names:
            raise ValueError("a placement needs at least one member")
        if len(set(names)) != len(names):
            raise ValueError(f"member names must be unique, got {sorted(names)}")
        if self.self_name not in names:
            raise ValueError(f"this process ({self.self_name!r}) is not among the members {sorted(names)}: give --self as it appears there")
        ordered = tuple(sorted(self.members, key=lambda m: m.name))
        object.__setattr__(self, "members", ordered)
        seeds = tuple(int.from_bytes(hashlib.blake2b(m.name.encode("utf-8"), digest_size=8).digest(), "little") for m in ordered)
        object.__setattr__(self, "_seeds", seeds)

    @property
    def single(self) -> bool:
        """One member: every key is this process's, nothing is forwarded."""
        return len(self.members) == 1

    def owner(self, key: int) -> Member:
        """The member of highest weight for ``key`` (ties, astronomically rare, to the
        first name in sorted order)."""
        key &= _U64
        best, best_weight = 0, -1
        for i, seed in enumerate(self._seeds):
            weight = _mix(key ^ seed)
            if weight > best_weight:
                best, best_weight = i, weight
        return self.members[best]

    def is_self(self, member: Member) -> bool:
        return member.name == self.self_name

    def others(self) -> list[Member]:
        """The members other than this process."""
        return [m for m in self.members if m.name != self.self_name]

