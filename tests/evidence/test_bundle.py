"""Export bundle format and verifier, pure: real probe runs against scripted peers, real captures, real seals.

The world: a v1 torrent of 4 pieces; a seed verified by a whole piece, a peer verified by one 16 KiB block
against a reference piece, a choking peer (connected only); sightings of each; NTP clock samples with one
skewed stretch; the run's configuration. Records are chained and sealed with evidence.seal in batches of 4.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope import errors
from swarmscope.evidence.bundle import exhibits, methodology
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.verify import BundleUnusableError, verify_bundle
from swarmscope.evidence.canonical import EvidenceRecord, canonical_bytes
from swarmscope.evidence.capture.recording import Capture, CaptureRecorder, capture_header, replay
from swarmscope.evidence.chain import GENESIS, ChainEntry, append
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import BlockProof, ClockSample, Observation, RunStarted, Sighting, Tier
from swarmscope.evidence.seal import Batch, SealedBatch, key_fingerprint, public_key_raw, seal_batch
from swarmscope.wire import bencode
from swarmscope.wire.metainfo import parse_metainfo
from tests.evidence.fakepeer import OUR_ID, FakePeer, Pieces, bitfield, ext_handshake

if TYPE_CHECKING:
    from swarmscope.store.database import Store

T0 = 1_800_000_000_000_000  # UTC µs
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SEED_IP, BLOCK_IP, CHOKE_IP = "192.0.2.10", "198.51.100.20", "203.0.113.30"
NTP = "127.0.0.53:123"


def torrent_of(pieces: Pieces) -> bytes:
    """A v1 .torrent whose piece hashes are those of ``pieces``."""
    info = {
        b"length": sum(len(d) for d in pieces.data),
        b"name": b"work.bin",
        b"piece length": len(pieces.data[0]),
        b"pieces": b"".join(pieces.hashes),
    }
    return bencode.encode({b"announce": b"http://127.0.0.1:6969/announce", b"info": info})


@dataclass
class Probe:
    """One captured probe: the observation (with capture_sha256) and its capture."""

    observation: Observation
    capture: Capture


def captured_probe(
    meta_pieces: MetainfoPieces, peer: FakePeer, ip: str, start: int, candidates: tuple[BlockProof, ...] = ()
) -> Probe:
    """Drive a real ProbeRun against a scripted peer, recording every driver call into a capture."""
    infohash = peer.infohash
    run = ProbeRun(
        swarm=infohash.hex(), wire_infohash=infohash, peer_id=OUR_ID, pieces=meta_pieces, ip=ip, port=6881,
        source="tracker", started_us=start, policy=ProbePolicy(), piece_seed=7,
        extension_handshake=bencode.encode({b"m": {}, b"v": b"swarmscope/0.1.0"}),
        block_candidates=candidates,
    )  # fmt: skip
    recorder = CaptureRecorder(capture_header(run))
    now, mono = start + 100, 5_000
    out = run.connected(now)
    recorder.event("connected", now, mono, sent=out)
    to_probe = peer.handshake()
    for _ in range(200):
        if run.done:
            break
        to_probe += peer.feed(out)
        if not to_probe:
            break
        now, mono = now + 1000, mono + 1000
        out = run.received(to_probe, now)
        recorder.event("received", now, mono, to_probe, sent=out)
        to_probe = b""
    if not run.done:
        run.stop(now + 1)
        recorder.event("stop", now + 1, mono + 1)
    capture = recorder.finish()
    return Probe(replace(run.observation(), capture_sha256=capture.sha256), capture)


@dataclass
class World:
    """Records, captures and content of a small monitored swarm, and its sealed ledger."""

    torrent: bytes
    infohash: str
    pieces: Pieces
    records: list[EvidenceRecord]
    entries: list[ChainEntry]
    batches: list[SealedBatch]
    captures: dict[bytes, bytes]
    blobs: dict[bytes, bytes]
    reference: dict[tuple[str, int], bytes]
    key: Ed25519PrivateKey = KEY


def probes(pieces: Pieces, meta: MetainfoPieces) -> list[Probe]:
    """The three captured probes of the world (seed by piece, block proof, choking peer)."""
    n = pieces.num_pieces
    proof = BlockProof(1, 0, 16384, hashlib.sha256(pieces.data[1][:16384]).digest())
    ih = meta.meta.wire_infohash
    seed = FakePeer(pieces, infohash=ih, opening=bitfield(n, set(range(n))) + ext_handshake())
    block = FakePeer(pieces, infohash=ih, opening=bitfield(n, {1, 2}))
    choke = FakePeer(pieces, infohash=ih, opening=bitfield(n, {0}), unchoke_on_interested=False)
    return [
        captured_probe(meta, seed, SEED_IP, T0 + 10_000_000),
        captured_probe(meta, block, BLOCK_IP, T0 + 20_000_000, (proof,)),
        captured_probe(meta, choke, CHOKE_IP, T0 + 70_000_000),
    ]


def ledger_records(infohash: str, found: list[Probe]) -> list[EvidenceRecord]:
    settings = json.dumps(
        {"clock_servers": [NTP], "pieces_to_verify": 1}, sort_keys=True, separators=(",", ":")
    )
    records: list[EvidenceRecord] = [RunStarted(1, T0, "0.1.0", "abc1234", settings)]
    records.append(ClockSample(NTP, T0 + 1_000_000, 2_000, 500, 2, 0))
    for ip in (SEED_IP, BLOCK_IP, CHOKE_IP):
        records.append(
            Sighting(infohash, ip, 6881, "tracker", "http://127.0.0.1:6969/announce", T0 + 5_000_000)
        )
    records += [p.observation for p in found[:2]]
    records.append(ClockSample(NTP, T0 + 30_000_000, -3_000, 500, 2, 0))  # last good sync before the skew
    records.append(ClockSample(NTP, T0 + 60_000_000, 250_000, 500, 2, 0))  # skewed: flag window opens
    records.append(found[2].observation)  # started inside the window: flagged
    records.append(ClockSample(NTP, T0 + 90_000_000, 1_000, 500, 2, 0))
    return records


def seal_ledger(
    records: list[EvidenceRecord], per_batch: int = 4
) -> tuple[list[ChainEntry], list[SealedBatch]]:
    entries: list[ChainEntry] = []
    for record in records:
        entries.append(append(entries[-1] if entries else None, canonical_bytes(record)))
    batches = []
    for first in range(0, len(entries), per_batch):
        last = min(first + per_batch, len(entries)) - 1
        clock = {"server": NTP, "offset_us": 1000}
        batches.append(
            seal_batch(Batch(first, last, entries[last].entry_hash, T0 + 100_000_000 + first, clock), KEY)
        )
    return entries, batches


def make_world() -> World:
    """Build the world (deterministic)."""
    pieces = Pieces(n=4, last=5000)
    torrent = torrent_of(pieces)
    meta = parse_metainfo(torrent)
    found = probes(pieces, MetainfoPieces(meta))
    infohash = meta.swarm_id.hex
    records = ledger_records(infohash, found)
    entries, batches = seal_ledger(records)
    captures = {p.capture.sha256: p.capture.data for p in found}
    blobs = {sha: data for p in found for sha, data in p.capture.blobs.items()}
    return World(
        torrent, infohash, pieces, records, entries, batches, captures, blobs, {(infohash, 1): pieces.data[1]}
    )


def commit_world(store: Store, world: World) -> int:
    """Commit the world's records to ``store`` in three sealed batches (content with the second); run id."""
    store.add_swarm(
        world.infohash, world.infohash, None, "work.bin", 4, 32768, 103304, world.torrent, None, T0
    )
    run_id = store.start_run({"pieces_to_verify": 1}, "0.1.0", T0)
    records = world.records
    for n, (lo, hi) in enumerate(((0, 5), (5, 8), (8, len(records)))):
        store.commit_evidence(
            run_id,
            records=records[lo:hi],
            captures=world.captures if n == 1 else {},
            blobs=world.blobs if n == 1 else {},
            reference_pieces=[(world.infohash, 1, world.pieces.data[1])] if n == 1 else [],
            sealed_at_us=T0 + 100_000_000 + n,
            clock={"server": "127.0.0.53:123", "offset_us": 1000},
        )
    return run_id


def content_of(world: World, keep: set[int] | None = None, **filters: object) -> b.BundleContent:
    """BundleContent selecting ``keep`` (default all) of the world's records, with whole batches."""
    keep = set(range(len(world.records))) if keep is None else keep
    batches = [s for s in world.batches if any(s.batch.first_index <= i <= s.batch.last_index for i in keep)]
    entries = [
        e for e in world.entries if any(s.batch.first_index <= e.index <= s.batch.last_index for s in batches)
    ]
    return b.BundleContent(
        entries=tuple(entries),
        records={i: canonical_bytes(world.records[i]) for i in sorted(keep)},
        batches=tuple(batches),
        captures=world.captures,
        blobs=world.blobs,
        reference_pieces=world.reference,
        metainfo={world.infohash: world.torrent},
        filters={"clock_threshold_us": 100_000, **filters},
    )


def build(world: World, keep: set[int] | None = None, **filters: object) -> dict[str, bytes]:
    content = content_of(world, keep, **filters)
    return b.build_bundle(
        content, private_key=world.key, created_us=T0 + 200_000_000, software_version="0.1.0"
    )


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def files(world: World) -> dict[str, bytes]:
    return build(world)


def test_world_is_real(world: World) -> None:
    observations = [r for r in world.records if isinstance(r, Observation)]
    assert [o.tier for o in observations] == [Tier.VERIFIED, Tier.VERIFIED, Tier.HAS_PIECES]
    assert observations[0].verified_pieces and not observations[0].verified_blocks
    assert observations[1].verified_blocks and not observations[1].verified_pieces
    meta = MetainfoPieces(parse_metainfo(world.torrent))
    for o in observations:
        assert o.capture_sha256 is not None
        assert replay(world.captures[o.capture_sha256], meta, world.blobs.get) == o


def test_layout(files: dict[str, bytes], world: World) -> None:
    fp = key_fingerprint(public_key_raw(world.key))
    expected = {
        b.MANIFEST, b.MANIFEST_SIG, b.LEDGER, b.CHAIN, b.BATCHES, exhibits.OBSERVATIONS_JSONL,
        exhibits.OBSERVATIONS_CSV, exhibits.SIGHTINGS_JSONL, exhibits.CLOCK_JSONL, b.DATASETS,
        methodology.METHODOLOGY_MD, methodology.METHODOLOGY_JSON, f"keys/{fp}.pem",
        f"metainfo/{world.infohash}.torrent", f"pieces/{world.infohash}/1.bin",
    }  # fmt: skip
    assert expected <= set(files)
    assert {p for p in files if p.startswith("captures/")} == {b.capture_path(s) for s in world.captures}
    assert {p for p in files if p.startswith("blobs/")} == {b.blob_path(s) for s in world.blobs}
    manifest = json.loads(files[b.MANIFEST])
    assert manifest["format"] == "swarmscope-bundle" and manifest["signing_key"] == fp
    assert {f["path"] for f in manifest["files"]} == set(files) - {b.MANIFEST, b.MANIFEST_SIG}
    assert len(files[b.CHAIN]) == 104 * len(world.entries)
    assert json.loads(files[b.DATASETS]) == {"datasets": [], "note": b.DATASETS_NOTE}


def test_views_and_methodology(files: dict[str, bytes], world: World) -> None:
    lines = [json.loads(line) for line in files[exhibits.OBSERVATIONS_JSONL].splitlines()]
    assert [(o["ip"], o["tier"], o["clock_flagged"]) for o in lines] == [
        (SEED_IP, "verified", False), (BLOCK_IP, "verified", False), (CHOKE_IP, "has_pieces", True)
    ]  # fmt: skip
    assert lines[0]["record_sha256"] == world.entries[lines[0]["chain_index"]].record_hash.hex()
    assert files[exhibits.OBSERVATIONS_CSV].count(b"\r\n") == 4
    assert (
        len(files[exhibits.SIGHTINGS_JSONL].splitlines()) == 3
        and len(files[exhibits.CLOCK_JSONL].splitlines()) == 4
    )
    method = json.loads(files[methodology.METHODOLOGY_JSON])
    assert method["runs"][0]["software_commit"] == "abc1234"
    assert method["clock"]["status"] == "flagged" and method["clock"]["flagged_observations"] == 1
    assert method["verification"]["verified_by_block"] == 1
    assert b"abc1234" in files[methodology.METHODOLOGY_MD]


def test_verify_ok(files: dict[str, bytes], world: World) -> None:
    verdict = verify_bundle(files, expect_key=key_fingerprint(public_key_raw(world.key)))
    assert verdict.problems == ()
    assert verdict.ok and all(c.ok for c in verdict.checks)
    assert {c.name for c in verdict.checks} >= {
        "manifest",
        "chain",
        "batch seals",
        "capture replay",
        "block proofs",
    }


def test_wrong_expected_key(files: dict[str, bytes]) -> None:
    verdict = verify_bundle(files, expect_key="00" * 32)
    assert not verdict.ok
    assert {p.file for p in verdict.problems} == {b.MANIFEST, b.BATCHES}


def test_not_a_bundle() -> None:
    with pytest.raises(BundleUnusableError):
        verify_bundle({"records/ledger.bin": b""})


def test_binary_codecs_round_trip(world: World) -> None:
    records = {i: canonical_bytes(r) for i, r in enumerate(world.records)}
    assert dict(b.ledger_from_bytes(b.ledger_bytes(records))) == records
    assert b.chain_from_bytes(b.chain_bytes(world.entries)) == world.entries
    assert b.batches_from_bytes(b.batches_bytes(world.batches)) == world.batches
    assert world.entries[0].prev_hash == GENESIS


def test_codecs_reject_every_truncation(world: World) -> None:
    data = b.ledger_bytes({i: canonical_bytes(r) for i, r in enumerate(world.records[:3])})
    sealed = b.batches_bytes(world.batches[:1])
    boundaries = {0}
    pos = 0
    while pos < len(data):
        pos += 12 + int.from_bytes(data[pos + 8 : pos + 12], "big")
        boundaries.add(pos)
    for cut in range(len(data)):
        if cut not in boundaries:
            with pytest.raises(errors.DecodeError):
                b.ledger_from_bytes(data[:cut])
    for cut in range(1, len(sealed)):
        with pytest.raises(errors.DecodeError):
            b.batches_from_bytes(sealed[:cut])
    for cut in range(1, 104):
        with pytest.raises(errors.DecodeError):
            b.chain_from_bytes(b.chain_bytes(world.entries[:1])[:cut])
