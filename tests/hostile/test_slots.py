"""Hostile peers that hold every outbound probe slot before the honest seed is even named.

In the other scenarios the honest seed is the first lead, probed from t = 0 beside one hostile peer, so
"the honest seed is still monitored" holds before the hostile peer does anything. Here ``max_peers``
hostile peers (half a slowloris handshake, half a trickle of junk blocks just inside ``piece_timeout``)
are the only leads; once each of them holds an open probe, so every slot is taken, the honest seed is
named. The probe timeouts must free a slot and the honest seed must be verified within a stated time.
Source: issue scope "hostile input" (a peer must not keep the monitor from honest peers); libtorrent
bounds a peer's hold on a slot the same way (``peer_timeout``, ``request_timeout``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import Source, Tier
from swarmscope.monitor.crawler import Monitor
from swarmscope.net.clock import Clock
from tests.hostile.conftest import Honest
from tests.hostile.harness import (
    HONEST,
    Hostile,
    Script,
    check,
    config,
    handshake,
    run_monitor,
    trickle_junk_blocks,
)

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients

SLOTS = 8  # max_peers: every one held by a hostile peer
HANDSHAKE_TIMEOUT = 3.0  # s: the slowloris peers hold their slot this long
DOWNLOAD_TIMEOUT = 3.0  # s: the trickling peers hold theirs at most this long after the first request
BOUND_S = 8.0  # s from naming the honest seed to its verified probe's end: a slot freed (<= 3 s + the
# handshake and unchoke of a trickling peer) and one honest probe (~1 s), with room for a loaded machine


def _holding(script: Script, held: dict[str, int]) -> Script:
    """``script``, counting its open connections per hostile address in ``held``."""

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        held[h.ip] = held.get(h.ip, 0) + 1
        try:
            await script(reader, writer, h)
        finally:
            held[h.ip] -= 1

    return counted


async def _slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
    """Our handshake, one byte a second: never complete before handshake_timeout."""
    for byte in await handshake(reader, h):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


def test_the_honest_seed_is_verified_when_hostile_peers_hold_every_slot(
    honest: Honest, tmp_path: Path
) -> None:
    """Bounds: the honest seed verified within BOUND_S (8 s) of being named while all SLOTS (8) were held;
    RSS +64 MiB, descriptors +32; no hostile peer verified."""
    held: dict[str, int] = {}
    hostiles = [
        Hostile(f"127.0.29.{i + 1}", _holding(_slowloris if i % 2 else trickle_junk_blocks, held))
        for i in range(SLOTS)
    ]
    named: dict[str, int] = {}

    async def name_the_seed_once_full(monitor: Monitor) -> None:
        while sum(1 for n in held.values() if n > 0) < SLOTS:
            await asyncio.sleep(0.02)
        named["at_us"], named["held"] = Clock().now_us(), sum(held.values())
        assert hostiles[0].target is not None
        monitor.discovered(
            hostiles[0].target.swarm, [(HONEST[0], HONEST[1], None)], Source.TRACKER, "hostile"
        )

    policy = ProbePolicy(
        handshake_timeout=HANDSHAKE_TIMEOUT, piece_timeout=1.0, download_timeout=DOWNLOAD_TIMEOUT
    )
    settings = config(12.0, max_peers=SLOTS, probe=policy)
    out = run_monitor(tmp_path, honest.torrent, hostiles, leads=[(h.ip, h.port) for h in hostiles],
                      settings=settings, during=name_the_seed_once_full)  # fmt: skip
    check(out, [h.ip for h in hostiles], rss_mib=64, fds=32)
    assert named.get("held") == SLOTS, f"not every slot was held when the seed was named: {named}, {held}"
    verified = [o for o in out.of(HONEST[0]) if o.tier is Tier.VERIFIED and o.failure is None]
    first = min(verified, key=lambda o: o.ended_us)
    assert first.started_us >= named["at_us"], "the honest seed was probed before it was named"
    waited = (first.ended_us - named["at_us"]) / 1e6
    print(f"honest seed verified {waited:.2f} s after it was named, all {SLOTS} slots held")
    assert waited <= BOUND_S, f"the honest seed was verified {waited:.1f} s after it was named"
    first_hostile = {h.ip: min(o.ended_us for o in out.of(h.ip)) for h in hostiles}
    assert min(first_hostile.values()) <= first.started_us, "no hostile probe ended to free a slot"
