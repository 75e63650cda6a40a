"""Running per-swarm counters for the live view (updated as sightings and observations arrive).

One entry per peer address, packed into one int (CPython keeps one object per peer instead of a dict
entry, a tuple key and a ``set``/``float``/``str`` value in each of four dicts: ≈ 650 → ≈ 130 bytes per
peer, ``bench/memory.py``). Bits of the packed int, low to high:

- 0-1: best :class:`Tier` reached (``LISTED`` .. ``VERIFIED``);
- 2-9: discovery sources, a bit mask (:func:`~swarmscope.monitor.plan.source_bit`);
- 10-20: completion in ‰ plus one (0: unknown; ``floor(completion × 1000)``, so only a complete peer
  reads 1000 ‰);
- 21-: client label index plus one (0: none) into the swarm's interned client labels.

Bound: at most :data:`MAX_UNREACHED` addresses per swarm that never got past ``LISTED`` (named by a tracker,
the DHT or PEX, or dialled without an answer) are kept; a tracker or DHT node naming fresh addresses forever
would otherwise grow the live view by ≈ 130 bytes each (≈ 75 MB a day for 200 fresh addresses per 30 s
announce). Past it, a new never-reached address is counted in ``over_bound`` (sightings, not addresses) and
not kept; an address that got further (connected, pieces, verified) is always kept: how many there are is
bounded by the probe plan (:mod:`swarmscope.monitor.plan_bound`), and a verified one is evidence.

Client labels: at most :data:`MAX_CLIENT_LABELS` distinct labels per swarm are interned (each at most
≈ 210 characters: :func:`swarmscope.wire.client_id.identify` cuts a name); a peer that claims another
BEP 10 ``v`` on every probe would otherwise add one label each time, for the run. Past it, a new label
reads :data:`OTHER_CLIENTS` here; the sealed record keeps what the peer claimed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from swarmscope.evidence.records import Observation, Tier
from swarmscope.monitor.plan import source_bit, source_names

_TIER_MASK = 0b11
_SOURCES_SHIFT, _SOURCES_MASK = 2, 0xFF << 2
_COMPLETION_SHIFT, _COMPLETION_MASK = 10, 0x7FF << 10
_CLIENT_SHIFT = 21
_LOW_MASK = (1 << _CLIENT_SHIFT) - 1
MAX_UNREACHED = 100_000  # per swarm: never-reached addresses the live view keeps (module docstring)
MAX_CLIENT_LABELS = 512  # per swarm: distinct client labels interned (≤ ≈ 200 KiB; module docstring)
OTHER_CLIENTS = "(other clients)"  # the label of every client past MAX_CLIENT_LABELS


def _tier(packed: int) -> Tier:
    return Tier(packed & _TIER_MASK)


def _permille(packed: int) -> int | None:
    """Completion in ‰ (0..1000), or None when no probe reported one."""
    stored = (packed & _COMPLETION_MASK) >> _COMPLETION_SHIFT
    return stored - 1 if stored else None


@dataclass(slots=True)
class SwarmStats:
    """Counters of one swarm: best tier per peer address, seeds vs leechers, bytes in, clients.

    ``peers``: (ip, port) → packed int (module docstring); ``clients``: the interned client labels.
    """

    swarm: str
    name: str
    peers: dict[tuple[str, int], int] = field(default_factory=dict)
    clients: list[str] = field(default_factory=list)
    failed_hash: set[tuple[str, int]] = field(default_factory=set)
    bytes_in: int = 0
    probes: int = 0
    trackers_ok: int = 0
    tracker_errors: int = 0
    last_tracker_error: str | None = None
    dht_estimate: tuple[float | None, float | None] | None = None  # BEP 33 (seeds, peers)
    over_bound: int = 0  # sightings of never-reached addresses not kept (module docstring)
    unreached: int = 0  # kept addresses still at LISTED
    _client_index: dict[str, int] = field(default_factory=dict)

    def _keep(self, key: tuple[str, int], old: int | None, packed: int) -> None:
        """Store ``packed`` for ``key`` (``old``: its value before, None when new) under the bound."""
        listed = packed & _TIER_MASK == Tier.LISTED.value
        if old is None and listed and self.unreached >= MAX_UNREACHED:
            self.over_bound += 1
            return
        self.unreached += listed - (old is not None and old & _TIER_MASK == Tier.LISTED.value)
        self.peers[key] = packed

    def sighted(self, ip: str, port: int, source: str = "tracker") -> None:
        """A discovery source named the address."""
        key = (ip, port)
        old = self.peers.get(key)
        self._keep(
            key, old, (Tier.LISTED.value if old is None else old) | source_bit(source) << _SOURCES_SHIFT
        )

    def observed(self, obs: Observation) -> None:
        """Fold one probe result in."""
        key = (obs.ip, obs.port)
        old = self.peers.get(key)
        packed = (Tier.LISTED.value if old is None else old) | source_bit(obs.source) << _SOURCES_SHIFT
        self.probes += 1
        self.bytes_in += obs.bytes_received
        if obs.tier > packed & _TIER_MASK:
            packed = packed & ~_TIER_MASK | obs.tier.value
        if obs.completion is not None:
            permille = min(1000, max(0, int(obs.completion * 1000)))
            packed = packed & ~_COMPLETION_MASK | (permille + 1) << _COMPLETION_SHIFT
        if obs.client:
            label = f"{obs.client} {obs.client_version or ''}".strip()
            packed = packed & _LOW_MASK | (self._intern(label) + 1) << _CLIENT_SHIFT
        self._keep(key, old, packed)
        if obs.failed_pieces or obs.failed_blocks:  # a failed block of a peer that verified counts too
            self.failed_hash.add(key)

    def snapshot(self) -> dict[str, Any]:
        """What a probe process probed, JSON-able, for :meth:`merge` in the coordinator: ``peers`` as
        ``[ip, port, packed without the client, client label or ""]``, byte and probe counters."""
        peers = [
            [ip, port, packed & _LOW_MASK, self._label(packed)] for (ip, port), packed in self.peers.items()
        ]
        return {
            "peers": peers,
            "failed": sorted(self.failed_hash),
            "bytes_in": self.bytes_in,
            "probes": self.probes,
            "over_bound": self.over_bound,
        }

    def _label(self, packed: int) -> str:
        index = packed >> _CLIENT_SHIFT
        return self.clients[index - 1] if index else ""

    def merge(self, snap: dict[str, Any]) -> None:
        """Fold in another process's :meth:`snapshot` of this swarm: best tier, sources (OR), its
        completion and client when it has one, counters added."""
        for ip, port, low, label in snap["peers"]:
            key = (ip, port)
            old = self.peers.get(key)
            packed = (Tier.LISTED.value if old is None else old) | low & _SOURCES_MASK
            if low & _TIER_MASK > packed & _TIER_MASK:
                packed = packed & ~_TIER_MASK | low & _TIER_MASK
            if low & _COMPLETION_MASK:
                packed = packed & ~_COMPLETION_MASK | low & _COMPLETION_MASK
            if label:
                packed = packed & _LOW_MASK | (self._intern(label) + 1) << _CLIENT_SHIFT
            self._keep(key, old, packed)
        self.over_bound += snap.get("over_bound", 0)
        self.failed_hash.update((ip, port) for ip, port in snap["failed"])
        self.bytes_in += snap["bytes_in"]
        self.probes += snap["probes"]

    def _intern(self, label: str) -> int:
        """The index of client ``label`` in :attr:`clients` (added once per swarm; past
        :data:`MAX_CLIENT_LABELS` labels, the index of :data:`OTHER_CLIENTS`)."""
        index = self._client_index.get(label)
        if index is None and len(self.clients) >= MAX_CLIENT_LABELS:
            label, index = OTHER_CLIENTS, self._client_index.get(OTHER_CLIENTS)
        if index is None:
            index = self._client_index[label] = len(self.clients)
            self.clients.append(label)
        return index

    def verified_leads(self) -> list[tuple[str, int, str]]:
        """Every verified peer address as ``(ip, port, source)``: the first source that named it other
        than PEX (``"pex"`` when only PEX did), to plan again (``ProbeProcesses`` hands them to a probe
        process that replaces one: its lead copy keeps only the newest leads)."""
        out = []
        for (ip, port), packed in self.peers.items():
            if packed & _TIER_MASK == Tier.VERIFIED.value:
                names = source_names((packed & _SOURCES_MASK) >> _SOURCES_SHIFT)
                out.append((ip, port, next((n for n in sorted(names) if n != "pex"), "pex")))
        return out

    @property
    def best(self) -> dict[tuple[str, int], Tier]:
        """The best tier reached per peer address (a fresh dict)."""
        return {key: _tier(packed) for key, packed in self.peers.items()}

    def counts(self) -> dict[str, int]:
        """Peers per tier, cumulative (``connected`` counts every peer that reached at least connected)."""
        tiers = Counter(packed & _TIER_MASK for packed in self.peers.values())
        out = {"listed": len(self.peers)}
        for tier in (Tier.CONNECTED, Tier.HAS_PIECES, Tier.VERIFIED):
            out[tier.label] = sum(n for t, n in tiers.items() if t >= tier)
        completions = [c for c in map(_permille, self.peers.values()) if c is not None]
        out["seeds"] = sum(1 for c in completions if c >= 1000)
        out["leechers"] = sum(1 for c in completions if c < 1000)
        out["hash_failures"] = len(self.failed_hash)
        return out

    def by_source(self) -> dict[str, int]:
        """Peer addresses per discovery source (a peer named by two sources counts for both)."""
        masks = Counter((packed & _SOURCES_MASK) >> _SOURCES_SHIFT for packed in self.peers.values())
        out: Counter[str] = Counter()
        for mask, n in masks.items():
            for name in source_names(mask):
                out[name] += n
        return dict(out)

    def top_clients(self, n: int = 3) -> list[tuple[str, int]]:
        """The ``n`` most frequent client names with their peer counts."""
        indices = Counter(packed >> _CLIENT_SHIFT for packed in self.peers.values())
        indices.pop(0, None)
        return [(self.clients[i - 1], count) for i, count in indices.most_common(n)]
