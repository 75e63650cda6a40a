"""A block proof served through MSE/PE exports and verifies: the bundle carries the proving block's bytes.

A plaintext capture lifts each received ``piece`` payload out as a blob, so the block a proof names is
stored by the capture itself. An MSE capture keeps the received stream RC4-encrypted, so nothing can be
lifted; the proving block must still be stored, since ``verify`` re-hashes ``blobs/<sha256>.bin`` and
checks it inside the reference piece (README "Blocks proving distribution", "Export and verify").

A real libtorrent 2.1.1 seed that insists on the MSE handshake serves the block, once with RC4 selected
and once with plaintext selected after the handshake (then the observation says not encrypted, yet the
capture is still an MSE stream: the case the defect was first seen in); the monitor
holds a reference copy, so its very first probe asks for a 16 KiB block rather than a whole piece. The
peer is named by PEX, as in the all-channels run where the defect was seen; the DHT node only makes the
run legal (a channel that could name peers), its bootstrap address answers nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.records import Source, Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.net.mse_conn import EncryptionPolicy
from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_capture
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.queries import load_observations
from tests.net.lt_seed import lt, make_torrent, seed

pytestmark = pytest.mark.realclients

SEED_IP = "127.0.5.61"
LEVELS = {  # the MSE handshake is forced; the crypto it selects (BEP 8 "crypto_select") is RC4 or plaintext
    "rc4": int(lt.enc_level.pe_rc4),
    "plaintext": int(lt.enc_level.pe_plaintext),
}
CLI = [sys.executable, "-m", "swarmscope.cli"]


def _monitor(tmp_path: Path, torrent: Path, encryption: EncryptionPolicy) -> Path:
    """Monitor ``torrent`` for 4 s with a reference copy, the seed named by PEX; returns the database."""
    db = tmp_path / "mse.db"
    store = open_store(str(db), node_key=load_or_create_node_key(default_key_path(str(db))))
    target = load_target(str(torrent))
    config = MonitorConfig(
        peer_id=b"-SS0100-mseblockmseb",
        duration=4.0,
        bind_ip="127.0.0.1",
        pex=False,
        dht=True,  # a channel that could name peers (no node answers at this loopback address)
        dht_bootstrap=[("127.0.5.62", 6881)],
        encryption=encryption,
        references={target.swarm: str(tmp_path / "content.bin")},
    )
    monitor = Monitor([target], store, config, Clock())

    async def main() -> None:
        task = asyncio.create_task(monitor.run())
        while not len(monitor.evidence.proofs.table(target.swarm)):  # the reference copy is loaded
            await asyncio.sleep(0.05)
        monitor.discovered(target.swarm, [(SEED_IP, 6881, None)], Source.PEX, "127.0.5.62:6881")
        await task

    try:
        asyncio.run(main())
    finally:
        store.close()
    return db


@pytest.mark.parametrize("level", LEVELS)
def test_an_mse_block_proof_exports_and_verifies(tmp_path: Path, netns: bool, level: str) -> None:
    torrent = make_torrent(tmp_path)
    forced = int(lt.enc_policy.pe_forced)
    with seed(torrent, tmp_path, SEED_IP, 6881, out_enc_policy=forced, in_enc_policy=forced,
              allowed_enc_level=LEVELS[level]):  # fmt: skip
        # require: we offer RC4 only; prefer: we offer RC4 and plaintext (crypto_provide 3), as the
        # all-channels run did, and the seed picks plaintext
        policy = EncryptionPolicy.REQUIRE if level == "rc4" else EncryptionPolicy.PREFER
        db = _monitor(tmp_path, torrent, policy)
    with open_store(str(db), create=False) as store:
        (obs,) = [o for o in load_observations(store) if o.ip == SEED_IP and o.tier is Tier.VERIFIED]
        assert obs.encrypted is (level == "rc4"), obs
        assert len(obs.verified_blocks) == 1 and not obs.verified_pieces, obs
        capture = load_capture(store, obs.capture_sha256 or b"")
        assert capture is not None
        doc = decode_capture(capture)
    assert doc.header.mse is not None  # type: ignore[union-attr]
    assert not any(isinstance(s, tuple) for s in doc.received)  # nothing lifted from an MSE stream

    bundle = tmp_path / "bundle"
    export = subprocess.run(
        [*CLI, "export", "--out", str(bundle), "--db", str(db)], capture_output=True, text=True, check=False
    )
    assert export.returncode == 0, export.stderr
    assert (bundle / "blobs" / f"{obs.verified_blocks[0].sha256.hex()}.bin").is_file()
    verify = subprocess.run(
        [*CLI, "verify", str(bundle), "--json"], capture_output=True, text=True, check=False
    )
    verdict = json.loads(verify.stdout)
    assert verify.returncode == 0 and verdict["ok"], verify.stdout[-3000:]
