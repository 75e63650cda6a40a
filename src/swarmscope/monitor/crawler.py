"""The monitor: discover peers through trackers, probe each one, store what was observed.

One asyncio task per tracker announces; a scheduler starts probes as the pure :class:`ProbePlan` allows
(bounded global concurrency, per-IP politeness); a single writer batches sightings and observations into the
store from a worker thread (one writer, as SQLite wants). Stopping (duration over, Ctrl-C) records every
probe in flight with how far it got, announces ``event=stopped`` and commits everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from swarmscope import __version__
from swarmscope.evidence.probe import ProbePolicy, ProbeRun
from swarmscope.evidence.records import Observation, Sighting, Source
from swarmscope.monitor.plan import PeerKey, PlanPolicy, ProbePlan
from swarmscope.monitor.stats import SwarmStats
from swarmscope.monitor.targets import Target
from swarmscope.net.clock import Clock
from swarmscope.net.peer_conn import probe
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.wire import extension
from swarmscope.wire.http_tracker import AnnounceRequest

log = logging.getLogger("swarmscope.monitor")
CLIENT_VERSION = f"swarmscope/{__version__}"


@dataclass(slots=True)
class MonitorConfig:
    """Settings of one monitoring run. Times in seconds.

    Args:
        peer_id: our 20-byte peer id. duration: run length (None: until stopped).
        max_peers: probes in flight at once (global bound). bind_ip: source address of every connection
        and announce. listen_port: the port we announce (BEP 3 ``port``). connect_timeout: TCP connect.
        announce_floor / announce_ceiling: clamp of the tracker's interval (interop TRK-07).
        numwant: peers asked of each tracker. flush_interval: how often the writer commits (seconds);
        flush_rows: pending observations that trigger an early commit.
    """

    peer_id: bytes
    duration: float | None = None
    max_peers: int = 200
    bind_ip: str | None = None
    listen_port: int = 6881
    connect_timeout: float = 5.0
    tracker_timeout: float = 10.0
    announce_floor: float = 30.0
    announce_ceiling: float = 3600.0
    numwant: int = 200
    flush_interval: float = 0.5
    flush_rows: int = 5000
    probe: ProbePolicy = field(default_factory=ProbePolicy)
    plan: PlanPolicy = field(default_factory=PlanPolicy)

    def as_settings(self) -> dict[str, Any]:
        """JSON-able settings stored with the run (methodology record)."""
        return {
            "peer_id": self.peer_id.hex(),
            "duration": self.duration,
            "max_peers": self.max_peers,
            "bind_ip": self.bind_ip,
            "listen_port": self.listen_port,
            "connect_timeout": self.connect_timeout,
            "announce_floor": self.announce_floor,
            "probe": {k: getattr(self.probe, k) for k in self.probe.__slots__ if k != "depth"}
            | {"depth": self.probe.depth.value},
            "plan": {k: getattr(self.plan, k) for k in self.plan.__slots__},
        }


class Monitor:
    """Runs the monitoring of several swarms until stopped.

    Args:
        targets: swarms with metainfo. store: a ``swarmscope.store`` Store. config: settings. clock: evidence
        clock. on_warning: called with human-readable warnings (unreachable tracker, ...).
    """

    def __init__(
        self,
        targets: list[Target],
        store: Any,
        config: MonitorConfig,
        clock: Clock | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.targets = {t.swarm: t for t in targets}
        self.store = store
        self.config = config
        self.clock = clock or Clock()
        self.on_warning = on_warning or (lambda msg: log.warning("%s", msg))
        self.plan = ProbePlan(config.plan)
        self.stats = {t.swarm: SwarmStats(t.swarm, t.name) for t in targets}
        self.sources: dict[PeerKey, str] = {}
        self.run_id: int | None = None
        self._runs: dict[PeerKey, ProbeRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_obs: list[Observation] = []
        self._pending_sightings: list[Sighting] = []
        self._wake = asyncio.Event()
        self._writer_stop = asyncio.Event()
        self._flush_now = asyncio.Event()  # set on stop, or when flush_rows rows are pending
        self._stopping = False
        self._ext = extension.encode_handshake(
            {}, v=CLIENT_VERSION.encode(), p=None, reqq=None, yourip=None, metadata_size=None
        )
        self._trackers = TrackerClient(config.peer_id, bind_ip=config.bind_ip, timeout=config.tracker_timeout)
        self._own = {(config.bind_ip or "127.0.0.1", config.listen_port)}

    # --- lifecycle ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Monitor until ``stop`` is set or the configured duration passes; commit everything."""
        stop = stop or asyncio.Event()
        cfg = self.config
        self.run_id = await asyncio.to_thread(self.store.start_run, cfg.as_settings(), __version__)
        for target in self.targets.values():
            await asyncio.to_thread(self._add_swarm, target)
        background = [asyncio.create_task(self._scheduler())]
        writer = asyncio.create_task(self._writer())
        announcers = [
            asyncio.create_task(self._announcer(t, url)) for t in self.targets.values() for url in t.trackers
        ]
        for t in self.targets.values():
            if not t.trackers:
                self.on_warning(f"{t.name}: the torrent lists no tracker; no peer can be discovered yet")
        try:
            await asyncio.wait_for(stop.wait(), cfg.duration)
        except TimeoutError:
            pass
        finally:
            await self._shutdown(background, announcers, writer)

    async def _shutdown(
        self,
        background: list[asyncio.Task[None]],
        announcers: list[asyncio.Task[None]],
        writer: asyncio.Task[None],
    ) -> None:
        self._stopping = True
        for task in (*background, *announcers, *self._tasks):
            task.cancel()
        await asyncio.gather(*background, *announcers, *self._tasks, return_exceptions=True)
        now = self.clock.now_us()
        for key, run in list(self._runs.items()):
            run.stop(now)
            self._record(key, run.observation())
        self._runs.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._announce_stopped(), 5.0)
        self._writer_stop.set()
        self._flush_now.set()
        await writer  # commits what is pending, then returns
        await asyncio.to_thread(self.store.end_run, self.run_id, self.clock.now_us())
        await self._trackers.aclose()

    def _add_swarm(self, t: Target) -> None:
        meta = t.meta
        self.store.add_swarm(
            infohash=t.swarm,
            v1=meta.v1.hex if meta and meta.v1 else (t.magnet.v1.hex if t.magnet and t.magnet.v1 else None),
            v2=meta.v2.hex if meta and meta.v2 else (t.magnet.v2.hex if t.magnet and t.magnet.v2 else None),
            name=t.name,
            num_pieces=meta.num_pieces if meta else 0,
            piece_length=meta.piece_length if meta else 0,
            total_size=meta.total_size if meta else 0,
            metainfo=meta.raw if meta else None,
            magnet=t.origin if t.magnet else None,
            added_us=self.clock.now_us(),
        )

    # --- discovery ------------------------------------------------------------------------------------

    def _request(self, t: Target, event: str | None) -> AnnounceRequest:
        left = t.meta.total_size if t.meta else (1 << 62)  # TRK-11: never negative
        return AnnounceRequest(
            infohash=t.wire_infohash,
            peer_id=self.config.peer_id,
            port=self.config.listen_port,
            left=left,
            event=event,
            numwant=self.config.numwant,
            key=int.from_bytes(self.config.peer_id[-4:], "big"),
        )

    async def _announcer(self, t: Target, url: str) -> None:
        event: str | None = "started"
        stats = self.stats[t.swarm]
        while not self._stopping:
            outcome = await self._trackers.announce(url, self._request(t, event))
            delay = self.config.announce_floor
            if outcome.ok and outcome.response is not None:
                stats.trackers_ok += 1
                event = None
                resp = outcome.response
                if resp.warning_message:
                    self.on_warning(f"{url}: tracker warning: {resp.warning_message}")
                self.discovered(
                    t.swarm,
                    [(p.endpoint.host, p.endpoint.port, p.peer_id) for p in resp.peers],
                    Source.TRACKER,
                    url,
                )
                delay = max(resp.interval, resp.min_interval or 0, self.config.announce_floor)
            else:
                stats.tracker_errors += 1
                stats.last_tracker_error = f"{url}: {outcome.error}"
                self.on_warning(f"tracker unreachable or failing, monitoring goes on: {url}: {outcome.error}")
                if outcome.response is not None:  # a failure reason still carries the retry interval (TRK-06)
                    delay = max(outcome.response.interval, self.config.announce_floor)
            await asyncio.sleep(min(delay, self.config.announce_ceiling))

    async def _announce_stopped(self) -> None:
        calls = [
            self._trackers.announce(url, self._request(t, "stopped"))
            for t in self.targets.values()
            for url in t.trackers
        ]
        await asyncio.gather(*calls, return_exceptions=True)

    def discovered(
        self, swarm: str, peers: list[tuple[str, int, bytes | None]], source: Source, detail: str
    ) -> None:
        """Peers named by a discovery source: record sightings and plan probes (own address filtered)."""
        now = self.clock.now_us()
        stats = self.stats[swarm]
        for ip, port, peer_id in peers:
            if (ip, port) in self._own or port == 0 or _unusable(ip):
                continue
            self._pending_sightings.append(Sighting(swarm, ip, port, source.value, detail, now, peer_id))
            stats.sighted(ip, port)
            key = (swarm, ip, port)
            self.sources.setdefault(key, source.value)
            if self.plan.add(key, source.value, now):
                self._wake.set()

    # --- probing --------------------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        cfg = self.config
        while not self._stopping:
            now = self.clock.now_us()
            free = cfg.max_peers - len(self._runs)
            if free > 0:
                for key in self.plan.due(now, free):
                    self._start_probe(key, now)
            self._wake.clear()
            nxt = self.plan.next_due_us()
            timeout = 1.0 if nxt is None else min(1.0, max(0.0, (nxt - now) / 1e6))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout if free > 0 else 1.0)

    def _start_probe(self, key: PeerKey, now: int) -> None:
        swarm, ip, port = key
        target = self.targets[swarm]
        pieces = target.pieces
        if pieces is None:
            return  # a magnet without metadata: nothing to verify against (BEP 9 fetch: issue 3)
        run = ProbeRun(
            swarm=swarm,
            wire_infohash=target.wire_infohash,
            peer_id=self.config.peer_id,
            pieces=pieces,
            ip=ip,
            port=port,
            source=self.sources.get(key, Source.TRACKER.value),
            started_us=now,
            policy=self.config.probe,
            piece_seed=zlib.crc32(f"{ip}:{port}".encode()),
            extension_handshake=self._ext,
        )
        self._runs[key] = run
        task = asyncio.create_task(self._probe(key, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, key: PeerKey, run: ProbeRun) -> None:
        obs = await probe(
            run, clock=self.clock, connect_timeout=self.config.connect_timeout, bind_ip=self.config.bind_ip
        )
        self._runs.pop(key, None)
        self._record(key, obs)
        self.plan.finished(key, obs, self.clock.now_us())
        self._wake.set()

    def _record(self, key: PeerKey, obs: Observation) -> None:
        self._pending_obs.append(obs)
        self.stats[key[0]].observed(obs)
        if len(self._pending_obs) >= self.config.flush_rows:
            self._flush_now.set()

    # --- storage --------------------------------------------------------------------------------------

    async def _writer(self) -> None:
        """The single writer: commits pending rows every ``flush_interval``; never cancelled mid-commit."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self._flush()
            if self._writer_stop.is_set():
                return

    async def _flush(self) -> None:
        sightings, self._pending_sightings = self._pending_sightings, []
        observations, self._pending_obs = self._pending_obs, []
        if sightings:
            await asyncio.to_thread(self.store.add_sightings, self.run_id, sightings)
        if observations:
            await asyncio.to_thread(self.store.add_observations, self.run_id, observations)


def _unusable(ip: str) -> bool:
    """Unspecified or multicast addresses are never peers (sources give normalised IP literals)."""
    if ":" in ip:
        return ip == "::" or ip[:2].lower() == "ff"
    first = ip.split(".", 1)[0]
    return ip == "0.0.0.0" or (first.isdigit() and 224 <= int(first) <= 239)
