"""Per-IP bounds of the inbound listener, idle streams giving way, and the seal throttle.

The pure rules (``net.inbound_admission``) first, then a real PeerListener on loopback (private netns)
with raw asyncio clients from several 127.x source addresses: a stream that names the swarm and then
says nothing must not keep a peer that sends its claims out, and one IP cannot take every slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import HEAVY_OVERHEAD, Observation, Tier
from swarmscope.net.inbound_admission import (
    IDLE_AFTER,
    MAX_PER_IP,
    MAX_PER_IP_SWARM,
    SealThrottle,
    Slot,
    evictable,
)
from swarmscope.net.listener import PeerListener
from swarmscope.wire import peer as pw
from swarmscope.wire.metainfo import parse_metainfo
from swarmscope.wire.types import host_key
from tests.net.lt_seed import make_torrent
from tests.net.test_listener import PEER_ID, Harness, serve

IH = b"\x11" * 20
# the run waits long for claims, as a flood's connection would be held without the idle rule
PATIENT = ProbePolicy(claims_wait=30.0, handshake_timeout=30.0)


def test_a_slot_is_idle_without_a_swarm_or_without_a_claim() -> None:
    assert not Slot("10.0.0.1", 100.0).idle(100.0 + IDLE_AFTER - 0.1)
    assert Slot("10.0.0.1", 100.0).idle(100.0 + IDLE_AFTER)
    named = Slot("10.0.0.1", 100.0, IH, 101.0)
    assert not named.idle(101.0 + IDLE_AFTER - 0.1) and named.idle(101.0 + IDLE_AFTER)
    assert not Slot("10.0.0.1", 100.0, IH, 101.0, claimed=True).idle(1e9)


def test_the_unnamed_idle_stream_gives_way_first_then_the_oldest() -> None:
    now = 1000.0
    named_old = (Slot("a", 1.0, IH, 2.0), "named-old")
    unnamed_young = (Slot("b", 990.0), "unnamed-young")
    busy = (Slot("c", 0.0, IH, 0.5, claimed=True), "busy")
    assert evictable([named_old, unnamed_young, busy], now) == "unnamed-young"
    assert evictable([named_old, (Slot("d", 0.5, IH, 3.0), "named-older"), busy], now) == "named-older"
    assert evictable([busy, (Slot("e", now - 0.5), "fresh")], now) is None


def test_the_throttle_seals_one_unverified_probe_per_ip_and_swarm_and_interval() -> None:
    throttle = SealThrottle(120.0, remembered=2)
    assert throttle.allow("1.2.3.4", IH, verified=False, now=0.0)
    assert not throttle.allow("1.2.3.4", IH, verified=False, now=119.9)
    assert throttle.allow("1.2.3.4", IH, verified=True, now=119.9)  # verified: always sealed
    assert throttle.allow("1.2.3.5", IH, verified=False, now=1.0)  # another IP
    assert throttle.allow("1.2.3.4", b"\x22" * 20, verified=False, now=1.0)  # another swarm
    assert throttle.allow("1.2.3.4", IH, verified=False, now=120.0)
    assert len(throttle._last) == 2  # bounded memory: the oldest pair is forgotten
    assert SealThrottle(0.0).allow("1.2.3.4", IH, verified=False, now=0.0)


def test_heavy_unverified_probes_double_the_interval_and_a_verified_one_does_not_end_it() -> None:
    """More than 1 MiB besides piece payload, nothing verified: the next unverified probe of that (IP,
    swarm) is sealed after 2, 4, ... intervals (README "Resource bounds"); a verified one is sealed on its
    own timer and does not end the doubling."""
    heavy = Observation(
        IH.hex(), "1.2.3.4", 1, "inbound", 0, 1, Tier.HAS_PIECES, wire_bytes_in=HEAVY_OVERHEAD + 1
    )
    light = dataclasses.replace(heavy, wire_bytes_in=HEAVY_OVERHEAD)
    throttle = SealThrottle(100.0)
    assert throttle.allow("1.2.3.4", IH, False, 0.0, heavy)
    assert not throttle.allow("1.2.3.4", IH, False, 199.0, heavy)  # one heavy: 200 s
    assert throttle.allow("1.2.3.4", IH, False, 200.0, heavy)
    assert not throttle.allow("1.2.3.4", IH, False, 599.0, light)  # two heavy: 400 s
    assert throttle.allow("1.2.3.4", IH, False, 600.0, light)  # a light one adds no strike
    assert not throttle.allow("1.2.3.4", IH, False, 999.0, light)
    assert throttle.allow("1.2.3.4", IH, True, 999.0)  # verified: sealed on its own timer
    assert not throttle.allow("1.2.3.4", IH, True, 1050.0)  # once per interval
    assert not throttle.allow("1.2.3.4", IH, False, 999.5, light)  # still two heavy: 400 s since 600
    assert throttle.allow("1.2.3.4", IH, False, 1000.0, heavy)
    assert not throttle.allow("1.2.3.4", IH, False, 1799.0, light)  # three heavy: 800 s
    assert throttle.allow("1.2.3.4", IH, False, 1800.0, light)


def test_an_ipv6_host_is_counted_by_its_64_prefix() -> None:
    """One IPv6 subscriber gets a whole /64 (RFC 6177): every address in it is one host for the bounds."""
    assert host_key("2001:db8:1:2::5") == host_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert host_key("2001:db8:1:3::5") != host_key("2001:db8:1:2::5")
    assert host_key("127.0.0.1") == "127.0.0.1"


async def _dial(port: int, source: str, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _answered(reader: asyncio.StreamReader) -> bool:
    """True when the listener answered with its handshake, False when it closed the stream."""
    try:
        async with asyncio.timeout(10):
            return len(await reader.readexactly(68)) == 68
    except (asyncio.IncompleteReadError, ConnectionError):
        return False


def test_a_named_silent_stream_gives_its_slot_to_a_peer_that_claims(tmp_path: Path, netns: bool) -> None:
    """The listener is full (3 slots) of streams that sent a valid handshake of our swarm and then
    nothing; IDLE_AFTER seconds on, a peer that sends its handshake and a claim (have_none) takes the
    oldest one's slot, while one that comes before they are idle is refused."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta, max_connections=3, policy=PATIENT)
    handshake = pw.Handshake(bytes(8), meta.wire_infohash, PEER_ID).encode()
    answers: dict[str, bool] = {}

    async def body(lst: PeerListener) -> None:
        port = lst.address[1]
        silent = [await _dial(port, f"127.0.41.{i}", handshake) for i in (1, 2, 3)]
        assert all([await _answered(r) for r, _ in silent])
        early = await _dial(port, "127.0.41.9", handshake)
        answers["early"] = await _answered(early[0])
        await asyncio.sleep(IDLE_AFTER + 0.3)
        honest = await _dial(port, "127.0.41.10", handshake + pw.encode_message(pw.Simple(pw.HAVE_NONE)))
        answers["honest"] = await _answered(honest[0])
        for _, writer in (*silent, early, honest):
            writer.close()
        await h.until(lambda: len(h.done) == 4)

    serve(h, body)
    assert answers == {"early": False, "honest": True}
    assert h.listener.stats.evicted == 1 and h.listener.stats.refused_over_limit == 1
    assert sorted(obs.ip for _, obs in h.done) == ["127.0.41.1", "127.0.41.10", "127.0.41.2", "127.0.41.3"]


def test_one_ip_cannot_take_every_slot(tmp_path: Path, netns: bool) -> None:
    """MAX_PER_IP streams from one IP, then one more from it is refused while another IP is admitted;
    MAX_PER_IP_SWARM runs of one swarm from one IP, then one more naming it is refused."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta, max_connections=50, policy=PATIENT)
    handshake = pw.Handshake(bytes(8), meta.wire_infohash, PEER_ID).encode()
    answers: list[bool] = []

    async def body(lst: PeerListener) -> None:
        port = lst.address[1]
        named = [await _dial(port, "127.0.42.1", handshake) for _ in range(MAX_PER_IP_SWARM + 1)]
        answers.extend([await _answered(r) for r, _ in named])
        unnamed = [
            await _dial(port, "127.0.42.1", handshake[:20]) for _ in range(MAX_PER_IP - MAX_PER_IP_SWARM)
        ]
        await h.until(lambda: lst.stats.accepted >= MAX_PER_IP + 1)
        over = await _dial(port, "127.0.42.1", handshake)
        other = await _dial(port, "127.0.42.2", handshake)
        answers.extend([await _answered(over[0]), await _answered(other[0])])
        for _, writer in (*named, *unnamed, over, other):
            writer.close()
        await h.until(lambda: len(h.done) == MAX_PER_IP_SWARM + 1)

    serve(h, body)
    assert answers == [True] * MAX_PER_IP_SWARM + [False, False, True]
    assert h.listener.stats.refused_per_ip == 2  # the fifth run of the swarm, the ninth stream of the IP


def test_repeated_empty_probes_from_one_ip_are_sealed_once_per_interval(tmp_path: Path, netns: bool) -> None:
    """Five connections in a row from one IP, each a handshake and then gone (nothing verified): the
    first is reported, the other four only counted; another IP's is reported."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta, unverified_interval=60.0)
    handshake = pw.Handshake(bytes(8), meta.wire_infohash, PEER_ID).encode()

    async def body(lst: PeerListener) -> None:
        port = lst.address[1]
        for source in ["127.0.43.1"] * 5 + ["127.0.43.2"]:
            reader, writer = await _dial(port, source, handshake)
            assert await _answered(reader)
            writer.close()
        await h.until(lambda: len(h.done) + lst.stats.unsealed == 6)

    serve(h, body)
    assert [obs.ip for _, obs in h.done] == ["127.0.43.1", "127.0.43.2"]
    assert h.listener.stats.unsealed == 4


pytestmark = pytest.mark.realclients  # the harness module seeds with libtorrent
