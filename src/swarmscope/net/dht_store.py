"""Peers other nodes announced to us (BEP 5 announce_peer), bounded and expiring.

Answering ``get_peers`` with stored ``values`` is what a DHT node owes the network; it also means peers
that announce to us are discovered without a lookup.

Sources: BEP 5 "announce_peer"; BEP 33 (``seed`` flag, bloom filters); BEP 51 (infohash samples).
"""

from __future__ import annotations

from swarmscope.wire.dht_scrape import BLOOM_BYTES, bloom_insert
from swarmscope.wire.types import Endpoint

PEER_LIFETIME = 30 * 60.0  # seconds an announce stays valid (libtorrent: 30 minutes)
MAX_INFOHASHES = 1_000
MAX_PEERS_PER_INFOHASH = 200


class PeerStore:
    """``infohash → {peer endpoint: (announce time, seed)}`` with size bounds and expiry."""

    def __init__(self, max_infohashes: int = MAX_INFOHASHES, max_peers: int = MAX_PEERS_PER_INFOHASH) -> None:
        self.max_infohashes, self.max_peers = max_infohashes, max_peers
        self._peers: dict[bytes, dict[Endpoint, tuple[float, bool]]] = {}

    def add(self, info_hash: bytes, peer: Endpoint, seed: bool, now: float) -> bool:
        """Store one announce; returns False when a bound refused it."""
        peers = self._peers.get(info_hash)
        if peers is None:
            if len(self._peers) >= self.max_infohashes:
                return False
            peers = self._peers[info_hash] = {}
        if peer not in peers and len(peers) >= self.max_peers:
            return False
        peers[peer] = (now, seed)
        return True

    def peers(self, info_hash: bytes, limit: int = 100, noseed: bool = False) -> list[Endpoint]:
        """Up to ``limit`` stored peers, leechers first when ``noseed`` (BEP 33)."""
        entries = list(self._peers.get(info_hash, {}).items())
        if noseed:
            entries.sort(key=lambda item: item[1][1])
        return [peer for peer, _ in entries[:limit]]

    def holds(self, info_hash: bytes) -> bool:
        """True when a peer is stored for ``info_hash`` (a get_peers answer then has values, BEP 5)."""
        return bool(self._peers.get(info_hash))

    def blooms(self, info_hash: bytes) -> tuple[bytes, bytes] | None:
        """BEP 33 ``(BFsd, BFpe)`` for the stored peers, None when nothing is stored."""
        entries = self._peers.get(info_hash)
        if not entries:
            return None
        seeds, peers = bytearray(BLOOM_BYTES), bytearray(BLOOM_BYTES)
        for peer, (_, seed) in entries.items():
            bloom_insert(seeds if seed else peers, peer.host)
        return bytes(seeds), bytes(peers)

    def infohashes(self) -> list[bytes]:
        """Every infohash with stored peers (BEP 51 samples)."""
        return list(self._peers)

    def expire(self, now: float) -> None:
        """Drop announces older than :data:`PEER_LIFETIME`."""
        for info_hash in list(self._peers):
            peers = self._peers[info_hash]
            for peer in [p for p, (t, _) in peers.items() if now - t > PEER_LIFETIME]:
                del peers[peer]
            if not peers:
                del self._peers[info_hash]
