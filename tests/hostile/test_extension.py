"""Hostile peers at the BEP 10 layer: bencode bombs, a lying ut_metadata (BEP 9), a 10,000-peer ut_pex
(BEP 11). Same harness and shared assertions as test_peer_wire.py; bounds in each docstring and in
tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmscope.evidence.records import Failure, Tier
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.net.mse_conn import EncryptionPolicy
from swarmscope.wire import bencode, extension, pex
from swarmscope.wire import peer as pw
from swarmscope.wire.metainfo import parse_metainfo
from swarmscope.wire.types import Endpoint
from tests.hostile.conftest import Honest
from tests.hostile.harness import HONEST, Hostile, check, config, drain, handshake, run_monitor

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
OUR_PEX_ID = 1  # the id the monitor offers for ut_pex in its BEP 10 handshake (monitor.probe_runs.PEX_ID)


def extended(ext_id: int, payload: bytes) -> bytes:
    return pw.encode_message(pw.Extended(ext_id, payload))


def have_none() -> bytes:
    return pw.encode_message(pw.Simple(pw.HAVE_NONE))


@pytest.mark.parametrize(
    "bomb",
    [
        b"d1:m" + b"l" * 200_000 + b"e" * 200_000 + b"e",  # nested 200,000 deep
        b"d1:v" + b"1000000:" + b"v" * 1_000_000 + b"e",  # a 1 MB client name
        b"d1:md" + b"".join(b"7:x%06d" % i + b"i1e" for i in range(60_000)) + b"ee",  # 60,000 extensions
        b"d1:ml" + b"le" * 500_000 + b"ee",  # 500,000 empty lists in 1 MiB: 32 MiB once decoded
    ],
    ids=["deep-nesting", "huge-string", "huge-dict", "wide-lists"],
)
def test_extension_handshake_bencode_bomb(honest: Honest, tmp_path: Path, bomb: bytes) -> None:
    """An extension handshake that is a bencode bomb (under the 1 MiB message cap), then have_none: the
    bomb is refused or kept as a quirk, the probe ends (no_pieces or protocol_error), nothing verified.

    Bounds: RSS +96 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + extended(0, bomb) + have_none())
        await drain(reader)

    hostile = Hostile("127.0.22.1", script)
    out = run_monitor(tmp_path, honest.torrent, [hostile])
    hostile_obs = check(out, [hostile.ip], rss_mib=96, fds=16)
    assert hostile_obs and all(o.tier <= Tier.CONNECTED for o in hostile_obs), hostile_obs


def test_pex_naming_10000_peers(honest: Honest, tmp_path: Path) -> None:
    """One ut_pex message naming 10,000 peers (127.0.40.x / 127.0.41.x, nothing listens there).

    A PEX list is a lead, never evidence, and one peer may not make the monitor dial thousands of
    addresses: libtorrent keeps at most ``max_pex_peers`` (50) from one connection. Bounds: RSS +96 MiB,
    descriptors +64; at most 50 sightings and probes come from that one peer.
    """
    named = [
        Endpoint(f"127.0.{40 + i // 5000}.{1 + (i % 5000) // 200}", 7000 + i % 200) for i in range(10_000)
    ]
    message = pex.encode_pex(added=named)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        ext = bencode.encode({b"m": {b"ut_pex": 7}, b"v": b"hostile"})
        writer.write(
            await handshake(reader, h) + extended(0, ext) + extended(OUR_PEX_ID, message) + have_none()
        )
        await drain(reader)

    hostile = Hostile("127.0.22.2", script)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=config(3.0, pex=True))
    hostile_obs = check(out, [hostile.ip], rss_mib=96, fds=64)
    assert hostile_obs[0].failure == Failure.NO_PIECES.value, hostile_obs
    sightings = [s for s in out.sightings if s.source == "pex"]
    assert 0 < len(sightings) <= 50, len(sightings)
    probed = {o.ip for o in out.observations} - {HONEST[0], hostile.ip}
    assert len(probed) <= 50, len(probed)


async def metadata_requests(reader: asyncio.StreamReader) -> list[int]:
    """Read the monitor's messages until it asks for ut_metadata pieces (BEP 9); returns the pieces."""
    framer, pieces = pw.MessageFramer(), []
    while not pieces:
        data = await reader.read(65536)
        if not data:
            raise ConnectionResetError("monitor closed")
        for body in framer.feed(data):
            msg = pw.decode_message(body)
            if isinstance(msg, pw.Extended) and msg.ext_id == HOSTILE_METADATA_ID:
                pieces.append(extension.decode_metadata_message(msg.payload).piece)
    return pieces


HOSTILE_METADATA_ID = 3  # the id the hostile peers offer for ut_metadata
MONITOR_METADATA_ID = 3  # evidence.probe.metadata_fetch.UT_METADATA_ID: the id the monitor offers


@pytest.mark.parametrize("lie", ["one-TiB", "small-and-junk", "grows-mid-way"])
def test_ut_metadata_lying_about_its_size(honest: Honest, tmp_path: Path, lie: str) -> None:
    """A magnet with no tracker; three hostile peers and the honest seed are its leads. The hostile ones
    offer ut_metadata but lie: ``metadata_size`` of 1 TiB; a 100-byte size served as junk; or the real size
    in the handshake and a 1 TiB ``total_size`` in the data message. The honest seed's copy is used, the
    swarm is monitored, the honest seed verified; no buffer of the lied size is ever allocated.

    Bounds: RSS +96 MiB, descriptors +32.
    """
    meta = parse_metainfo(honest.torrent.read_bytes())
    info_hex, real_size = meta.wire_infohash.hex(), len(meta.info_raw)
    size = {"one-TiB": 1 << 40, "small-and-junk": 100, "grows-mid-way": real_size}[lie]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        ext = bencode.encode({b"m": {b"ut_metadata": HOSTILE_METADATA_ID}, b"metadata_size": size})
        writer.write(await handshake(reader, h) + extended(0, ext) + have_none())
        for piece in await metadata_requests(reader):
            total = 1 << 40 if lie == "grows-mid-way" else size
            data = extension.encode_metadata_data(piece, total, b"\xee" * min(size, 16384))
            writer.write(extended(MONITOR_METADATA_ID, data))
        await drain(reader)

    hostiles = [Hostile(f"127.0.22.{10 + i}", script) for i in range(3)]
    leads = [*((h.ip, h.port) for h in hostiles), HONEST]
    out = run_monitor(tmp_path, f"magnet:?xt=urn:btih:{info_hex}", hostiles, leads=leads, duration=4.5)
    hostile_obs = check(out, [h.ip for h in hostiles], rss_mib=96, fds=32)
    assert hostile_obs and all(o.tier <= Tier.CONNECTED for o in hostile_obs), hostile_obs
    refused = {
        "one-TiB": "protocol_error",
        "small-and-junk": "metadata_mismatch",
        "grows-mid-way": "protocol_error",
    }
    assert {o.ip for o in hostile_obs if o.failure == refused[lie]} == {h.ip for h in hostiles}, hostile_obs


def test_pex_naming_fresh_peers_on_every_connection(honest: Honest, tmp_path: Path) -> None:
    """Each connection's ut_pex names 10,000 addresses never named before (127.100+k.x.y, nothing listens),
    and the monitor re-probes the peer every 0.5 s, so a per-message cap alone would plan 50 more each time.

    Bounds: at most 50 addresses planned from that one peer for the whole run (``pex_per_source``), each
    dialled at most 3 times (``pex_max_failures``); RSS +96 MiB, descriptors +64.
    """
    connections = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        nonlocal connections
        k, connections = connections, connections + 1
        named = [Endpoint(f"127.{100 + k}.{i // 250}.{1 + i % 250}", 7000) for i in range(10_000)]
        ext = bencode.encode({b"m": {b"ut_pex": 7}, b"v": b"hostile"})
        writer.write(
            await handshake(reader, h)
            + extended(0, ext)
            + extended(OUR_PEX_ID, pex.encode_pex(added=named))
            + have_none()
        )
        await drain(reader)

    hostile = Hostile("127.0.22.3", script)
    plan = PlanPolicy(reprobe_interval=0.5, retry_after_failure=0.2)
    settings = config(6.0, pex=True, plan=plan, encryption=EncryptionPolicy.DISABLE)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings, duration=6.0)
    hostile_obs = check(out, [hostile.ip], rss_mib=96, fds=64)
    assert len(hostile_obs) >= 3, hostile_obs  # re-probed, each time naming 10,000 fresh addresses
    named = [o for o in out.observations if int(o.ip.split(".")[1]) >= 100]
    assert 0 < len({o.ip for o in named}) <= 50, len({o.ip for o in named})
    dials = {}
    for o in named:
        dials[o.ip] = dials.get(o.ip, 0) + 1
    assert max(dials.values()) <= 3, dials
