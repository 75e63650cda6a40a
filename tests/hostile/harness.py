"""The hostile-peer harness: scripted hostile peers on loopback, the real Monitor, resource sampling.

Each scenario starts one or more hostile endpoints (TCP peers here; trackers and DHT nodes in their own
modules) on 127.0.21.x addresses, runs the real :class:`~swarmscope.monitor.crawler.Monitor` for a few
seconds against them AND against the module's honest libtorrent seed (``conftest.honest``), samples the
process's resident memory (``VmRSS`` of /proc/self/status, KiB) and open file descriptors (entries of
/proc/self/fd) every 50 ms, and returns the stored observations. :func:`check` asserts what every scenario
must hold: the honest seed verified, no ``verified`` for a hostile address, the resource bounds, and a run
that ended (``Monitor.run`` returned and the run row has its end time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import Observation, Sighting, Source, Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import Target, load_target
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.ledger import queries
from swarmscope.wire import peer as pw

HONEST = ("127.0.20.1", 6881)  # the module's libtorrent seed
PEER_ID = b"-SS0100-hostilehosti"
MIB = 1024  # KiB per MiB (RSS is read in KiB)
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Hostile"], Awaitable[None]]


def rss_kib() -> int:
    """Resident set size of this process, KiB (``VmRSS`` in /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    """Open file descriptors of this process (entries of /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Usage:
    """Resources around one run: RSS in KiB, descriptors as counts (start, peak while running, end)."""

    rss_start: int = 0
    rss_peak: int = 0
    fds_start: int = 0
    fds_peak: int = 0
    fds_end: int = 0

    def sample(self) -> None:
        self.rss_peak = max(self.rss_peak, rss_kib())
        self.fds_peak = max(self.fds_peak, open_fds())


@dataclass
class Hostile:
    """One scripted hostile TCP peer on ``ip:port``: ``script`` runs for every connection it accepts.

    ``target`` is the monitored swarm (its infohash and piece count for the script); ``connections``
    counts accepted connections (a script uses it to behave differently on a re-probe).
    """

    ip: str
    script: Script
    port: int = 6881
    target: Target | None = None
    connections: int = 0
    notes: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # the monitor hung up on us: that is the expected end of most scenarios
        except Exception as exc:  # a broken script must fail its test, not pass silently
            self.errors.append(repr(exc))
        finally:
            writer.close()

    @property
    def infohash(self) -> bytes:
        assert self.target is not None
        return self.target.wire_infohash

    @property
    def num_pieces(self) -> int:
        assert self.target is not None and self.target.pieces is not None
        return self.target.pieces.num_pieces


@dataclass
class Outcome:
    observations: list[Observation]
    sightings: list[Sighting]
    usage: Usage
    monitor: Monitor
    ended: bool

    def of(self, ip: str) -> list[Observation]:
        return [o for o in self.observations if o.ip == ip]


async def handshake(
    reader: asyncio.StreamReader,
    hostile: Hostile,
    peer_id: bytes = b"-XX0001-hostilepeer0",
    infohash: bytes | None = None,
) -> bytes:
    """Read the monitor's 68-byte handshake; return our answer (fast + extension bits set)."""
    await reader.readexactly(pw.HANDSHAKE_LEN)
    return pw.Handshake(pw.reserved_bytes(), infohash or hostile.infohash, peer_id).encode()


def have_all() -> bytes:
    return pw.encode_message(pw.Simple(pw.HAVE_ALL))


def unchoke() -> bytes:
    return pw.encode_message(pw.Simple(pw.UNCHOKE))


async def requests(reader: asyncio.StreamReader, count: int = 1) -> list[tuple[int, int, int]]:
    """Read messages until ``count`` requests came; returns them as ``(index, begin, length)``."""
    framer, seen = pw.MessageFramer(), []
    while len(seen) < count:
        data = await reader.read(65536)
        if not data:
            raise ConnectionResetError("monitor closed")
        for body in framer.feed(data):
            msg = pw.decode_message(body)
            if isinstance(msg, pw.BlockRef) and msg.msg_id == pw.REQUEST:
                seen.append((msg.index, msg.begin, msg.length))
    return seen


async def trickle_junk_blocks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
    """A valid handshake, have_all, unchoke, then one junk block (0x5a bytes) for a request every 0.9 s:
    each block comes inside a 1 s ``piece_timeout``, none passes its piece hash."""
    writer.write(await handshake(reader, h) + have_all() + unchoke())
    asked: list[tuple[int, int, int]] = []

    async def collect() -> None:
        while True:
            asked.extend(await requests(reader))

    reading = asyncio.create_task(collect())
    try:
        while True:
            await asyncio.sleep(0.9)
            if asked:
                index, begin, length = asked.pop(0)
                writer.write(pw.encode_message(pw.Piece(index, begin, b"\x5a" * length)))
    finally:
        reading.cancel()


async def drain(reader: asyncio.StreamReader) -> None:
    """Read and drop until the monitor hangs up."""
    while await reader.read(65536):
        pass


def config(duration: float, **extra: Any) -> MonitorConfig:
    """Settings of a hostile-scenario run: short, bound to 127.0.0.1, no listener, DHT or PEX unless asked."""
    settings: dict[str, Any] = {
        "peer_id": PEER_ID,
        "duration": duration,
        "bind_ip": "127.0.0.1",
        "listen": False,
        "pex": False,
        "connect_timeout": 2.0,
        "max_peers": 50,
    }
    settings.update(extra)
    return MonitorConfig(**settings)


def run_monitor(
    tmp_path: Path,
    torrent: Path | str,
    hostiles: Sequence[Hostile] = (),
    *,
    leads: Sequence[tuple[str, int]] | None = None,
    settings: MonitorConfig | None = None,
    during: Callable[[Monitor], Awaitable[None]] | None = None,
    duration: float = 3.0,
    stop_after_during: bool = False,
) -> Outcome:
    """Serve ``hostiles``, run the Monitor with the honest seed and each hostile as leads; return the result.

    ``leads``: addresses handed to the monitor (default: the honest seed, then every hostile peer).
    ``during``: a coroutine run beside the monitor once its run is sealed (floods, late leads); with
    ``stop_after_during`` the monitor is stopped 1 s after it returns (``duration`` is then a ceiling).
    """
    target = load_target(str(torrent))
    for h in hostiles:
        h.target = target
    store = open_store(str(tmp_path / "hostile.db"), node_key=Ed25519PrivateKey.generate())
    cfg = settings or config(duration)
    monitor = Monitor([target], store, cfg, Clock(), leads_from_caller=True)
    usage = Usage(rss_start=rss_kib(), fds_start=open_fds())
    usage.sample()
    given = list(leads) if leads is not None else [HONEST, *((h.ip, h.port) for h in hostiles)]

    async def sampler() -> None:
        while True:
            usage.sample()
            await asyncio.sleep(0.05)

    async def main() -> None:
        servers = [await asyncio.start_server(h._handle, h.ip, h.port) for h in hostiles]
        sampling = asyncio.create_task(sampler())
        stop = asyncio.Event()

        async def beside(run_during: Callable[[Monitor], Awaitable[None]]) -> None:
            await run_during(monitor)
            if stop_after_during:
                await asyncio.sleep(1.0)
                stop.set()

        try:
            task = asyncio.create_task(monitor.run(stop))
            while monitor.run_id is None and not task.done():
                await asyncio.sleep(0.02)
            if given:
                peers = [(ip, port, None) for ip, port in given]
                monitor.discovered(target.swarm, peers, Source.TRACKER, "hostile")
            extra = asyncio.create_task(beside(during)) if during is not None else None
            await task
            if extra is not None:
                extra.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await extra
        finally:
            sampling.cancel()
            for server in servers:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2.0)

    asyncio.run(main())
    usage.sample()
    observations = queries.load_observations(store)
    sightings = queries.load_sightings(store)
    ended = _run_ended(store, monitor.run_id)
    store.close()
    usage.fds_end = open_fds()
    assert not [e for h in hostiles for e in h.errors], [e for h in hostiles for e in h.errors]
    return Outcome(observations, sightings, usage, monitor, ended)


def _run_ended(store: Any, run_id: int | None) -> bool:
    """The run row of ``run_id`` carries its end time (``Monitor.run`` reached its orderly shutdown)."""
    return any(r.id == run_id and r.ended_us is not None for r in queries.run_rows(store))


def check(outcome: Outcome, hostile_ips: Sequence[str], *, rss_mib: int, fds: int) -> list[Observation]:
    """The assertions every scenario shares; returns the hostile addresses' observations.

    * the honest seed reached ``verified`` (with no failure);
    * no observation of a hostile address is ``verified`` (whatever its failure);
    * RSS grew by at most ``rss_mib`` MiB over the run (peak against start);
    * open descriptors rose by at most ``fds`` over the start while running, and none leaked after;
    * the run ended normally (``Monitor.run`` returned, the run row has its end).
    """
    honest = outcome.of(HONEST[0])
    assert any(o.tier is Tier.VERIFIED and o.failure is None for o in honest), [
        (o.tier, o.failure, o.failure_detail) for o in honest
    ]
    hostile = [o for o in outcome.observations if o.ip in hostile_ips]
    assert not [o for o in hostile if o.tier is Tier.VERIFIED], [
        (o.ip, o.tier, o.failure, o.failure_detail) for o in hostile if o.tier is Tier.VERIFIED
    ]
    usage = outcome.usage
    grown = (usage.rss_peak - usage.rss_start) / MIB
    assert grown <= rss_mib, f"RSS grew {grown:.1f} MiB > {rss_mib} MiB"
    assert usage.fds_peak - usage.fds_start <= fds, f"fds peaked {usage.fds_peak} from {usage.fds_start}"
    assert usage.fds_end <= usage.fds_start + 2, f"fds leaked: {usage.fds_start} -> {usage.fds_end}"
    assert outcome.ended
    return hostile


def piece_bytes(content: bytes, index: int, piece_len: int) -> bytes:
    return content[index * piece_len : (index + 1) * piece_len]


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()
