"""A BEP 52 block that failed its hash is a hash failure on the swarm's pages too, not only the peer's.

A v2 or hybrid peer is verified by blocks (``verified_blocks``); a block whose SHA-256 does not match
goes to ``failed_blocks`` (``evidence/probe/piece_download.py``). When the peer goes on to verify enough
blocks, the probe clears its failure (a verified peer's soft failure is dropped), so the observation
holds ``failure`` None, ``failed_pieces`` empty and one failed block. The peer page lists it; the fold
behind the live overview and the swarm's peer list (``store/console/fold_rows.py``) counts a hash failure
only from ``failure == hash_mismatch`` or a failed piece, so this peer sent bad data and counts none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import BlockProof, Tier
from swarmscope.store.console.fold import catch_up
from swarmscope.store.console.overview import swarm_overview
from swarmscope.store.console.peers import peer_row
from swarmscope.store.database import open_store
from tests.store.factories import SWARM_A, T0, add_swarms, observation

S = 1_000_000


def _proof(piece: int, begin: int) -> BlockProof:
    return BlockProof(piece, begin, 16_384, hashlib.sha256(f"{piece}:{begin}".encode()).digest())


def test_a_failed_block_of_a_verified_v2_peer_counts_as_a_hash_failure(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "console.db"), node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        add_swarms(store)
        run = store.start_run({}, "0.1.0", T0)
        failed_then_verified = observation(
            "127.0.0.9", tier=Tier.VERIFIED, failure=None, bytes_received=3 * 16_384,
            verified_blocks=(_proof(0, 0), _proof(0, 16_384)), failed_blocks=(_proof(1, 0),),
        )  # fmt: skip
        store.add_observations(run, [failed_then_verified], sealed_at_us=T0 + S)
        catch_up(store)
        row = peer_row(store, SWARM_A, "127.0.0.9", 6881)
        assert row is not None and row.hash_failures == 1
        assert swarm_overview(store)[0].hash_failures == 1
    finally:
        store.close()
