"""Hostile peers at the BEP 10 layer: bencode bombs, a lying ut_metadata (BEP 9), a 10,000-peer ut_pex
(BEP 11). Same harness and shared assertions as test_peer_wire.py; bounds in each docstring and in
tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmscope.evidence.records import Failure, Tier
from swarmscope.wire import bencode, pex
from swarmscope.wire import peer as pw
from swarmscope.wire.types import Endpoint
from tests.hostile.conftest import Honest
from tests.hostile.harness import HONEST, Hostile, check, config, drain, handshake, run_monitor

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
OUR_PEX_ID = 1  # the id the monitor offers for ut_pex in its BEP 10 handshake (crawler.PEX_ID)


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
    ],
    ids=["deep-nesting", "huge-string", "huge-dict"],
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
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=config(4.0, pex=True))
    hostile_obs = check(out, [hostile.ip], rss_mib=96, fds=64)
    assert hostile_obs[0].failure == Failure.NO_PIECES.value, hostile_obs
    sightings = [s for s in out.sightings if s.source == "pex"]
    assert 0 < len(sightings) <= 50, len(sightings)
    probed = {o.ip for o in out.observations} - {HONEST[0], hostile.ip}
    assert len(probed) <= 50, len(probed)
