"""Hostile inbound peers: one that lies about its listen port, one host that floods the listener.

Same harness and shared assertions as test_peer_wire.py (the real Monitor, the module's honest libtorrent
seed, RSS and descriptor bounds); bounds in each docstring and in tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from swarmscope.evidence.records import Tier, claimed_port, observed_port
from swarmscope.monitor.crawler import Monitor
from swarmscope.net.inbound_admission import MAX_PER_IP_SWARM
from swarmscope.wire import bencode
from swarmscope.wire import peer as pw
from tests.hostile.conftest import Honest
from tests.hostile.harness import HONEST, check, config, piece_bytes, requests, run_monitor

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
LISTEN = 7231
CLAIMED = 4444  # the BEP 10 ``p`` the liar announces; nothing listens there


def test_an_inbound_peer_cannot_choose_the_port_its_evidence_names(honest: Honest, tmp_path: Path) -> None:
    """A peer dials our listener from ephemeral source ports, claims ``p`` = 4444 in its BEP 10
    handshake and serves CORRECT pieces: its verified records keep 4444 only as the claim (``port``, for
    re-probes) and seal the TCP source port each connection really came from (``source_port``), the port
    an ISP behind CGNAT matches (RFC 6302). Bounds: RSS +64 MiB, descriptors +16.
    """
    sources: list[int] = []

    async def liar(monitor: Monitor) -> None:
        target = monitor.targets[next(iter(monitor.targets))]
        assert target.pieces is not None
        for n in range(2):  # two clients behind one address (one hit per peer id and interval is sealed)
            reader, writer = await asyncio.open_connection("127.0.0.1", LISTEN, local_addr=("127.0.44.1", 0))
            sources.append(writer.get_extra_info("sockname")[1])
            ext = bencode.encode({b"m": {}, b"p": CLAIMED, b"v": b"Liar 1.0"})
            writer.write(
                pw.Handshake(pw.reserved_bytes(), target.wire_infohash, b"-XX0001-liarliarlia%d" % n).encode()
                + pw.encode_message(pw.Extended(0, ext))
                + pw.encode_message(pw.Simple(pw.HAVE_ALL))
                + pw.encode_message(pw.Simple(pw.UNCHOKE))
            )
            await reader.readexactly(pw.HANDSHAKE_LEN)
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                async with asyncio.timeout(5):
                    while True:
                        for index, begin, length in await requests(reader):
                            data = piece_bytes(honest.content, index, honest.piece_len)[
                                begin : begin + length
                            ]
                            writer.write(pw.encode_message(pw.Piece(index, begin, data)))
            writer.close()

    settings = config(20.0, listen=True, listen_port=LISTEN)
    out = run_monitor(tmp_path, honest.torrent, [], settings=settings, during=liar, stop_after_during=True)
    check(out, [], rss_mib=64, fds=16)
    liar_obs = out.of("127.0.44.1")
    assert len(liar_obs) == 2 and all(o.tier is Tier.VERIFIED for o in liar_obs), liar_obs
    assert sorted(o.source_port or 0 for o in liar_obs) == sorted(sources)
    assert all(o.port == CLAIMED and claimed_port(o) == CLAIMED for o in liar_obs)
    assert all(observed_port(o) == o.source_port != CLAIMED for o in liar_obs)


def test_one_host_naming_the_swarm_then_silent_cannot_keep_an_honest_peer_out(
    honest: Honest, tmp_path: Path
) -> None:
    """40 looping connections from ONE host, each a valid handshake of our swarm and then silence, beside
    a listener of max_peers 20; the honest seed (no lead: it reaches us only by dialling in) dials in
    every 2 s. The host holds at most MAX_PER_IP_SWARM (4) probes at once, so the seed gets a slot and is
    verified as an inbound peer; of the flood's hundreds of empty probes at most ONE is sealed (one
    unverified inbound record per (IP, swarm) and re-probe interval, 120 s).

    Bounds: RSS +64 MiB, descriptors +120 (40 flood sockets in this process, at most 20 admitted).
    """
    opened = [0]

    async def one() -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.2", LISTEN + 1, local_addr=("127.0.45.1", 0)
                )
            except OSError:
                await asyncio.sleep(0.2)
                continue
            opened[0] += 1
            try:  # the flood's own sockets live in this process: closed when cancelled too, or they
                # would count as descriptors the monitor leaked
                writer.write(
                    pw.Handshake(bytes(8), infohash[0], b"-XX0001-" + os.urandom(6).hex().encode()).encode()
                )
                with contextlib.suppress(ConnectionError):
                    while await reader.read(65536):
                        pass
            finally:
                writer.close()

    infohash: list[bytes] = []

    async def flood_then_dial(monitor: Monitor) -> None:
        infohash.append(monitor.targets[next(iter(monitor.targets))].wire_infohash)
        tasks = [asyncio.create_task(one()) for _ in range(40)]
        try:
            await asyncio.sleep(3.0)
            for _ in range(5):
                honest.handle.connect_peer(("127.0.0.2", LISTEN + 1))
                await asyncio.sleep(2.0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    settings = config(40.0, listen=True, listen_port=LISTEN + 1, bind_ip="127.0.0.2", max_peers=20)
    out = run_monitor(
        tmp_path,
        honest.torrent,
        [],
        leads=[],
        settings=settings,
        during=flood_then_dial,
        stop_after_during=True,
    )
    check(out, ["127.0.45.1"], rss_mib=64, fds=120)
    inbound = [o for o in out.of(HONEST[0]) if o.source == "inbound"]
    assert any(o.tier is Tier.VERIFIED for o in inbound), [(o.tier, o.failure) for o in inbound]
    stats = out.monitor._listener.stats  # type: ignore[union-attr]
    assert opened[0] > 40 and stats.refused_per_ip + stats.unsealed > 20, (opened, stats)
    assert len(out.of("127.0.45.1")) <= 1, out.of("127.0.45.1")
    assert MAX_PER_IP_SWARM < 20
