"""Hostile connections: MSE garbage (both directions), a silent tarpit, 10,000 inbound connections.

Same harness and shared assertions as test_peer_wire.py; bounds in each docstring and in
tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.records import Failure, Tier
from swarmscope.monitor.crawler import Monitor
from swarmscope.net.listener import STALL_AFTER
from swarmscope.net.mse_conn import EncryptionPolicy
from tests.hostile.conftest import Honest
from tests.hostile.harness import Hostile, check, config, run_monitor

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
LISTEN = 7211
OWN_IP = "127.0.0.2"  # the monitor's address in the dial-in test
FLOOD = Path(__file__).with_name("flood.py")


@pytest.mark.parametrize("policy", [EncryptionPolicy.ALLOW, EncryptionPolicy.REQUIRE])
def test_mse_garbage_from_a_dialled_peer(honest: Honest, tmp_path: Path, policy: EncryptionPolicy) -> None:
    """The peer answers whatever we send (plaintext or MSE handshake) with an endless stream of random
    bytes: no handshake is ever found, nothing verified. Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        await reader.read(1)
        while True:
            writer.write(os.urandom(65536))
            await writer.drain()
            await asyncio.sleep(0.05)

    hostile = Hostile("127.0.23.1", script)
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=config(3.0, encryption=policy))
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs and all(o.tier is Tier.LISTED and o.failure for o in hostile_obs), hostile_obs


def test_silent_tarpit(honest: Honest, tmp_path: Path) -> None:
    """The peer accepts and never says a byte: the handshake timeout (1.5 s here) frees the slot; the
    encrypted attempt that follows (policy allow) times out too. Bounds: RSS +64 MiB, descriptors +16.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        await asyncio.sleep(60)

    hostile = Hostile("127.0.23.2", script)
    settings = config(4.0, probe=ProbePolicy(handshake_timeout=1.5))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert hostile_obs[0].failure == Failure.HANDSHAKE_TIMEOUT.value, hostile_obs
    later = {Failure.HANDSHAKE_TIMEOUT.value, Failure.DEADLINE.value}  # the MSE attempt, cut by the run's end
    assert {o.failure for o in hostile_obs[1:]} <= later, hostile_obs


def _listening(duration: float, **extra: object) -> object:
    return config(duration, listen=True, listen_port=LISTEN, max_peers=50, **extra)


def test_mse_garbage_from_inbound_connections(honest: Honest, tmp_path: Path) -> None:
    """200 connections to our listener each send 64 KiB of random bytes (no plaintext handshake, no MSE
    sync point): each is refused within MAX_PREFIX bytes, no run and no observation is made for them.

    Bounds: RSS +64 MiB, descriptors +160: the 50 client sockets of a batch live in this process too, so
    50 clients + at most max_peers (50) admitted + 60 for accepts in progress, probes and the store.
    """

    async def garbage(monitor: Monitor) -> None:
        async def one(i: int) -> None:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", LISTEN, local_addr=(f"127.0.23.{10 + i // 100}", 0)
            )
            try:
                writer.write(os.urandom(65536))
                await writer.drain()
                await reader.read()
            except OSError:
                pass
            finally:
                writer.close()

        await asyncio.sleep(0.5)
        for start in range(0, 200, 50):
            await asyncio.gather(*(one(i) for i in range(start, start + 50)), return_exceptions=True)

    out = run_monitor(tmp_path, honest.torrent, [], settings=_listening(4.0), during=garbage)
    check(out, [], rss_mib=64, fds=160)
    assert not [o for o in out.observations if o.ip.startswith("127.0.23.")], out.observations
    stats = out.monitor._listener.stats  # type: ignore[union-attr]
    # 50 at a time from one source address: beyond MAX_PER_IP (8) they are refused per IP at once
    assert (
        stats.bad_handshake + stats.refused_over_limit + stats.refused_per_ip + stats.closed_early >= 150
    ), stats


def test_10000_inbound_connections_at_once(honest: Honest, tmp_path: Path) -> None:
    """A separate process opens 10,000 connections to our listener at once (1,000 per source address;
    the fd limit here is 20,000: the flooder holds 10,000, we hold at most max_peers) and holds them 2 s,
    each having sent 20 bytes of a handshake. The listener admits at most max_peers (50) at a time and
    closes the rest at once; the honest seed, dialled by us meanwhile, is verified.

    Bounds: RSS +64 MiB, descriptors +380: max_peers (50) admitted, and asyncio accepts up to its
    backlog (100) streams per loop turn before the over-limit ones are closed, which takes up to three
    turns (accept, connection_made, connection_lost): 50 + 3 x 100 + 30 for the probes and the store.
    """
    flood: dict[str, int] = {}

    async def flood_now(monitor: Monitor) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(FLOOD), "127.0.0.1", str(LISTEN), "10000", "2",
            stdout=subprocess.PIPE, env={**os.environ},
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            flood.update(json.loads(out.splitlines()[-1]))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    out = run_monitor(
        tmp_path, honest.torrent, [], settings=_listening(30.0), during=flood_now, stop_after_during=True
    )
    check(out, [], rss_mib=64, fds=380)
    assert flood and flood["opened"] >= 9_000, flood
    stats = out.monitor._listener.stats  # type: ignore[union-attr]
    handled = (
        stats.accepted + stats.refused_over_limit + stats.refused_per_ip + stats.evicted + stats.closed_early
    )  # streams still in the kernel's accept queue when the run stops (a loaded machine) are not counted
    assert handled >= 8_000, stats
    assert stats.runs == 0 and not [o for o in out.observations if o.ip.startswith("127.0.30.")]


def test_an_honest_peer_dials_in_during_a_silent_flood(honest: Honest, tmp_path: Path) -> None:
    """2,000 connections that send 20 bytes and then nothing (from two source addresses: at most MAX_PER_IP
    = 8 slots each, a newcomer of one of them taking an idle stream's slot of the same address) for 6 s;
    2.5 s after they are up the honest seed dials us. It must get a slot and be verified as an inbound
    peer, the flood held back (refused past its addresses' slots, or its streams that had not named their
    swarm STALL_AFTER = 2 s after accept evicted for a newcomer of the same address).

    Bounds: RSS +64 MiB, descriptors +380 (as for the 10,000-connection flood).
    """

    async def flood_then_dial(monitor: Monitor) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(FLOOD), OWN_IP, str(LISTEN), "2000", "6",
            stdout=subprocess.PIPE, env={**os.environ},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 30)  # the flood holds every slot now
            await asyncio.sleep(STALL_AFTER + 0.5)
            honest.handle.connect_peer((OWN_IP, LISTEN))
            await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    # no lead, and an address of ours the seed never met: libtorrent does not dial an IP again soon after
    # a connection from it (one peer-list entry per IP), and the other tests probe it from 127.0.0.1
    settings = _listening(30.0, bind_ip=OWN_IP)
    out = run_monitor(
        tmp_path,
        honest.torrent,
        [],
        leads=[],
        settings=settings,
        during=flood_then_dial,
        stop_after_during=True,
    )
    check(out, [], rss_mib=64, fds=380)
    inbound = [o for o in out.of("127.0.20.1") if o.source == "inbound"]
    assert any(o.tier is Tier.VERIFIED for o in inbound), [(o.tier, o.failure) for o in inbound]
    stats = out.monitor._listener.stats  # type: ignore[union-attr]
    # the flood was held back: refused past its address's slots, or its idle streams evicted for newcomers
    # of the same address (which of the two depends on how fast the flood opens its streams)
    assert stats.refused_per_ip + stats.evicted >= 1, stats
