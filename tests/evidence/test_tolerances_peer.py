"""Peer-side rows of docs/tolerances.md: a scripted peer sends what broken real peers send, and the probe
keeps probing, records the deviation as a quirk and never records a false ``verified``.

Each test names its row id (P-nn). Rows already proven elsewhere are listed in docs/tolerances.md with
their test (tests/evidence/test_probe.py, tests/wire/test_peer.py, tests/wire/test_extension.py).
"""

from __future__ import annotations

from typing import Any

from swarmscope.evidence.records import Tier
from swarmscope.wire import bencode
from swarmscope.wire import peer as pw
from tests.evidence.fakepeer import FakePeer, Pieces, bitfield, converse, make_run

N = 10
ALL = set(range(N))
NO_FAST = bytes.fromhex("0000000000100000")  # BEP 10 bit only: no fast extension (BEP 6)


def ext(fields: dict[bytes, Any]) -> bytes:
    return pw.encode_message(pw.Extended(0, bencode.encode(fields)))


def probe(opening: bytes, **peer: Any) -> tuple[Any, FakePeer]:
    pieces = Pieces(N)
    fake = FakePeer(pieces, opening=opening, **peer)
    run = make_run(pieces, seed=2)
    converse(run, fake)
    assert run.done
    return run.observation(), fake


def test_p02_have_all_without_fast_extension_is_a_claim_and_a_quirk() -> None:
    """P-02: libtorrent and Transmission drop the peer; we keep probing and let the hashes decide."""
    obs, _ = probe(pw.encode_message(pw.Simple(pw.HAVE_ALL)), reserved=NO_FAST)
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces == (2,)
    assert "BEP 6 have_all/have_none without the fast extension" in obs.quirks


def test_p02_have_none_without_fast_extension_then_have() -> None:
    """P-02: a have_none from a non-fast peer is an empty claim; a later have still counts."""
    opening = pw.encode_message(pw.Simple(pw.HAVE_NONE)) + pw.encode_message(pw.Have(pw.HAVE, 4))
    obs, _ = probe(opening, reserved=NO_FAST)
    assert obs.tier is Tier.VERIFIED and obs.verified_pieces == (4,) and obs.pieces_have == 1
    assert "BEP 6 have_all/have_none without the fast extension" in obs.quirks


def test_p04_unknown_message_ids_are_skipped() -> None:
    """P-04: Transmission skips unknown ids; libtorrent disconnects. We skip and record them."""
    unknown = b"".join(pw.encode_message(pw.Unknown(i, b"\x01\x02\x03")) for i in (0x0A, 0x55, 0xFF))
    obs, _ = probe(unknown + bitfield(N, ALL) + unknown)
    assert obs.tier is Tier.VERIFIED
    assert {"unknown message id 10", "unknown message id 85", "unknown message id 255"} <= set(obs.quirks)


def test_p05_piece_for_a_request_dropped_by_choke_is_not_evidence() -> None:
    """P-05: without BEP 6 a choke cancels our requests (BEP 3); a block sent after that is unrequested.

    libtorrent counts it as redundant (``piece_unknown``) and keeps the peer; so do we, and the block never
    counts towards ``verified``."""
    pieces = Pieces(N)

    class LateAfterChoke(FakePeer):
        def feed(self, data: bytes) -> bytes:
            out = super().feed(data)
            if not self.requests_seen or getattr(self, "_choked_once", False):
                return out
            self._choked_once = True
            index, begin, length = self.requests_seen[0]
            late = pw.Piece(index, begin, bytes(length))  # wrong bytes, after the choke
            return pw.encode_message(pw.Simple(pw.CHOKE)) + pw.encode_message(late)

    fake = LateAfterChoke(pieces, opening=bitfield(N, ALL), reserved=NO_FAST)
    run = make_run(pieces, seed=2)
    converse(run, fake)
    obs = run.observation()
    assert "BEP 6 piece never requested" in obs.quirks
    assert obs.verified_pieces == () and obs.failed_pieces == ()


def test_p06_unknown_reserved_bits_are_ignored() -> None:
    """P-06: every reserved bit set (BitComet/Azureus style flags) neither confuses nor ends the probe."""
    obs, _ = probe(bitfield(N, ALL), reserved=b"\xff" * 8)
    assert obs.tier is Tier.VERIFIED and obs.reserved == b"\xff" * 8


def test_p07_extension_handshake_without_m_means_no_extensions() -> None:
    """P-07: libtorrent reads ``m`` only when present; Transmission's parser skips a missing key."""
    obs, _ = probe(ext({b"v": b"Oddball 1.0"}) + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED
    assert obs.extension is not None and obs.extension.m == {}


def test_p08_reqq_absent_huge_negative_or_text() -> None:
    """P-08: ``reqq`` is advisory. libtorrent clamps it, Transmission keeps only values > 0."""
    for reqq in (None, 1 << 40, -5, b"250"):  # absent, huge, negative, a string
        fields: dict[bytes, Any] = {b"m": {b"ut_pex": 1}, b"v": b"x"}
        if reqq is not None:
            fields[b"reqq"] = reqq
        obs, _ = probe(ext(fields) + bitfield(N, ALL))
        assert obs.tier is Tier.VERIFIED, reqq
        assert obs.extension is not None and obs.extension.m == {"ut_pex": 1}
        assert obs.extension.reqq is None  # out of 1..2**31 or not an integer: ignored, never fatal


def test_p09_listen_port_zero_or_out_of_range_is_ignored() -> None:
    """P-09: ``p`` outside 1..65535 is dropped (libtorrent and Transmission use it only when > 0)."""
    for port in (0, 70000, -1):
        obs, _ = probe(ext({b"m": {}, b"p": port}) + bitfield(N, ALL))
        assert obs.tier is Tier.VERIFIED
        assert obs.extension is not None and obs.extension.p is None


def test_p10_bitfield_of_the_wrong_size_is_fitted_not_fatal() -> None:
    """P-10: libtorrent and Transmission drop such a peer; we fit the bits to the piece count."""
    short = pw.encode_message(pw.Bitfield(b"\xff"))  # 1 byte for 10 pieces
    obs, _ = probe(short)
    assert obs.pieces_have == 8 and obs.tier is Tier.VERIFIED and obs.verified_pieces[0] < 8
    assert "bitfield of 1 bytes for 10 pieces" in obs.quirks
    long = pw.encode_message(pw.Bitfield(b"\xff\xc0" + b"\xff" * 6))
    obs, _ = probe(long)
    assert obs.pieces_have == N and obs.tier is Tier.VERIFIED


def test_p11_dht_port_message_without_the_dht_bit() -> None:
    """P-11: a BEP 5 ``port`` message from a peer that did not set the DHT reserved bit is skipped."""
    obs, _ = probe(pw.encode_message(pw.Port(6881)) + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED


def test_p12_client_name_not_utf8() -> None:
    """P-12: libtorrent repairs ``v`` (``verify_encoding``); Transmission replaces invalid UTF-8."""
    obs, _ = probe(ext({b"m": {}, b"v": b"\xb5Torrent \xff\xfe 1.8"}) + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED
    assert obs.extension is not None and obs.extension.v == b"\xb5Torrent \xff\xfe 1.8"
    assert obs.client is not None and "Torrent" in obs.client


def test_p13_extension_handshake_that_is_not_a_dict() -> None:
    """P-13: libtorrent ignores an extended handshake that does not decode; we keep probing too."""
    bad = pw.encode_message(pw.Extended(0, b"li1ei2ee")) + pw.encode_message(pw.Extended(0, b"d3:foo"))
    obs, _ = probe(bad + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED


def test_p14_redundant_choke_unchoke_flapping() -> None:
    """P-14: repeated unchokes and a leading choke are legal noise (anacrolix logs and ignores)."""
    flap = b"".join(pw.encode_message(pw.Simple(m)) for m in (pw.CHOKE, pw.UNCHOKE, pw.UNCHOKE, pw.UNCHOKE))
    obs, _ = probe(flap + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED and "PW-15 redundant unchoke" in obs.quirks


def test_p15_cancel_and_suggest_addressed_to_us_are_ignored() -> None:
    """P-15: ``cancel`` for a request we never got and ``suggest_piece`` are advisory; nothing is sent."""
    noise = pw.encode_message(pw.BlockRef(pw.CANCEL, 0, 0, 16384)) + pw.encode_message(pw.Have(pw.SUGGEST, 3))
    obs, _ = probe(noise + bitfield(N, ALL))
    assert obs.tier is Tier.VERIFIED and obs.payload_bytes_sent == 0


def test_p20_extended_messages_without_the_reserved_bit() -> None:
    """P-20: an extension handshake from a peer that did not set reserved bit 20 is still read
    (Transmission ``parse_ltep_handshake`` warns and goes on); the missing bit is named."""
    fast_only = bytes.fromhex("0000000000000004")
    obs, _ = probe(ext({b"m": {b"ut_pex": 3}, b"v": b"Quirky 0.1"}) + bitfield(N, ALL), reserved=fast_only)
    assert obs.tier is Tier.VERIFIED and "PW-08 extended message without reserved bit" in obs.quirks
    assert obs.extension is not None and obs.extension.v == b"Quirky 0.1"
