"""Hostile peers at the peer-wire layer (BEP 3, BEP 6): framing, claims, pieces, identities.

Each test runs the real Monitor for a few seconds against one scripted hostile peer on 127.0.21.x and the
module's honest libtorrent seed; :func:`tests.hostile.harness.check` asserts the shared bounds (honest seed
verified, no ``verified`` for the hostile address, RSS growth, descriptors, a run that ended). Bounds per
test are in its docstring and in tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import Failure, Tier
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.wire import peer as pw
from tests.e2e.monitor_cli import report_rows
from tests.hostile.conftest import Honest
from tests.hostile.harness import (
    Hostile,
    check,
    config,
    drain,
    handshake,
    have_all,
    piece_bytes,
    requests,
    run_monitor,
    trickle_junk_blocks,
    unchoke,
)

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients


def test_length_prefix_of_2_to_the_31(honest: Honest, tmp_path: Path) -> None:
    """After have_all the peer announces a 2^31-byte message: protocol_error at once, nothing buffered.

    Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + unchoke())
        await requests(reader)
        writer.write(struct.pack(">IB", 1 << 31, pw.PIECE) + b"\x00" * 4096)
        await drain(reader)

    hostile = Hostile("127.0.21.1", script)
    out = run_monitor(tmp_path, honest.torrent, [hostile])
    (obs,) = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert obs.failure == Failure.PROTOCOL_ERROR.value and "2147483648" in (obs.failure_detail or ""), obs
    assert obs.tier is Tier.HAS_PIECES


def test_slowloris_handshake_one_byte_per_second(honest: Honest, tmp_path: Path) -> None:
    """The peer sends its handshake one byte a second: the handshake timeout (2 s here) ends the probe.

    Bounds: RSS +64 MiB, descriptors +16; the probe lasts at most handshake_timeout + 1 s.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        answer = await handshake(reader, h)
        for byte in answer:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)

    hostile = Hostile("127.0.21.2", script)
    settings = config(5.0, probe=ProbePolicy(handshake_timeout=2.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs and all(o.failure == Failure.HANDSHAKE_TIMEOUT.value for o in hostile_obs), hostile_obs
    assert all(o.ended_us - o.started_us <= 3_000_000 for o in hostile_obs)


def test_slowloris_blocks_hold_no_probe_forever(honest: Honest, tmp_path: Path) -> None:
    """The peer answers each request with one byte a second: piece_timeout (2 s here) ends the probe.

    Bytes that trickle in without completing a block never move the download deadline. Bounds: RSS +64
    MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + unchoke())
        (index, begin, length), *_ = await requests(reader)
        message = pw.encode_message(pw.Piece(index, begin, b"\x00" * length))
        for byte in message:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)

    hostile = Hostile("127.0.21.3", script)
    settings = config(5.0, probe=ProbePolicy(piece_timeout=2.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs[0].failure == Failure.PIECE_TIMEOUT.value, hostile_obs


def test_block_trickle_holds_no_probe_slot_for_long(honest: Honest, tmp_path: Path) -> None:
    """The peer answers each request with one junk block every 0.9 s, just inside piece_timeout (1 s
    here): each block moved the deadline again, so a probe of a 16 MiB-piece torrent (1,024 blocks, 3
    pieces tried) held its slot for hours, and max_peers such peers starved every honest one. The whole
    download phase now ends within download_timeout (1.5 s here): ``piece_timeout``.

    Bounds: RSS +64 MiB, descriptors +16; the probe lasts at most download_timeout + 1 s.
    """

    hostile = Hostile("127.0.21.11", trickle_junk_blocks)
    policy = ProbePolicy(piece_timeout=1.0, download_timeout=1.5)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=config(5.0, probe=policy))
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    first = hostile_obs[0]
    assert first.failure == Failure.PIECE_TIMEOUT.value, first
    assert first.bytes_received <= 16384 and first.ended_us - first.started_us <= 2_500_000, first


@pytest.mark.parametrize("extra", [1, 4096, -1], ids=["one-byte-long", "4-KiB-long", "one-byte-short"])
def test_bitfield_of_the_wrong_size(honest: Honest, tmp_path: Path, extra: int) -> None:
    """A bitfield longer or shorter than ceil(pieces/8) bytes, every bit set, then correct-looking data.

    The claim is kept with a quirk; the peer serves junk, so its pieces fail their hash. Bounds: RSS +64
    MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        size = (h.num_pieces + 7) // 8 + extra
        writer.write(await handshake(reader, h) + pw.encode_message(pw.Bitfield(b"\xff" * size)) + unchoke())
        while True:
            for index, begin, length in await requests(reader):
                writer.write(pw.encode_message(pw.Piece(index, begin, b"\x5a" * length)))

    hostile = Hostile("127.0.21.4", script)
    out = run_monitor(tmp_path, honest.torrent, [hostile])
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs and all(o.failure == Failure.HASH_MISMATCH.value for o in hostile_obs), hostile_obs
    assert all(any("bitfield of" in q for q in o.quirks) for o in hostile_obs), hostile_obs


def test_endless_have(honest: Honest, tmp_path: Path) -> None:
    """The peer sends `have` messages without end (valid and out-of-range indices) and never unchokes:
    the probe ends at the overhead cap (4 MiB besides requested blocks).

    Bounds: RSS +64 MiB, descriptors +16; the quirks recorded stay a handful (not one per message).
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h))
        batch = b"".join(pw.encode_message(pw.Have(pw.HAVE, i % (h.num_pieces * 3))) for i in range(4096))
        while True:
            writer.write(batch)
            h.notes["sent"] = h.notes.get("sent", 0) + 4096
            await writer.drain()

    hostile = Hostile("127.0.21.5", script)
    settings = config(3.0, probe=ProbePolicy(unchoke_timeout=2.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile.notes["sent"] > 10_000
    # the overhead cap (tests/evidence/test_probe.py proves it exactly); on a machine too loaded to carry
    # 4 MiB of `have` within the unchoke timeout the timeout ends the probe first: bounded either way
    assert hostile_obs[0].failure in {Failure.PROTOCOL_ERROR.value, Failure.CHOKED.value}, hostile_obs
    assert all(len(o.quirks) < 10 for o in hostile_obs), [o.quirks for o in hostile_obs]


def test_unrequested_pieces_with_correct_data(honest: Honest, tmp_path: Path) -> None:
    """Right after its handshake the peer pushes every piece's CORRECT bytes, before we asked for any;
    then it claims every piece, unchokes and ignores our requests.

    Data we did not request never proves anything: no ``verified``, no bytes counted. Bounds: RSS +64 MiB,
    descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        pushed = bytearray(await handshake(reader, h))
        for index in range(h.num_pieces):
            data = piece_bytes(honest.content, index, honest.piece_len)
            for begin in range(0, len(data), 16384):
                pushed += pw.encode_message(pw.Piece(index, begin, data[begin : begin + 16384]))
        writer.write(bytes(pushed))
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.write(have_all() + unchoke())
        await drain(reader)

    hostile = Hostile("127.0.21.6", script)
    settings = config(3.0, probe=ProbePolicy(piece_timeout=2.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert all(o.bytes_received == 0 and not o.verified_pieces for o in hostile_obs), hostile_obs
    assert any("BEP 6 piece never requested" in o.quirks for o in hostile_obs), hostile_obs


def test_request_flood_from_a_peer_that_never_reads(honest: Honest, tmp_path: Path) -> None:
    """The peer floods `request` messages at us (each answered by a BEP 6 reject) and never reads.

    What we queue for a peer that does not read must stay bounded. Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h))
        batch = pw.encode_request(0, 0, 16384) * 8192
        sent = 0
        while True:
            writer.write(batch)
            sent += len(batch)
            h.notes["sent"] = sent
            await writer.drain()

    hostile = Hostile("127.0.21.10", script)
    settings = config(3.0, probe=ProbePolicy(claims_wait=10.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs and all(o.payload_bytes_sent == 0 for o in hostile_obs)
    assert hostile_obs[0].failure == Failure.PROTOCOL_ERROR.value, hostile_obs  # the overhead cap


@pytest.mark.parametrize("oversize", ["longer-block", "over-the-cap"])
def test_oversize_piece(honest: Honest, tmp_path: Path, oversize: str) -> None:
    """A `piece` answer longer than the request (its first bytes correct), or a frame above the 1 MiB cap.

    Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + unchoke())
        while True:
            for index, begin, length in await requests(reader):
                data = piece_bytes(honest.content, index, honest.piece_len)[begin : begin + length]
                pad = 64 * 1024 if oversize == "longer-block" else 2 * 1024 * 1024
                writer.write(pw.encode_message(pw.Piece(index, begin, data + b"\x00" * pad)))

    hostile = Hostile("127.0.21.7", script)
    settings = config(3.0, probe=ProbePolicy(piece_timeout=2.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs and all(not o.verified_pieces and not o.verified_blocks for o in hostile_obs)


def test_wrong_infohash_after_a_right_one(honest: Honest, tmp_path: Path) -> None:
    """First probe: the right infohash, then a second handshake naming another swarm on the same stream;
    re-probe: the other infohash outright. Each is recorded for what it was, nothing verified.

    Bounds: RSS +64 MiB, descriptors +16.
    """
    other = bytes(range(20))

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        if h.connections == 1:
            right = await handshake(reader, h)
            writer.write(right + pw.Handshake(pw.reserved_bytes(), other, right[48:]).encode())
        else:
            writer.write(await handshake(reader, h, infohash=other))
        await drain(reader)

    hostile = Hostile("127.0.21.8", script)
    settings = config(5.0, plan=PlanPolicy(reprobe_interval=1.0, retry_after_failure=1.0))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs[0].failure == Failure.PROTOCOL_ERROR.value, hostile_obs[0]
    later = hostile_obs[1:]
    assert later and all(o.failure == Failure.INFOHASH_MISMATCH.value for o in later), later
    assert all(o.remote_infohash == other.hex() and o.tier is Tier.LISTED for o in later)


def test_peer_id_changes_between_probes(honest: Honest, tmp_path: Path) -> None:
    """Each probe meets a new peer id and corrupt data: every observation keeps its own peer id, each a
    hash_mismatch, none verified. Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        peer_id = b"-XX0001-%012d" % h.connections
        writer.write(await handshake(reader, h, peer_id=peer_id) + have_all() + unchoke())
        while True:
            for index, begin, length in await requests(reader):
                data = piece_bytes(honest.content, index, honest.piece_len)[begin : begin + length]
                writer.write(pw.encode_message(pw.Piece(index, begin, bytes(b ^ 1 for b in data))))

    hostile = Hostile("127.0.21.9", script)
    settings = config(5.0, plan=PlanPolicy(reprobe_interval=0.5))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert len(hostile_obs) >= 2, hostile_obs
    assert len({o.peer_id for o in hostile_obs}) == len(hostile_obs), [o.peer_id for o in hostile_obs]
    assert all(o.failure == Failure.HASH_MISMATCH.value for o in hostile_obs), hostile_obs


def test_peer_id_changes_between_probes_serving_valid_data(honest: Honest, tmp_path: Path) -> None:
    """One address answers each probe under a new peer id and serves the swarm's real pieces: attribution.

    Every probe's peer id is recorded as that probe saw it, each probe is ``verified`` (the data is the
    swarm's), and ``swarmscope report`` shows that the address changed its peer id (a quirk naming how
    many), not only the latest id. Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        peer_id = b"-XX0001-%012d" % h.connections
        h.notes.setdefault("peer_ids", []).append(peer_id)
        writer.write(await handshake(reader, h, peer_id=peer_id) + have_all() + unchoke())
        while True:
            for index, begin, length in await requests(reader):
                data = piece_bytes(honest.content, index, honest.piece_len)[begin : begin + length]
                writer.write(pw.encode_message(pw.Piece(index, begin, data)))

    changing = Hostile("127.0.21.12", script)
    settings = config(5.0, plan=PlanPolicy(reprobe_interval=0.5))
    out = run_monitor(tmp_path, honest.torrent, [changing], settings=settings)
    check(out, [], rss_mib=64, fds=16)
    probes = out.of(changing.ip)
    assert len(probes) >= 2, probes
    assert {o.peer_id for o in probes} <= set(changing.notes["peer_ids"]), "a peer id nobody sent"
    assert len({o.peer_id for o in probes}) == len(probes), [o.peer_id for o in probes]
    assert all(o.tier is Tier.VERIFIED and o.failure is None for o in probes), [
        (o.tier, o.failure, o.failure_detail) for o in probes
    ]
    (row,) = [r for r in report_rows(tmp_path / "hostile.db") if r["ip"] == changing.ip]
    assert row["tier"] == "verified" and row["observations"] == len(probes), row
    assert row["peer_id"] == max(probes, key=lambda o: o.ended_us).peer_id.hex(), row
    assert f"peer id changed: {len(probes)} peer ids over {len(probes)} probes" in row["quirks"], row
