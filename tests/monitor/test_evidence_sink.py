"""The monitor's evidence sink: the run's sealed settings, and clock warnings as NTP samples arrive."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.attribution.datasets import fingerprint
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.records import Attribution, ClockSample, RunStarted, Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.evidence_sink import EvidenceSink
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.ledger.datasets import register_dataset
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.mmdb import build_test_datasets
from tests.store.factories import SWARM_A, observation


async def _feed_clock_samples(sink: EvidenceSink, samples: list[ClockSample]) -> None:
    """Start the sink's run (its clock watch cancelled), hand it ``samples`` as NTP results, stop it."""
    writer, *rest = await sink.start()
    for task in rest:
        task.cancel()
    for sample in samples:
        sink._clock_sample(sample)
    await sink.stop(writer)


def test_clock_samples_are_sealed_and_warn_once_per_transition(tmp_path: Path) -> None:
    config = MonitorConfig(
        peer_id=b"-SS0100-sinksinksink", ntp_servers=["127.0.0.1:1"], clock_threshold_ms=40.0
    )
    warnings: list[str] = []
    store = open_store(str(tmp_path / "sink.db"), node_key=Ed25519PrivateKey.generate())
    samples = [
        ClockSample("127.0.0.1:1", 1, offset_us=1_000, delay_us=10, stratum=8, leap=0),
        ClockSample("127.0.0.1:1", 2, offset_us=60_000, delay_us=10, stratum=8, leap=0),
        ClockSample("127.0.0.1:1", 3, offset_us=70_000, delay_us=10, stratum=8, leap=0),
        ClockSample("127.0.0.1:1", 4, error="timeout after 2 s"),
        ClockSample("127.0.0.1:1", 5, offset_us=-39_000, delay_us=10, stratum=8, leap=0),
    ]

    try:
        sink = EvidenceSink(store, config, Clock(), warnings.append, software_commit="0" * 40)
        asyncio.run(_feed_clock_samples(sink, samples))
        kinds = [kind for _, kind, _ in load_ledger(store)]
        records = [record_from_canonical(data) for _, _, data in load_ledger(store)]
        assert verify_ledger(store).ok
    finally:
        store.close()
    assert kinds == ["run_started"] + ["clock_sample"] * 5
    started = records[0]
    assert isinstance(started, RunStarted) and started.software_commit == "0" * 40
    settings = json.loads(started.settings_json)
    assert settings["clock_threshold_ms"] == 40.0 and settings["ntp_servers"] == ["127.0.0.1:1"]
    assert records[1:] == samples
    assert len(warnings) == 2, warnings  # one when it went bad (60 ms > 40 ms), one when it recovered
    assert "+60.0 ms exceeds 40 ms" in warnings[0] and "back within" in warnings[1]


def test_each_address_is_attributed_once_per_run_with_dataset_fingerprints(tmp_path: Path) -> None:
    """README "The legal workflow": attribution at observation time, sealed, naming the dataset versions."""
    paths = build_test_datasets(tmp_path / "datasets")
    store = open_store(str(tmp_path / "attr.db"), node_key=Ed25519PrivateKey.generate())
    for kind in ("asn", "city", "hosting"):
        fp = fingerprint(paths[kind], kind if kind == "hosting" else None)
        register_dataset(
            store, name=fp.name, kind=fp.kind, database_type=fp.database_type, build_us=fp.build_us,
            sha256=fp.sha256, size=fp.size, path=str(fp.path), now_us=1,
        )  # fmt: skip
    store.add_swarm(
        infohash=SWARM_A, v1=SWARM_A, v2=None, name="a", num_pieces=4, piece_length=16384,
        total_size=65536, metainfo=None, magnet=None, added_us=1,
    )  # fmt: skip
    config = MonitorConfig(peer_id=b"-SS0100-sinksinksink")
    home = observation(ip="127.0.1.5", tier=Tier.VERIFIED, failure=None)
    hosted = observation(ip="127.0.2.9", tier=Tier.CONNECTED)

    async def run() -> None:
        sink = EvidenceSink(store, config, Clock(), lambda _msg: None)
        writer, *_ = await sink.start()
        assert sink.attributor is not None
        for obs in (home, home, hosted):
            sink.observed(obs)
        await sink.stop(writer)

    try:
        asyncio.run(run())
        records = [record_from_canonical(data) for _, _, data in load_ledger(store)]
        assert verify_ledger(store).ok
    finally:
        store.close()
    attributions = {r.ip: r for r in records if isinstance(r, Attribution)}
    assert set(attributions) == {"127.0.1.5", "127.0.2.9"}  # once per address, not per observation
    broadband, hosting = attributions["127.0.1.5"], attributions["127.0.2.9"]
    assert broadband.asn == 64501 and broadband.as_org == "Test Broadband GmbH" and broadband.city == "Köln"
    assert broadband.observed_at_us == home.started_us and len(broadband.datasets) == 3
    assert hosting.asn == 64502 and hosting.flags == ("hosting",)


def test_reference_pieces_queued_alone_are_committed_at_stop(tmp_path: Path) -> None:
    """The writer does not return at stop while reference pieces (no records) are still queued."""
    from swarmscope.monitor.ledger_writer import LedgerWriter
    from swarmscope.store.ledger.entries import load_reference_pieces

    store = open_store(str(tmp_path / "pieces.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)

    async def run() -> None:
        writer = LedgerWriter(store, run_id, Clock(), flush_interval=30.0)
        task = asyncio.create_task(writer.run())
        writer.add_reference_piece(SWARM_A, 2, b"\x07" * 16384)
        writer.stop()
        await asyncio.wait_for(task, 10)

    try:
        asyncio.run(run())
        assert load_reference_pieces(store, SWARM_A) == {2: b"\x07" * 16384}
    finally:
        store.close()


def test_every_clock_transition_is_its_own_line(tmp_path: Path) -> None:
    """The CLI prints each distinct warning once: a server that recovers twice must say so twice."""
    config = MonitorConfig(peer_id=b"-SS0100-sinksinksink", ntp_servers=["127.0.0.1:1"])
    warnings: list[str] = []
    store = open_store(str(tmp_path / "sink.db"), node_key=Ed25519PrivateKey.generate())
    t0 = 1_796_000_000_000_000  # 2026-11-30T00:53:20Z
    offsets = [2_000_000, 300, 2_000_000, 300]  # skewed 2 s, back, skewed again, back again
    samples = [
        ClockSample("127.0.0.1:1", t0 + i * 64_000_000, offset_us=o, delay_us=10, stratum=8, leap=0)
        for i, o in enumerate(offsets)
    ]

    try:
        asyncio.run(_feed_clock_samples(EvidenceSink(store, config, Clock(), warnings.append), samples))
    finally:
        store.close()
    assert len(warnings) == 4 and len(set(warnings)) == 4, warnings
    assert "+2000.0 ms exceeds 100 ms" in warnings[0] and "2026-11-30T00:53:20" in warnings[0]
    assert "back within the threshold" in warnings[1] and "2026-11-30T00:54:24" in warnings[1]
    assert "back within the threshold" in warnings[3] and "2026-11-30T00:56:32" in warnings[3]
