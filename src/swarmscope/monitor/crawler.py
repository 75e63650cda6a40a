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
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation, Sighting, Source
from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor.announce import Trackers, announce_loop
from swarmscope.monitor.channels import close_channels, open_channels, peer_listener
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.dht_discovery import DhtDiscovery
from swarmscope.monitor.evidence_sink import EvidenceSink
from swarmscope.monitor.metadata import fetch_metadata, lead_queue
from swarmscope.monitor.plan import PeerKey, ProbePlan, unusable_address
from swarmscope.monitor.plan_bound import hold
from swarmscope.monitor.probe_runs import new_probe_run, our_extension_handshake, pex_leads
from swarmscope.monitor.shards import LeadRouter
from swarmscope.monitor.stats import SwarmStats
from swarmscope.monitor.targets import Target
from swarmscope.net.clock import Clock
from swarmscope.net.listener import PeerListener
from swarmscope.net.mse_conn import probe_with_encryption
from swarmscope.store.ports import EvidenceLedger, MonitorStore
from swarmscope.wire.types import Endpoint

log = logging.getLogger("swarmscope.monitor")


class Monitor:
    """Runs the monitoring of several swarms until stopped.

    Args:
        targets: swarms with metainfo. store: a Store (``store.ports.MonitorStore``). config: settings.
        clock: evidence clock. on_warning: called with human-readable warnings (unreachable tracker, ...).
        software_commit: git commit of the running code (sealed with the run's settings), or None.
        leads_from_caller: the caller hands in peers itself (:meth:`discovered`, or peers told to dial
        the listener): run even when no tracker or DHT can name a peer (benchmarks, tests).
        on_committed: called with each sealed batch once its COMMIT returned (``LedgerWriter``).
        ledger: where the evidence writer commits when not ``store`` (the node's writer process).
        router: the shards of a node with several probe processes (:mod:`swarmscope.monitor.shards`):
        leads of other shards are handed on, not planned here. joined_run: this monitor is a probe process
        of the run the coordinator started (no run, swarm row or discovery channel of its own).
    """

    def __init__(
        self,
        targets: list[Target],
        store: MonitorStore,
        config: MonitorConfig,
        clock: Clock | None = None,
        on_warning: Callable[[str], None] | None = None,
        software_commit: str | None = None,
        leads_from_caller: bool = False,
        on_committed: Callable[[SealedBatch], None] = lambda _sealed: None,
        ledger: EvidenceLedger | None = None,
        router: LeadRouter | None = None,
        joined_run: int | None = None,
    ) -> None:
        self.targets = {t.swarm: t for t in targets}
        self.store = store
        self.config = config
        self.clock = clock or Clock()
        self.on_warning = on_warning or (lambda msg: log.warning("%s", msg))
        self.sources: dict[PeerKey, str] = {}  # each planned peer's first source (it leaves with the peer)
        self.plan = ProbePlan(
            config.plan, router.shards if router is not None else 1, lambda key: self.sources.pop(key, None)
        )
        self.stats = {t.swarm: SwarmStats(t.swarm, t.name) for t in targets}
        self.run_id: int | None = None
        self.leads_from_caller = leads_from_caller
        self._runs: dict[PeerKey, ProbeRun | None] = {}  # probes in flight (None: between attempts)
        self._dht: DhtDiscovery | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.evidence = EvidenceSink(
            store,
            config,
            self.clock,
            self.on_warning,
            software_commit,
            on_committed=on_committed,
            ledger=ledger,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._ext = our_extension_handshake(config)
        self._trackers = Trackers(config)
        self._own = {(config.bind_ip or "127.0.0.1", config.listen_port)}
        self._by_wire: dict[bytes, str] = {t.wire_infohash: t.swarm for t in targets}
        self._listener: PeerListener | None = None
        self._metadata_leads = {t.swarm: lead_queue() for t in targets if t.meta is None}
        self._held: dict[str, dict[PeerKey, str]] = {}  # a magnet's leads and their first source
        self.router, self.joined_run = router, joined_run

    # --- lifecycle ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Monitor until ``stop`` is set or the configured duration passes; commit everything.

        Raises:
            InputError: before anything is started or sealed: ``--listen-port`` cannot be ours, or a swarm
                has no discovery channel (:func:`~swarmscope.monitor.channels.open_channels`).
        """
        stop = stop or asyncio.Event()
        self._listener, self._dht = await open_channels(
            self.config,
            self.targets.values(),
            (self._make_listener, self._make_dht),
            self.on_warning,
            require=not self.leads_from_caller,
        )
        try:
            writer, *background = await self.evidence.start(self.joined_run)
        except BaseException:
            await close_channels(self._listener, self._dht)
            raise
        self.run_id = self.evidence.run_id
        for target in self.targets.values() if self.joined_run is None else ():
            await asyncio.to_thread(self._add_swarm, target)
        if self.router is not None:
            await self.router.start(self)
        background.append(asyncio.create_task(self._scheduler()))
        await self.evidence.load_references(self.targets)
        announcers = [
            asyncio.create_task(self._announcer(t, url)) for t in self.targets.values() for url in t.trackers
        ]
        if self._dht is not None:
            self._dht.start()
        background += [
            asyncio.create_task(self._fetch_metadata(t)) for t in self.targets.values() if t.meta is None
        ]
        try:
            await asyncio.wait_for(stop.wait(), self.config.duration)
        except TimeoutError:
            pass
        finally:
            await self._shutdown(background, announcers, writer)

    async def _shutdown(
        self,
        background: list[asyncio.Task[Any]],
        announcers: list[asyncio.Task[None]],
        writer: asyncio.Task[None],
    ) -> None:
        self._stopping = True
        for task in (*background, *announcers, *self._tasks):
            task.cancel()
        await asyncio.gather(*background, *announcers, *self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.stop()  # its runs in flight come back through _inbound_done
        now = self.clock.now_us()
        for key, run in list(self._runs.items()):
            if run is not None:
                driver = self.evidence.driver(key, run)
                if not driver.done:
                    driver.stop(now)
                self._record(key, driver.observation())
        self._runs.clear()
        if self._dht is not None:
            await self._dht.stop()
        if self.router is not None:  # the other probe processes commit their last batches first
            await self.router.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._trackers.stopped(self.targets.values()), 5.0)
        await self.evidence.stop(writer)  # commits what is pending, then returns
        if self.run_id is not None and self.joined_run is None:  # run() recorded it
            await asyncio.to_thread(self.store.end_run, self.run_id, self.clock.now_us())
        await self._trackers.aclose()

    async def _fetch_metadata(self, t: Target) -> None:
        """BEP 9: get a magnet's info dict from the peers found for it, then monitor it like a .torrent."""
        assert t.magnet is not None
        leads = self._metadata_leads[t.swarm]

        async def candidates() -> AsyncIterator[tuple[str, int]]:
            while True:
                yield await leads.get()

        while t.meta is None and not self._stopping:
            outcome = await fetch_metadata(
                t.magnet,
                candidates(),
                clock=self.clock,
                peer_id=self.config.peer_id,
                bind_ip=self.config.bind_ip,
                timeout=self.config.metadata_timeout,
                encryption=self.config.encryption,
                tap=self.evidence.capture_tap,
                source_of=lambda peer: self._held.get(t.swarm, {}).get((t.swarm, *peer), Source.MANUAL.value),
            )
            for obs in outcome.observations:
                self._record((t.swarm, obs.ip, obs.port), obs)
            if outcome.meta is None:
                self.on_warning(f"{t.name}: no peer served verified metadata yet (BEP 9); still trying")
                continue
            t.meta = outcome.meta
            await asyncio.to_thread(self._add_swarm, t)
            del self._metadata_leads[t.swarm]
            now = self.clock.now_us()
            for key, source in self._held.pop(t.swarm, {}).items():
                self._plan(key, source, now)
            self._wake.set()

    def _make_listener(self, host: str) -> PeerListener:
        runs = (self._inbound_run, self._inbound_done)
        return peer_listener(self.config, self.clock, host, runs, self._by_wire, self.evidence.capture_tap)

    def _inbound_run(self, wire_infohash: bytes, ip: str, port: int) -> ProbeRun | None:
        swarm = self._by_wire.get(wire_infohash)
        if swarm is None or self._stopping or self.run_id is None or self.evidence.backlog_full():
            return None  # run_id None: the run is not sealed yet
        now = self.clock.now_us()
        return self._new_run((swarm, ip, port), now, source=Source.INBOUND.value, inbound=True)

    def _inbound_done(self, run: ProbeRun, obs: Observation) -> None:
        """Record an inbound probe (the run already names the peer's BEP 10 listen port when it sent one)."""
        key = (obs.infohash, obs.ip, obs.port)
        self.stats[obs.infohash].sighted(obs.ip, obs.port, Source.INBOUND.value)
        self._record(key, obs)
        self._collect_pex(key, run)
        self.evidence.learn(obs.infohash, run)

    def _make_dht(self) -> DhtDiscovery:
        """Our DHT node on the listen port number (UDP), announcing the TCP listen port when we listen."""
        cfg = self.config
        return DhtDiscovery(
            bind=(cfg.bind_ip or "0.0.0.0", cfg.listen_port if cfg.listen else 0),
            bootstrap=cfg.dht_bootstrap,
            infohashes=list(self._by_wire),
            on_peers=self._on_dht_peers,
            announce_port=cfg.listen_port if cfg.listen else None,
            interval=cfg.dht_interval,
            read_only=cfg.dht_read_only,
            on_estimate=self._on_dht_estimate,
        )

    def _on_dht_estimate(self, wire_infohash: bytes, seeds: float | None, peers: float | None) -> None:
        swarm = self._by_wire.get(wire_infohash)
        if swarm is not None:
            self.stats[swarm].dht_estimate = (seeds, peers)

    def _on_dht_peers(self, wire_infohash: bytes, peers: list[Endpoint]) -> None:
        swarm = self._by_wire.get(wire_infohash)
        if swarm is not None:
            self.discovered(swarm, [(e.host, e.port, None) for e in peers], Source.DHT, "dht")

    def _add_swarm(self, t: Target) -> None:
        self.store.add_swarm(**t.swarm_fields(), added_us=self.clock.now_us())

    # --- discovery ------------------------------------------------------------------------------------

    async def _announcer(self, t: Target, url: str) -> None:
        stats = self.stats[t.swarm]

        def on_peers(peers: list[tuple[str, int, bytes | None]]) -> None:
            stats.trackers_ok += 1
            self.discovered(t.swarm, peers, Source.TRACKER, url)

        def on_error(error: str) -> None:
            stats.tracker_errors += 1
            stats.last_tracker_error = f"{url}: {error}"
            self.on_warning(f"tracker unreachable or failing, monitoring goes on: {url}: {error}")

        client = self._trackers.client_for(url)
        await announce_loop(client, self.config, t, url, on_peers, on_error, self.on_warning)

    def discovered(
        self, swarm: str, peers: Sequence[tuple[str, int, bytes | None]], source: Source, detail: str
    ) -> None:
        """Peers named by a discovery source: record sightings and plan probes (own address filtered)."""
        now = self.clock.now_us()
        stats = self.stats[swarm]
        away: list[tuple[str, int]] = []  # leads of other probe processes' shards
        via = detail if source is Source.PEX else ""  # PEX: the naming peer, for its quota (plan.py)
        for ip, port, peer_id in peers:
            if (ip, port) in self._own or port == 0 or unusable_address(ip):
                continue
            self.evidence.add(Sighting(swarm, ip, port, source.value, detail, now, peer_id))
            stats.sighted(ip, port, source.value)
            if self.router is not None and swarm not in self._metadata_leads and not self.router.mine(ip):
                away.append((ip, port))
                continue
            key = (swarm, ip, port)
            leads = self._metadata_leads.get(swarm)
            if leads is not None:  # a magnet still without metadata: the peer is a lead for BEP 9 first
                hold(self._held, key, source.value, self.config.plan.max_peers_per_swarm)
                with contextlib.suppress(asyncio.QueueFull):  # full (lead_queue): offered again later
                    leads.put_nowait((ip, port))
                continue
            self._plan(key, source.value, now, via)
        if away and self.router is not None:
            self.router.forward(swarm, away, source.value, via)

    def planned(self, swarm: str, peers: Sequence[tuple[str, int]], source: str, via: str = "") -> None:
        """Plan peers another probe process found for this one's shard (it recorded their sightings);
        ``via``: the PEX peer that named them (``"ip:port"``, ``""`` for other sources), whose host's
        quota is this process's share (``ProbePlan.pex_quota``)."""
        if swarm not in self.targets:
            return
        now = self.clock.now_us()
        for ip, port in peers:
            self._plan((swarm, ip, port), source, now, via)

    def _plan(self, key: PeerKey, source: str, now: int, via: str = "") -> None:
        """Plan a probe of ``key`` (not for a PEX lead over its caps, nor a lead cooling down: plan.py)."""
        if self.plan.add(key, source, now, via):
            self._wake.set()
        if key in self.plan.peers:
            self.sources.setdefault(key, source)

    # --- probing --------------------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        cfg = self.config
        while not self._stopping:
            now = self.clock.now_us()
            free = 0 if self.evidence.backlog_full() else cfg.max_peers - len(self._runs)
            if free > 0:
                for key in self.plan.due(now, free):
                    self._start_probe(key, now)
            self._wake.clear()
            nxt = self.plan.next_due_us()
            timeout = 1.0 if nxt is None else min(1.0, max(0.0, (nxt - now) / 1e6))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout if free > 0 else 1.0)

    def _new_run(self, key: PeerKey, now: int, *, source: str, inbound: bool = False) -> ProbeRun | None:
        """A fresh pure probe of ``key`` (None for a magnet whose metadata is not known yet)."""
        swarm, ip, port = key
        first = self.plan.peers[key].probes == 0 if key in self.plan.peers else True
        return new_probe_run(
            self.targets[swarm],
            self.config,
            (ip, port),
            now,
            source=source,
            first=first,
            extension_handshake=self._ext,
            candidates=lambda seed: self.evidence.candidates(swarm, seed),
            inbound=inbound,
        )

    def _start_probe(self, key: PeerKey, now: int) -> None:
        if self.targets[key[0]].pieces is None:
            return  # a magnet without metadata: nothing to verify against yet
        task = asyncio.create_task(self._probe(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, key: PeerKey) -> None:
        """Probe one peer under the encryption policy; every attempt is an observation."""
        runs: list[ProbeRun] = []
        source = self.sources.get(key, Source.TRACKER.value)

        def make() -> ProbeRun:
            run = self._new_run(key, self.clock.now_us(), source=source)
            assert run is not None  # _start_probe checked the metainfo
            runs.append(run)
            self._runs[key] = run
            return run

        self._runs[key] = None
        observations = await probe_with_encryption(
            make,
            self.config.encryption,
            clock=self.clock,
            connect_timeout=self.config.connect_timeout,
            bind_ip=self.config.bind_ip,
            tap=self.evidence.tap_for(key),
        )
        self._runs.pop(key, None)
        self.evidence.tapped.pop(key, None)
        for obs in observations:
            self._record(key, obs)
        for run in runs:
            self._collect_pex(key, run)
            self.evidence.learn(key[0], run)
        self.plan.finished(key, observations[-1], self.clock.now_us())  # its source leaves with it
        self._wake.set()

    def _collect_pex(self, key: PeerKey, run: ProbeRun) -> None:
        """Peers named in the peer's ut_pex messages become discovery leads (:func:`pex_leads`)."""
        if run.pex:
            self.discovered(key[0], pex_leads(run), Source.PEX, f"{key[1]}:{key[2]}")

    def _record(self, key: PeerKey, obs: Observation) -> None:
        self.evidence.observed(obs)
        self.stats[key[0]].observed(obs)
