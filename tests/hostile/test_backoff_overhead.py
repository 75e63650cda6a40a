"""A hostile peer that sends just under the overhead cap on every probe, then closes or stalls.

The README ("Resource bounds") states ≤ 10 MiB + 2 pieces stored per probe and ≤ 10 probes the first day
per hostile peer: the re-probe backoff doubles after ``protocol_error``, ``hash_mismatch`` and
``metadata_mismatch`` (``monitor/plan.py`` ``SUSPECT``). A peer that stops at 3.9 MB of incompressible
junk (unknown message id 99: a quirk, BEP 3 lets us ignore it) and then closes (``closed_by_peer``) or
never unchokes (``choked``) ends no probe in a SUSPECT outcome, so it is re-probed every
``reprobe_interval`` and each probe stores its ~3.9 MB capture: at the default 120 s, ≈ 2.8 GB a day.
Same harness and shared assertions as test_backoff.py.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import Tier, heavy_overhead
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.wire import peer as pw
from tests.hostile.conftest import Honest
from tests.hostile.harness import (
    HONEST,
    Hostile,
    check,
    config,
    drain,
    handshake,
    have_all,
    requests,
    run_monitor,
    unchoke,
)

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
JUNK = 3_900_000  # bytes besides requested blocks: under the 4 MiB cap (ProbePolicy.max_overhead_bytes)


def junk(total: int) -> bytes:
    """Messages of unknown id 99 with random (incompressible) 256 KiB payloads, ``total`` bytes or more."""
    out = bytearray()
    while len(out) < total:
        body = bytes([99]) + os.urandom(256 * 1024)
        out += len(body).to_bytes(4, "big") + body
    return bytes(out)


@pytest.mark.parametrize("end", ["close", "stall"])
def test_junk_under_the_cap_then_close_or_stall_is_re_probed_less_and_less_often(
    honest: Honest, tmp_path: Path, end: str
) -> None:
    """Re-probe interval 0.5 s, 7 s run: as test_backoff.py, at most 4 probes (gaps doubling)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + junk(JUNK))
        await writer.drain()
        if end == "stall":
            await drain(reader)

    hostile = Hostile("127.0.21.14", script)
    probe = ProbePolicy(unchoke_timeout=0.5, claims_wait=0.5)
    settings = config(7.0, plan=PlanPolicy(reprobe_interval=0.5), probe=probe)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings, duration=7.0)
    hostile_obs = check(out, [hostile.ip], rss_mib=128, fds=16)
    assert 1 <= len(hostile_obs) <= 4, [(o.failure, o.wire_bytes_in) for o in hostile_obs]


def test_a_seeder_that_adds_junk_under_the_cap_to_a_genuine_block_is_re_probed_less_and_less_often(
    honest: Honest, tmp_path: Path
) -> None:
    """The same junk, then genuine blocks for every request: each probe verifies and is heavy
    (``records.heavy_overhead``), and a verified block does not lift the backoff: at most 4 probes in 7 s
    at a 0.5 s re-probe interval (gaps doubling), not one per interval (8 before). The honest libtorrent
    seed's probes stay far below the 1 MiB of overhead that makes a probe heavy (~370 bytes: handshakes,
    claims)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + junk(JUNK) + unchoke())
        await writer.drain()
        while True:
            for index, begin, length in await requests(reader):
                start = index * honest.piece_len + begin
                block = honest.content[start : start + length]
                writer.write(pw.encode_message(pw.Piece(index, begin, block)))

    hostile = Hostile("127.0.21.15", script)
    probe = ProbePolicy(unchoke_timeout=0.5, claims_wait=0.5)
    settings = config(7.0, plan=PlanPolicy(reprobe_interval=0.5), probe=probe)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings, duration=7.0)
    seen = out.of(hostile.ip)
    assert seen and all(o.tier is Tier.VERIFIED and heavy_overhead(o) for o in seen), [
        (o.tier, o.failure, o.wire_bytes_in - o.bytes_received) for o in seen
    ]
    assert len(seen) <= 4, [(o.failure, o.wire_bytes_in) for o in seen]
    honest_obs = out.of(HONEST[0])
    assert any(o.tier is Tier.VERIFIED for o in honest_obs)
    assert max(o.wire_bytes_in - o.bytes_received for o in honest_obs) < 64 * 1024
