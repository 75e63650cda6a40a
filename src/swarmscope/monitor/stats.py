"""Running per-swarm counters for the live view (updated as sightings and observations arrive)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from swarmscope.evidence.records import Observation, Tier


@dataclass(slots=True)
class SwarmStats:
    """Counters of one swarm: best tier per peer address, seeds vs leechers, bytes in, clients."""

    swarm: str
    name: str
    best: dict[tuple[str, int], Tier] = field(default_factory=dict)
    completion: dict[tuple[str, int], float] = field(default_factory=dict)
    client: dict[tuple[str, int], str] = field(default_factory=dict)
    failed_hash: set[tuple[str, int]] = field(default_factory=set)
    sources: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    bytes_in: int = 0
    probes: int = 0
    trackers_ok: int = 0
    tracker_errors: int = 0
    last_tracker_error: str | None = None
    dht_estimate: tuple[float | None, float | None] | None = None  # BEP 33 (seeds, peers)

    def sighted(self, ip: str, port: int, source: str = "tracker") -> None:
        """A discovery source named the address."""
        self.best.setdefault((ip, port), Tier.LISTED)
        self.sources.setdefault((ip, port), set()).add(source)

    def observed(self, obs: Observation) -> None:
        """Fold one probe result in."""
        key = (obs.ip, obs.port)
        self.sources.setdefault(key, set()).add(obs.source)
        self.probes += 1
        self.bytes_in += obs.bytes_received
        if obs.tier > self.best.get(key, Tier.LISTED):
            self.best[key] = obs.tier
        else:
            self.best.setdefault(key, obs.tier)
        if obs.completion is not None:
            self.completion[key] = obs.completion
        if obs.client:
            self.client[key] = f"{obs.client} {obs.client_version or ''}".strip()
        if obs.failed_pieces:
            self.failed_hash.add(key)

    def counts(self) -> dict[str, int]:
        """Peers per tier, cumulative (``connected`` counts every peer that reached at least connected)."""
        tiers = Counter(self.best.values())
        out = {"listed": len(self.best)}
        for tier in (Tier.CONNECTED, Tier.HAS_PIECES, Tier.VERIFIED):
            out[tier.label] = sum(n for t, n in tiers.items() if t >= tier)
        out["seeds"] = sum(1 for c in self.completion.values() if c >= 1.0)
        out["leechers"] = sum(1 for c in self.completion.values() if c < 1.0)
        out["hash_failures"] = len(self.failed_hash)
        return out

    def by_source(self) -> dict[str, int]:
        """Peer addresses per discovery source (a peer named by two sources counts for both)."""
        out: Counter[str] = Counter()
        for names in self.sources.values():
            out.update(names)
        return dict(out)

    def top_clients(self, n: int = 3) -> list[tuple[str, int]]:
        """The ``n`` most frequent client names with their peer counts."""
        return Counter(self.client.values()).most_common(n)
