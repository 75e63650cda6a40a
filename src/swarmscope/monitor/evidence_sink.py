"""Where the monitor's evidence goes: captures, block proofs, clock samples and the sealed ledger writer.

One :class:`EvidenceSink` per monitor run (README "Court-grade evidence"): it starts the run in the store
and seals its configuration (``RunStarted``), taps every probe's wire bytes, offers block proofs to new
probes and learns verified pieces from finished ones, measures the clock against the configured NTP
servers, and queues every record for the single :class:`~swarmscope.monitor.ledger_writer.LedgerWriter`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from swarmscope import __version__
from swarmscope.attribution.lookup import Attributor
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.capture.recording import Capture
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import BlockProof, ClockSample, Observation, RunStarted, us_to_iso
from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.ledger_writer import Fenced, LedgerWriter
from swarmscope.monitor.plan import PeerKey
from swarmscope.monitor.proofs import ProofPieces, ReferenceLoaded
from swarmscope.monitor.targets import Target
from swarmscope.net.capture_tap import CaptureTap, TappedRun
from swarmscope.net.clock import Clock
from swarmscope.net.ntp_clock import ClockWatch
from swarmscope.net.stream_shell import DrivenRun, Tap
from swarmscope.store.ledger.datasets import active_datasets
from swarmscope.store.ports import EvidenceLedger, RunLedger
from swarmscope.wire.metainfo import Metainfo


class EvidenceSink:
    """The evidence side of one monitor run.

    Args:
        store: a Store opened with the node key (``store.ports.RunLedger``). config: the run's settings.
        clock: the evidence clock.
        on_warning: human-readable warnings. software_commit: sealed with the settings (or None).
        on_committed: called with each sealed batch once its COMMIT returned (see ``LedgerWriter``).
        ledger: where the writer commits, when not ``store`` itself (the node's writer process,
        :class:`~swarmscope.monitor.writer_process.WriterProcess`).
    """

    def __init__(
        self,
        store: RunLedger,
        config: MonitorConfig,
        clock: Clock,
        on_warning: Callable[[str], None],
        software_commit: str | None = None,
        on_committed: Callable[[SealedBatch], None] = lambda _sealed: None,
        ledger: EvidenceLedger | None = None,
    ) -> None:
        self.store, self.config, self.clock, self.on_warning = store, config, clock, on_warning
        self.ledger: EvidenceLedger = store if ledger is None else ledger
        self.on_committed = on_committed
        self.on_fenced: Fenced = lambda _swarms: None  # a fleet node sets it
        self.software_commit = software_commit
        self.run_id: int | None = None
        self.writer: LedgerWriter | None = None  # created by start() (it needs the run id)
        self.proofs = ProofPieces(
            self._store_piece, max_pieces=config.proof_pieces, candidates=config.proof_candidates
        )
        self.capture_tap = CaptureTap(clock, self._add_capture) if config.capture else None
        self.tapped: dict[PeerKey, TappedRun] = {}  # the capture tap around each outgoing probe in flight
        self.attributor: Attributor | None = None  # opened by start() when datasets are registered
        self._attributed: set[str] = set()  # addresses attributed in this run (once each)
        self.clock_watch: ClockWatch | None = None
        if config.ntp_servers:
            self.clock_watch = ClockWatch(
                config.ntp_servers, clock=clock, interval=config.ntp_interval, on_sample=self._clock_sample
            )
        self._clock_bad: set[str] = set()  # servers whose latest sample flags observations

    async def start(self, joined_run: int | None = None) -> list[asyncio.Task[Any]]:
        """Start the run and its sealed configuration; returns the writer task (first) and the clock task.

        ``joined_run``: a probe process's sink writes into the run the coordinator started and sealed
        (its ``RunStarted`` record is the coordinator's; none is added here).
        """
        cfg = self.config
        settings = cfg.as_settings()
        started = self.clock.now_us()
        run_id = joined_run
        if run_id is None:
            run_id = await asyncio.to_thread(self.store.start_run, settings, __version__, started)
        self.run_id = run_id
        self.writer = LedgerWriter(
            self.ledger,
            run_id,
            self.clock,
            flush_interval=cfg.flush_interval,
            flush_rows=cfg.flush_rows,
            latest_clock=self.clock_watch.latest if self.clock_watch is not None else lambda: None,
            tsa_url=cfg.tsa_url,
            on_warning=self.on_warning,
            on_committed=self.on_committed,
            on_fenced=lambda swarms: self.on_fenced(swarms),
            max_backlog_bytes=cfg.max_backlog_bytes,
        )
        settings_json = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        if joined_run is None:
            self.add(RunStarted(run_id, started, __version__, self.software_commit, settings_json))
        await self._open_attributor()
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self.writer.run())]
        if self.clock_watch is not None:
            tasks.append(asyncio.create_task(self.clock_watch.run(asyncio.Event())))
        return tasks

    async def _open_attributor(self) -> None:
        """Open the registered IP datasets (each at this node's path when ``config.dataset_paths`` names
        one); without any, observations go unattributed."""
        try:
            registered = await asyncio.to_thread(active_datasets, self.store)
            local = self.config.dataset_paths  # this node's copies (Attributor.open re-checks each SHA-256)
            datasets = [replace(d, path=local.get(d.sha256, d.path)) for d in registered]
            if datasets:
                self.attributor = await asyncio.to_thread(Attributor.open, datasets)
        except SwarmscopeError as exc:
            self.on_warning(f"IP datasets unusable, observations are not attributed: {exc}")

    async def load_references(self, targets: dict[str, Target]) -> None:
        """Reference copies of the work seed the block hash tables (README "Blocks proving distribution")."""
        for swarm, path in self.config.references.items():
            target = targets.get(swarm)
            if target is None or target.meta is None:
                self.on_warning(f"reference {path}: no monitored torrent with metainfo for {swarm}")
                continue
            loaded = await self.load_reference(swarm, target.meta, path)
            if loaded.mismatched or loaded.missing:
                self.on_warning(
                    f"reference {path}: {loaded.mismatched} pieces do not match the torrent and "
                    f"{loaded.missing} are missing; only verified pieces back block proofs"
                )

    async def load_reference(self, swarm: str, meta: Metainfo, path: str) -> ReferenceLoaded:
        """Check one reference copy of ``swarm``'s work piece by piece; its verified pieces (up to the
        proof table's size) back block proofs and are stored with the next batch.

        Raises:
            InputError: nothing at ``path``, or a missing or short file (every one is named).
        """
        return await asyncio.to_thread(self.proofs.load_reference, swarm, meta, Path(path))

    async def stop(self, writer: asyncio.Task[None]) -> None:
        """Commit everything pending and wait for the writer to finish."""
        assert self.writer is not None
        self.writer.stop()
        await writer
        if self.attributor is not None:
            self.attributor.close()

    def backlog_full(self) -> bool:
        """True while the writer's backlog is over its bound (``LedgerWriter.backlog_full``): no new probe."""
        return self.writer is not None and self.writer.backlog_full()

    # --- per record / per probe ----------------------------------------------------------------------

    def add(self, record: EvidenceRecord) -> None:
        """Queue a record for the sealed ledger."""
        assert self.writer is not None
        self.writer.add(record)

    def observed(self, obs: Observation) -> None:
        """Queue an observation, and the first time its address is seen in this run, its attribution.

        The attribution applies to the observation time and names the dataset versions used (README "The
        legal workflow"); geolocation in it is advisory.
        """
        self.add(obs)
        if self.attributor is not None and obs.ip not in self._attributed:
            self._attributed.add(obs.ip)
            try:
                self.add(self.attributor.attribute(obs.ip, obs.started_us))
            except SwarmscopeError as exc:
                self.on_warning(f"attribution of {obs.ip} failed: {exc}")

    def candidates(self, swarm: str, seed: int) -> tuple[BlockProof, ...]:
        """Block proofs to offer a new probe of ``swarm``."""
        return self.proofs.candidates(swarm, seed)

    def tap_for(self, key: PeerKey) -> Tap | None:
        """A tap for one outgoing probe of ``key`` (None when captures are off)."""
        capture_tap = self.capture_tap
        if capture_tap is None:
            return None

        def tap(run: DrivenRun) -> DrivenRun:
            tapped = self.tapped[key] = capture_tap(run)
            return tapped

        return tap

    def driver(self, key: PeerKey, run: DrivenRun) -> DrivenRun:
        """The outermost driver of an in-flight probe (its tap when there is one), forgotten here."""
        tapped = self.tapped.pop(key, None)
        return tapped if tapped is not None else run

    def learn(self, swarm: str, run: ProbeRun) -> None:
        """Keep the bytes of every block the probe proved; its verified whole pieces back later proofs.

        Call right after :meth:`observed` with the probe's observation (no await in between), so each
        block commits with the observation that names it. The block bytes are what ``verify`` re-hashes
        (``blobs/<sha256>.bin``, README "Blocks proving distribution"). A plaintext capture lifts them by
        itself, but an MSE capture holds them only RC4-encrypted, and a run with capture off holds none:
        without this a bundle could not carry the proving block. The bytes are dropped here afterwards.
        """
        if run.verified_block_data and self.writer is not None:
            self.writer.add_blobs({proof.sha256: block for proof, block in run.verified_block_data})
            run.verified_block_data.clear()
        if run.verified_data:
            self.proofs.learned(swarm, run.verified_data)
            run.verified_data.clear()

    def clock_sample(self, sample: ClockSample) -> None:
        """Seal a clock sample measured outside the NTP watch (a fleet node's, against the database clock),
        as :meth:`_clock_sample` does an NTP one."""
        self._clock_sample(sample)

    def _clock_sample(self, sample: ClockSample) -> None:
        """Seal the sample; one line when a server starts flagging observations, one when it recovers.

        Each line names the sample's UTC time, so every transition prints even when the same server
        fails the same way again later (the CLI drops repeated identical warnings).
        """
        self.add(sample)
        threshold_us = round(self.config.clock_threshold_ms * 1000)
        if sample.error is not None or sample.offset_us is None:
            problem = f"no usable answer ({sample.error})"
        elif abs(sample.offset_us) > threshold_us:
            problem = f"offset {sample.offset_us / 1000:+.1f} ms exceeds {threshold_us / 1000:g} ms"
        else:
            problem = ""
        at = us_to_iso(sample.measured_at_us)
        if problem and sample.server not in self._clock_bad:
            self._clock_bad.add(sample.server)
            self.on_warning(
                f"clock: time server {sample.server} at {at}: {problem}; observations from the last good "
                "sync on are flagged until it is back within the threshold"
            )
        elif not problem and sample.server in self._clock_bad:
            self._clock_bad.discard(sample.server)
            self.on_warning(
                f"clock: time server {sample.server} at {at}: back within the threshold (offset "
                f"{(sample.offset_us or 0) / 1000:+.1f} ms)"
            )

    def _add_capture(self, capture: Capture) -> None:
        assert self.writer is not None
        self.writer.add_capture(capture)

    def _store_piece(self, swarm: str, index: int, data: bytes) -> None:
        assert self.writer is not None
        self.writer.add_reference_piece(swarm, index, data)
