"""Hostile Mainline DHT nodes (BEP 5): replies meant to amplify, and a query flood at our node.

The monitor's DHT node bootstraps from a scripted hostile node on 127.0.25.1 (UDP); the honest seed is a
lead given by hand (as another channel would name it). Same shared assertions as test_peer_wire.py;
bounds in each docstring and in tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmscope.errors import DecodeError
from swarmscope.monitor.crawler import Monitor
from swarmscope.wire import krpc
from swarmscope.wire.types import Endpoint
from tests.hostile.conftest import Honest
from tests.hostile.harness import Outcome, check, config, run_monitor

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
HOSTILE_NODE = ("127.0.25.1", 6881)
VICTIM = ("127.0.26.1", 9999)  # a UDP socket that counts what our node sends it
DHT_PORT = 7221
FLOOD = Path(__file__).with_name("dht_flood.py")


class Counter(asyncio.DatagramProtocol):
    """Counts datagrams (and bytes) that reach its address; answers nothing."""

    def __init__(self) -> None:
        self.datagrams = self.bytes = 0

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.datagrams += 1
        self.bytes += len(data)


class HostileNode(asyncio.DatagramProtocol):
    """Answers every query with ``make(query)`` (a KRPC response), counting the queries it got."""

    def __init__(self, make: Callable[[krpc.Query], krpc.Response]) -> None:
        self.make, self.queries = make, 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            query = krpc.decode_message(data)
        except DecodeError:
            return
        if isinstance(query, krpc.Query) and self.transport is not None:
            self.queries += 1
            self.transport.sendto(krpc.encode_message(self.make(query)), addr)


def _dht_settings(duration: float) -> object:
    return config(
        duration, dht=True, dht_bootstrap=[HOSTILE_NODE], listen=True, listen_port=DHT_PORT, dht_interval=2.0
    )


def test_replies_meant_to_amplify(honest: Honest, tmp_path: Path) -> None:
    """Every reply of the hostile node names 1,000 `nodes` (distinct ids, all at one victim's UDP
    address) and, for get_peers, 480 `values` at addresses where nothing listens (a 23 KB datagram; one
    of more than 500 bencode values is dropped whole, as libtorrent's DHT does: ``krpc.MAX_VALUES``).

    The victim's address is queried once per lookup, not once per node id (and never more than the
    per-lookup query cap, 256); at most 100 peers are taken from one reply (libtorrent nodes send at
    most 100), and they are leads, never evidence. Bounds: RSS +96 MiB, descriptors +80; datagrams to
    the victim <= 256; at most 100 distinct DHT sightings.
    """
    victim_nodes = tuple((os.urandom(20), Endpoint(*VICTIM)) for _ in range(1_000))
    values = tuple(Endpoint(f"127.0.27.{1 + i // 30}", 7000 + i % 30) for i in range(480))

    def make(query: krpc.Query) -> krpc.Response:
        found = values if query.method == krpc.GET_PEERS else ()
        return krpc.Response(
            query.transaction_id, os.urandom(20), nodes=victim_nodes, values=found, token=b"t"
        )

    victim, node = Counter(), HostileNode(make)

    async def serve(monitor: Monitor) -> None:
        loop = asyncio.get_running_loop()
        transports = [
            (await loop.create_datagram_endpoint(lambda: victim, local_addr=VICTIM))[0],
        ]
        try:
            await asyncio.sleep(3600)
        finally:
            for t in transports:
                t.close()

    out = _run_with_node(tmp_path, honest, node, serve, until_done=False)
    check(out, [f"127.0.27.{i}" for i in range(1, 101)], rss_mib=96, fds=80)
    assert node.queries > 0
    assert 0 < victim.datagrams <= 256, victim.datagrams  # ids differ, the address is one: deduplicated
    named = {(s.ip, s.port) for s in out.sightings if s.source == "dht"}
    assert 0 < len(named) <= 100, len(named)  # the first 100 of each reply (MAX_VALUES_PER_REPLY)


def _run_with_node(
    tmp_path: Path,
    honest: Honest,
    node: HostileNode,
    during: Callable[[Monitor], object],
    *,
    until_done: bool,
) -> Outcome:
    """Start the hostile node before the monitor (it is the bootstrap), then run the monitor 5 s (or, with
    ``until_done``, until 1 s after ``during`` returned; 30 s at most)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(HOSTILE_NODE)

    async def beside(monitor: Monitor) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: node, sock=sock)
        try:
            await during(monitor)  # type: ignore[misc]
        finally:
            transport.close()

    settings = _dht_settings(30.0 if until_done else 5.0)
    return run_monitor(
        tmp_path, honest.torrent, [], settings=settings, during=beside, stop_after_during=until_done
    )


def test_query_flood_from_many_sources(honest: Honest, tmp_path: Path) -> None:
    """A separate process floods our DHT node with 60,000 get_peers queries from 200 source addresses
    (300 each, as fast as the kernel takes them). Our node answers each source at most its per-address
    burst (50) plus 20 a second, all sources together at most its node-wide answer budget (burst 24,000
    bytes + 8,000 a second, libtorrent's ``dht_upload_rate_limit``), and never sends more bytes than the
    flood brought (no amplification).

    Bounds: RSS +64 MiB, descriptors +80; answers per source <= 50 + 20 a second of flood; answer bytes
    <= 24,000 + 8,000 a second of flood + one datagram, and <= query bytes.
    """
    flood: dict[str, int] = {}
    node = HostileNode(lambda q: krpc.Response(q.transaction_id, os.urandom(20)))

    async def flood_now(monitor: Monitor) -> None:
        await asyncio.sleep(0.5)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(FLOOD), "127.0.0.1", str(DHT_PORT), "200", "300",
            stdout=subprocess.PIPE, env={**os.environ},
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            flood.update(json.loads(out))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    out = _run_with_node(tmp_path, honest, node, flood_now, until_done=True)
    check(out, [], rss_mib=64, fds=80)
    assert flood["sent"] >= 30_000 and flood["answers"] > 0, flood
    assert flood["max_per_source"] <= 50 + 20 * (flood["seconds"] + 1), flood
    assert flood["answer_bytes"] <= flood["sent_bytes"], flood
    assert flood["answer_bytes"] <= 24_000 + 8_000 * (flood["seconds"] + 1) + 1_500, flood
