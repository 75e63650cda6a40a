"""What each verified hit proved, worded exactly (a whole piece or one block), in letters too; which hits
count for a case."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases import letters as L
from swarmscope.cases.case_proof import ProvenCaseHits
from swarmscope.cases.hit_proofs import (
    NO_PROOF,
    block_proof,
    case_hits,
    hit_lines,
    hit_proof,
    letter_facts,
    piece_proof,
    proven_windows,
    torrent_pieces,
)
from swarmscope.evidence.records import BlockProof, Observation, RunStarted, Source, Tier
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import EvidenceTrust, proven_observations
from swarmscope.store.legal.notices import HitWindow, SwarmPieces
from swarmscope.wire.metainfo import parse_metainfo
from tests.cases.evidence import node_key_for
from tests.cases.test_exhibits import BLOCK_5, HOUR, IH, LAST_PIECE, PIECE_3, T0, build_world
from tests.cases.test_letters import LETTER, SETTINGS, TO, flat, pdf_text
from tests.conftest import FIXTURES


def test_exact_wording_of_a_piece_and_a_block() -> None:
    piece = "piece 3 (262,144 bytes, SHA-1 of the piece matched the torrent)"
    assert piece_proof(3, 262_144, "SHA-1") == piece
    assert block_proof(5, 16_384, 16_384) == (
        "block at offset 16,384 of piece 5 (16,384 bytes, SHA-256 matched a piece already checked against the"
        " torrent)"
    )
    assert block_proof(9, 1_048_576, 1_000) == (  # the short last block of the last piece keeps its length
        "block at offset 1,048,576 of piece 9 (1,000 bytes, SHA-256 matched a piece already checked against"
        " the torrent)"
    )


def test_hash_names_and_sizes_follow_the_torrent() -> None:
    v2_row = SwarmPieces(None, "c3" * 32, 4, 65_536, 200_000, None)
    assert torrent_pieces(v2_row, "c3" * 32).hashes == "SHA-256 merkle root"
    # v2-only pieces end at file boundaries (BEP 52): without the .torrent the size is not guessed
    window = HitWindow(T0, T0 + 1, 1, None, None, verified_pieces=(0,))
    assert hit_proof(window, torrent_pieces(v2_row, "c3" * 32)) == (
        "piece 0 (length unknown, SHA-256 merkle root of the piece matched the torrent)"
    )
    assert torrent_pieces(None, IH).hashes == "SHA-1"
    assert hit_proof(HitWindow(T0, T0 + 1, 1, None, None), torrent_pieces(None, IH)) == NO_PROOF


def test_v2_piece_sizes_come_from_the_stored_torrent() -> None:
    path = FIXTURES / "libtorrent" / "test_torrents" / "v2_multiple_files.torrent"
    if not path.is_file():
        pytest.skip(f"fixture {path} not found")
    data = path.read_bytes()
    v2 = parse_metainfo(data).v2
    assert v2 is not None
    row = SwarmPieces(None, v2.hex, 3002, 1_048_576, 3_147_825_152, data)
    pieces = torrent_pieces(row, v2.hex)  # the stored torrent hashes to the swarm's infohash
    assert pieces.meta is not None and pieces.hashes == "SHA-256 merkle root"
    short = next(i for i in range(pieces.meta.num_pieces) if pieces.meta.piece_size(i) < 1_048_576)
    size = pieces.meta.piece_size(short)
    window = HitWindow(T0, T0 + 1, 1, None, None, verified_pieces=(short,))
    assert hit_proof(window, pieces) == (
        f"piece {short} ({size:,} bytes, SHA-256 merkle root of the piece matched the torrent)"
    )


def proven(store: Store, ip: str) -> list[HitWindow]:
    """The address's hits proven against the ledger under the store's own node key."""
    assert store.node is not None
    return proven_windows(proven_observations(store, {store.node.fingerprint}, T0 + 10 * HOUR, ips=[ip]).hits)


def test_a_case_counts_only_its_port_and_interval(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        store.add_swarm(IH, IH, None, "w", 8, 32768, 8 * 32768, None, None, T0)
        run = store.start_run({}, "0.1.0", T0)

        def hit(port: int, start: int, piece: int) -> Observation:
            return Observation(
                IH, "127.0.0.5", port, Source.TRACKER.value, start, start + 1, Tier.VERIFIED,
                verified_pieces=(piece,), bytes_received=32768,
            )  # fmt: skip

        records = [hit(6881, T0, 0), hit(6882, T0 + 1, 1), hit(6881, T0 + HOUR, 2)]
        records.append(hit(6881, T0 + 3 * HOUR, 3))  # after the case's last hit
        store.commit_evidence(run, records=records, sealed_at_us=T0 + 4 * HOUR)
        windows = proven(store, "127.0.0.5")
    finally:
        store.close()
    kept = case_hits(windows, 6881, T0, T0 + HOUR)
    assert [w.verified_pieces for w in kept] == [(0,), (2,)]


def test_letters_say_what_each_hit_proved(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    store = open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0)
    try:
        facts = letter_facts(store, world.case_ids["DOE-000001"])
    finally:
        store.close()
    assert facts.hit_proofs == (
        f"2026-11-30T00:53:20.000000Z: {PIECE_3}",
        f"2026-11-30T01:53:20.000000Z: {BLOCK_5}",
        f"2026-11-30T02:53:20.000000Z: {LAST_PIECE}",
    )
    rendered = L.render_letter(facts, LETTER, TO, SETTINGS)
    for line in facts.hit_proofs:
        assert f"  {line}\n" in rendered.text
    text = flat(pdf_text(rendered.pdf, tmp_path))
    for proof in (PIECE_3, BLOCK_5, LAST_PIECE):
        assert proof in text, proof
    assert "received a block or piece of the work" not in flat(rendered.text)
    assert L.forbidden_wording(rendered.text) == []


def test_a_block_proof_is_stored_and_read_back_as_a_block(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        store.add_swarm(IH, IH, None, "w", 8, 32768, 8 * 32768, None, None, T0)
        run = store.start_run({}, "0.1.0", T0)
        proof = BlockProof(2, 16384, 16384, bytes(32))
        obs = Observation(
            IH, "127.0.0.6", 6881, Source.TRACKER.value, T0, T0 + 1, Tier.VERIFIED,
            verified_blocks=(proof,), bytes_received=16384,
        )  # fmt: skip
        store.commit_evidence(run, records=[obs], sealed_at_us=T0 + 1)
        (window,) = proven(store, "127.0.0.6")
    finally:
        store.close()
    assert window.verified_pieces == () and window.verified_blocks == ((2, 16384, 16384),)


def test_a_letter_without_recorded_hits_says_so() -> None:
    from tests.cases.test_letters import FACTS

    rendered = L.render_letter(FACTS, LETTER, TO, SETTINGS)  # FACTS: no hit_proofs
    for body in (rendered.text, rendered.html):
        assert "(no verified hit of this case was found in the evidence store)" in body


def _seal_fleet_hits(stores: list[Store], binds: list[str]) -> None:
    """One verified hit of 127.0.0.5 per node, an hour apart, each in a run sealed with its --bind."""
    stores[0].add_swarm(IH, IH, None, "w", 8, 32768, 8 * 32768, None, None, T0)
    for i, (store, bind) in enumerate(zip(stores, binds, strict=True)):
        settings = {"bind_ip": bind}
        run = store.start_run(settings, "0.1.0", T0)
        started = RunStarted(run, T0, "0.1.0", None, json.dumps(settings))
        start = T0 + i * HOUR
        seen = Observation(
            IH, "127.0.0.5", 6881, Source.TRACKER.value, start, start + 1, Tier.VERIFIED,
            verified_pieces=(i,), bytes_received=32768,
        )  # fmt: skip
        store.commit_evidence(run, records=[started, seen], sealed_at_us=T0 + 4 * HOUR)


def _fleet_lines(tmp_path: Path, sealers: list[int], binds: list[str]) -> list[str]:
    """The hit lines of 127.0.0.5 when node ``sealers[i]`` (of two keys, both trusted) sealed hit ``i``
    in a run bound at ``binds[i]``."""
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    stores = [open_store(str(tmp_path / "fleet.db"), node_key=k, now_us=T0) for k in keys]
    try:
        _seal_fleet_hits([stores[i] for i in sealers], binds)
        fingerprints = frozenset(key_fingerprint(public_key_raw(k)) for k in keys)
        proof = ProvenCaseHits(stores[0], EvidenceTrust(fingerprints, T0 + 10 * HOUR))
        return hit_lines(stores[0], proof, Claim("DOE-1", "127.0.0.5", IH, 6881, 2, T0, T0 + HOUR))
    finally:
        for store in stores:
            store.close()


def test_hit_lines_of_two_nodes_on_one_source_address_are_not_corroborated(tmp_path: Path) -> None:
    lines = _fleet_lines(tmp_path, [0, 1], ["127.0.4.1", "127.0.4.1"])
    assert len(lines) == 2 and all("(seen from node " in line for line in lines), lines
    assert not any("corroborated" in line for line in lines), lines  # one vantage point, two keys


@dataclass(frozen=True)
class Claim:
    """A case's claim (:class:`swarmscope.cases.case_proof.CaseClaim`)."""

    doe: str
    ip: str
    infohash: str
    port: int
    hits: int
    first_hit_us: int
    last_hit_us: int


def test_hit_lines_name_the_node_that_saw_each_hit_in_a_fleet(tmp_path: Path) -> None:
    db = str(tmp_path / "fleet.db")
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    stores = [open_store(db, node_key=k, now_us=T0) for k in keys]
    try:
        _seal_fleet_hits(stores, ["127.0.4.1", "127.0.4.5"])  # two source addresses: two vantages
        fingerprints = [key_fingerprint(public_key_raw(k)) for k in keys]
        claim = Claim("DOE-1", "127.0.0.5", IH, 6881, 2, T0, T0 + HOUR)
        fleet = ProvenCaseHits(stores[0], EvidenceTrust(frozenset(fingerprints), T0 + 10 * HOUR))
        lines = hit_lines(stores[0], fleet, claim)
        alone = ProvenCaseHits(stores[0], EvidenceTrust(frozenset(fingerprints[:1]), T0 + 10 * HOUR))
        single = hit_lines(stores[0], alone, dataclasses.replace(claim, hits=1, last_hit_us=T0))
        first = hit_lines(stores[0], fleet, dataclasses.replace(claim, hits=1, last_hit_us=T0))
    finally:
        for store in stores:
            store.close()
    assert len(lines) == 2 and len(single) == 1 and "seen from node" not in single[0]
    for line, fingerprint in zip(lines, fingerprints, strict=True):  # two nodes saw the case: corroborated
        assert line.endswith(
            f"(seen from node {fingerprint[:16]}; corroborated: seen from 2 vantage points)"
        ), line
    assert first == [
        lines[0].replace("; corroborated: seen from 2 vantage points", "")
    ]  # one node: not corroborated


def test_hit_lines_of_one_node_key_from_two_binds_are_not_corroborated(tmp_path: Path) -> None:
    """One node key's runs bound at two addresses: two vantages, one node; exhibits count as cases build."""
    lines = _fleet_lines(tmp_path, [0, 0], ["127.0.4.1", "127.0.4.5"])  # both hits: node 0's key
    assert len(lines) == 2 and all("(seen from node " in line for line in lines), lines
    assert not any("corroborated" in line for line in lines), lines  # two vantage points, one key
