"""What each verified hit proved, in the exact words exhibits, ACNS notices and letters use.

A hit (a ``verified`` observation) rests on one of two proofs, and the documents never say more than it:

* a whole piece — ``piece 3 (32,768 bytes, SHA-1 of the piece matched the torrent)``: the piece's hash is
  the one the torrent carries for it: SHA-1 for v1 (BEP 3 ``pieces``), the SHA-256 merkle root of its
  16 KiB leaves for v2 (BEP 52 piece layers), both for a hybrid (every hash present is checked);
* a block — ``block at offset 16,384 of piece 5 (16,384 bytes, SHA-256 matched a piece already checked
  against the torrent)``: the torrent carries no hash of a block; its SHA-256 equals that of the same block
  of a piece verified in full before (a reference copy, or an earlier whole-piece hit). The last block of
  the last piece may be shorter than 16 KiB (BEP 3 "request"); the length printed is the block's own.

Piece indices are 0-based, as in the torrent (BEP 3); byte counts and offsets carry thousands separators.
A hit that proved more than one piece or block lists each, joined by "and".

Source: README "Blocks proving distribution"; ``evidence/probe/piece_download.py`` (what a probe judges),
``evidence/probe/block_table.py`` (where block hashes come from); BEP 3, BEP 52.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from swarmscope.cases.case_proof import CaseClaim, ProvenCaseHits
from swarmscope.cases.run_clock import workflow_clock
from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.vantage import vantage_count
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.ledger.proven import EvidenceTrust, ProvenHit, store_trust
from swarmscope.store.legal.letters import CaseFacts, case_facts
from swarmscope.store.legal.notices import HitWindow, SwarmPieces, swarm_pieces
from swarmscope.wire.metainfo import Metainfo, parse_metainfo

if TYPE_CHECKING:
    from swarmscope.store.database import Store

BLOCK_CHECK = "SHA-256 matched a piece already checked against the torrent"
NO_PROOF = "no piece or block recorded"


@dataclass(frozen=True, slots=True)
class TorrentPieces:
    """What the documents need of a torrent's pieces: the hashes a whole piece is checked with, and sizes.

    Args:
        hashes: ``SHA-1``, ``SHA-256 merkle root`` or ``SHA-1 and SHA-256 merkle root`` (hybrid).
        meta: the parsed .torrent when stored (exact piece sizes), else None.
        piece_length, total_size: bytes, from the swarm row (0 when unknown: a magnet before BEP 9).
        v2_only: pieces end at file boundaries (BEP 52), so sizes need ``meta``.
    """

    hashes: str
    meta: Metainfo | None = None
    piece_length: int = 0
    total_size: int = 0
    v2_only: bool = False

    def piece_size(self, index: int) -> int | None:
        """Length of piece ``index`` in bytes, or None when the stored facts cannot tell."""
        if self.meta is not None:
            return self.meta.piece_size(index) if 0 <= index < self.meta.num_pieces else None
        start = index * self.piece_length
        if self.v2_only or self.piece_length <= 0 or not 0 <= start < self.total_size:
            return None
        return min(self.piece_length, self.total_size - start)  # v1 / hybrid layout (BEP 47 pads count)


def _hash_names(v1: bool, v2: bool) -> str:
    names = [name for name, present in (("SHA-1", v1), ("SHA-256 merkle root", v2)) if present]
    return " and ".join(names)


def torrent_pieces(row: SwarmPieces | None, infohash: str) -> TorrentPieces:
    """The :class:`TorrentPieces` of a stored swarm row, taken only from metainfo that hashes to ``infohash``.

    The row's ``piece_length``, ``total_size`` and v1/v2 columns are not sealed, so without such metainfo
    (missing, undecodable, or another torrent's) sizes are unknown and the hash is named from the infohash
    length alone: 40 hex digits a SHA-1 (BEP 3), 64 a SHA-256 merkle root (BEP 52).
    """
    meta = None
    if row is not None and row.metainfo is not None:
        try:
            meta = parse_metainfo(row.metainfo)
        except DecodeError:
            meta = None
        if meta is not None and infohash.lower() not in {h.hex for h in (meta.v1, meta.v2) if h is not None}:
            meta = None  # not this torrent's metainfo (BEP 3 / BEP 52 infohash): its piece sizes say nothing
    if meta is None:
        v2 = len(infohash) == 64  # BEP 52 v2-only swarm id; a 40-digit id is v1 (or hybrid)
        return TorrentPieces(_hash_names(not v2, v2), v2_only=v2)
    v1, v2 = meta.v1 is not None, meta.v2 is not None
    return TorrentPieces(_hash_names(v1, v2), meta, meta.piece_length, meta.total_size, v2 and not v1)


def piece_proof(index: int, size: int | None, hashes: str) -> str:
    """``piece N (L bytes, <hashes> of the piece matched the torrent)``."""
    length = "length unknown" if size is None else f"{size:,} bytes"
    return f"piece {index} ({length}, {hashes} of the piece matched the torrent)"


def block_proof(piece: int, begin: int, length: int) -> str:
    """``block at offset O of piece N (L bytes, SHA-256 matched a piece already checked against the
    torrent)``; O and L in bytes."""
    return f"block at offset {begin:,} of piece {piece} ({length:,} bytes, {BLOCK_CHECK})"


def hit_proof(window: HitWindow, pieces: TorrentPieces) -> str:
    """Everything one hit proved: its pieces, then its blocks, joined by "and" (:data:`NO_PROOF` if none)."""
    parts = [piece_proof(i, pieces.piece_size(i), pieces.hashes) for i in window.verified_pieces]
    parts += [block_proof(p, b, n) for p, b, n in window.verified_blocks]
    return " and ".join(parts) or NO_PROOF


def offered(windows: Iterable[HitWindow]) -> str:
    """What the hits together proved, in the words of :func:`hit_proof`: ``verified pieces``, ``verified
    blocks of pieces`` (only block proofs), ``verified pieces and blocks of pieces``, or ``data`` when no
    hit recorded a proof (never more than the hits carry)."""
    proofs = list(windows)
    kinds = [
        name
        for name, present in (
            ("pieces", any(w.verified_pieces for w in proofs)),
            ("blocks of pieces", any(w.verified_blocks for w in proofs)),
        )
        if present
    ]
    return f"verified {' and '.join(kinds)}" if kinds else "data"


NODE_PREFIX = 16  # hex digits of a node key fingerprint named in a hit line (64 bits)


def hit_line(window: HitWindow, pieces: TorrentPieces, *, name_node: bool = False, vantages: int = 1) -> str:
    """``<start, ISO 8601 UTC>: <hit_proof>``, and `` (seen from node <fingerprint prefix>)`` when
    ``name_node`` and the node that sealed it is known (a fleet: several vantage points); with
    ``vantages`` >= 2 (distinct source networks of the runs that saw the case's counted hits) the
    parenthesis adds ``; corroborated: seen from N vantage points``, as ``cases build --min-vantages``
    counts them."""
    line = f"{us_to_iso(window.started_us)}: {hit_proof(window, pieces)}{port_note(window)}"
    if name_node and window.node:
        also = f"; corroborated: seen from {vantages} vantage points" if vantages >= 2 else ""
        line += f" (seen from node {window.node[:NODE_PREFIX]}{also})"
    return line


def port_note(window: HitWindow) -> str:
    """How the hit's port was observed, for a peer that connected to us (empty for our own connection, to
    the port named): the TCP source port and time are what an ISP behind carrier-grade NAT matches (RFC
    6302 section 2); a BEP 10 listen port the peer claimed is named as a claim, and as checked only when
    our own connection to it verified it."""
    if window.source_port is None:
        return ""
    note = f" (the peer connected to us from TCP source port {window.source_port}"
    if window.claimed_port is not None and window.claimed_port != window.source_port:
        checked = (
            "verified by our own connection to it" if window.port == window.claimed_port else "unchecked"
        )
        note += f", claiming listen port {window.claimed_port}: {checked}"
    return note + ")"


def case_hits(windows: Sequence[HitWindow], port: int, first_us: int, last_us: int) -> list[HitWindow]:
    """The hits a case counts: its port, started within its first..last hit (UTC µs, inclusive)."""
    return [w for w in windows if w.port == port and first_us <= w.started_us <= last_us]


def proven_windows(hits: Iterable[ProvenHit]) -> list[HitWindow]:
    """Hits proven against the sealed ledger, as the documents show them (interval, client, proofs)."""
    return [
        HitWindow(
            h.started_us,
            h.ended_us,
            h.port,
            h.client,
            h.client_version,
            h.verified_pieces,
            h.verified_blocks,
            h.signer,
            h.source_port,
            h.claimed_port,
        )
        for h in hits
    ]


def case_windows(proof: ProvenCaseHits, case: CaseClaim) -> list[HitWindow]:
    """The case's counted hits (:func:`case_hits`) among its address's proven hits, oldest first."""
    return case_hits(proven_windows(proof.hits(case)), case.port, case.first_hit_us, case.last_hit_us)


def case_pieces(store: Store, infohash: str) -> TorrentPieces:
    """The piece facts of the case's torrent for the proof wording (:func:`torrent_pieces`)."""
    return torrent_pieces(swarm_pieces(store, infohash), infohash)


def hit_lines(store: Store, proof: ProvenCaseHits, case: CaseClaim) -> list[str]:
    """One :func:`hit_line` per counted, proven hit of the case, oldest first; each names the node that
    saw it when the evidence is trusted under more than one node key (a fleet's vantage points), and
    says the case is corroborated when its counted hits were seen from two or more vantage points
    (distinct source networks of the sealing runs, as ``cases build --min-vantages`` counts them: two
    nodes on one address or network are one)."""
    pieces = case_pieces(store, case.infohash)
    name_node = len(proof.trust.fingerprints) > 1
    windows = case_windows(proof, case)
    vantages = case_vantages(store, proof, case) if name_node else 1
    return [hit_line(w, pieces, name_node=name_node, vantages=vantages) for w in windows]


def case_vantages(store: Store, proof: ProvenCaseHits, case: CaseClaim) -> int:
    """Distinct vantage points (:meth:`swarmscope.cases.run_clock.WorkflowClock.vantage`) of the case's
    counted, proven hits, at most as many as the distinct node keys that sealed them (one node key's runs
    from two networks share its clock and software: :func:`swarmscope.evidence.bundle.vantage.corroborated`,
    as ``cases build --min-vantages`` counts)."""
    counted = [
        h
        for h in proof.hits(case)
        if h.port == case.port and case.first_hit_us <= h.started_us <= case.last_hit_us
    ]
    clock = workflow_clock(store, proof.trust, counted)
    return min(vantage_count(clock.vantage(h) for h in counted), len({h.signer for h in counted}))


def letter_facts(store: Store, case_id: int, trust: EvidenceTrust | None = None) -> CaseFacts:
    """:func:`store.legal.letters.case_facts` with ``hit_proofs``: what each counted, proven hit proved.

    Args:
        trust: node keys and clock the hits are proven under (None: the store's own node key, system clock).

    Raises:
        StoreError: no such case. InputError: no trust and the store has no node key.
    """
    facts = case_facts(store, case_id)
    proof = ProvenCaseHits(store, store_trust(store, trust), ips=frozenset({facts.ip}))
    return replace(facts, hit_proofs=tuple(hit_lines(store, proof, facts)))
