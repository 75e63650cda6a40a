"""End to end: court-grade evidence from a real swarm, checked by an independent verifier.

Real parts only, on loopback inside the private network namespace: libtorrent 2.1.1 peers, aria2 and
opentracker (``swarmscope.testbed``), a real chronyd NTP server (and a deliberately skewed one), and
OpenSSL's RFC 3161 time-stamp authority. The monitor runs as the real CLI with a reference copy of the
work (block proofs), the NTP server and the TSA; its store is exported to a bundle that ``swarmscope
verify`` must accept, and that must fail, naming the file, when any single byte of any file is flipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent")

from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.recording import replay
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.records import Tier
from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_blob, load_capture, load_ledger
from swarmscope.store.ledger.export import ExportFilters
from swarmscope.store.ledger.queries import load_observations
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.chrony import start_chrony, start_skewed_chrony
from swarmscope.testbed.swarm import Swarm, start_swarm
from swarmscope.testbed.tsa import start_tsa
from swarmscope.wire.metainfo import parse_metainfo
from tests.e2e.monitor_cli import monitor_command, run_monitor

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

MONITOR_IP = "127.0.0.1"
DURATION = 25.0


def _monitor(swarm: Swarm, db: Path, key: Path, *extra: str, duration: float = DURATION) -> None:
    command = monitor_command(swarm.torrent_path, db, MONITOR_IP, duration, "--node-key", str(key), *extra)
    run_monitor(command, duration + 120)


def _verdict(bundle: Path) -> tuple[int, dict[str, Any]]:
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    status = run_verify(bundle, as_json=True, console=Console(file=out, width=400))
    return status, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def world(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real swarm monitored with a reference copy, a real NTP server and a real TSA; then exported."""
    workdir = tmp_path_factory.mktemp("court")
    db, key = workdir / "evidence.db", workdir / "node.pem"
    with start_swarm(workdir, monitor_ip=MONITOR_IP) as swarm:
        ntp = start_chrony("127.0.0.3")
        (workdir / "tsa").mkdir()
        tsa = start_tsa(workdir / "tsa")
        try:
            reference = swarm.content.data_dir / swarm.content.name
            _monitor(
                swarm, db, key,
                "--ntp-server", ntp.server, "--ntp-interval", "5",
                "--tsa-url", tsa.url, "--reference", str(reference),
            )  # fmt: skip
        finally:
            tsa.stop()
            ntp.stop()
        bundle = workdir / "bundle"
        run_export(db=str(db), out=bundle, key_path=key)
        yield {"swarm": swarm, "db": db, "key": key, "bundle": bundle, "workdir": workdir}


def test_bundle_from_a_real_swarm_verifies(world: dict[str, Any]) -> None:
    status, verdict = _verdict(world["bundle"])
    assert status == 0, json.dumps(verdict, indent=1)[:4000]
    files = {p.relative_to(world["bundle"]).as_posix() for p in world["bundle"].rglob("*") if p.is_file()}
    assert any(f.startswith("captures/") for f in files)
    assert any(f.startswith("records/timestamps/") for f in files), "every sealed batch got an RFC 3161 token"
    assert any(f.startswith("pieces/") for f in files), "reference pieces backing block proofs are bundled"
    clock = [json.loads(line) for line in (world["bundle"] / "records/clock.jsonl").read_text().splitlines()]
    assert clock and all(c["error"] is None and abs(c["offset_us"]) < 50_000 for c in clock)


def test_every_observation_replays_from_its_capture(world: dict[str, Any]) -> None:
    """Independently of verify: each stored observation equals the replay of its stored capture."""
    with open_store(str(world["db"]), create=False) as store:
        observations = load_observations(store)
        meta = parse_metainfo(world["swarm"].torrent_path.read_bytes())
        pieces = MetainfoPieces(meta)
        probed = [o for o in observations if o.started_us != o.ended_us or o.tier > Tier.LISTED]
        assert probed
        for obs in observations:
            assert obs.capture_sha256 is not None, f"{obs.ip}:{obs.port} has no capture"
            data = load_capture(store, obs.capture_sha256)
            assert data is not None
            again = replay(data, pieces, lambda h, s=store: load_blob(s, h))
            assert canonical_bytes(again) == canonical_bytes(obs), f"{obs.ip}:{obs.port}"
        assert verify_ledger(store).ok


def test_block_proofs_and_the_corrupt_peer(world: dict[str, Any]) -> None:
    swarm: Swarm = world["swarm"]
    corrupt = swarm.peer("corrupt")
    with open_store(str(world["db"]), create=False) as store:
        observations = load_observations(store)
    by_block = [o for o in observations if o.verified_blocks]
    assert by_block, "with a reference copy, peers are verified by a single 16 KiB block"
    for obs in by_block:
        assert obs.tier is Tier.VERIFIED
        assert obs.bytes_received == sum(b.length for b in obs.verified_blocks)  # one block, nothing more
    bad = [o for o in observations if (o.ip, o.port) == (corrupt.ip, corrupt.port)]
    assert bad, "the corrupt peer was probed"
    for obs in bad:
        assert obs.tier is not Tier.VERIFIED and not obs.verified_blocks and not obs.verified_pieces
    assert any(o.failed_blocks or o.failed_pieces for o in bad)


def test_flipping_any_byte_of_any_file_fails_and_names_it(world: dict[str, Any]) -> None:
    bundle: Path = world["bundle"]
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    assert len(files) < 400  # bounded loop
    for path in files:
        original = path.read_bytes()
        if not original:  # an empty view (e.g. no attributions without datasets) has no byte to flip
            continue
        position = len(original) // 2
        flipped = bytearray(original)
        flipped[position] ^= 0x01
        path.write_bytes(bytes(flipped))
        try:
            status, verdict = _verdict(bundle)
        finally:
            path.write_bytes(original)
        name = path.relative_to(bundle).as_posix()
        assert status == 1, f"flip in {name} went unnoticed"
        named = {p.get("file") for p in verdict["problems"]}
        assert name in named, f"{name}: problems name {sorted(f for f in named if f)[:5]}"
    assert _verdict(bundle)[0] == 0


def test_skewed_clock_flags_observations(world: dict[str, Any]) -> None:
    """Against a server 0.5 s off, every observation of that run is flagged; the option excludes them."""
    swarm: Swarm = world["swarm"]
    db, key, workdir = world["db"], world["key"], world["workdir"]
    skewed = start_skewed_chrony(0.5, "127.0.0.4")
    try:
        _monitor(swarm, db, key, "--ntp-server", skewed.server, "--ntp-interval", "3", duration=12.0)
    finally:
        skewed.stop()
    bundle = workdir / "bundle-skewed"
    run_export(db=str(db), out=bundle, key_path=key)
    assert _verdict(bundle)[0] == 0
    rows = [json.loads(line) for line in (bundle / "records/observations.jsonl").read_text().splitlines()]
    with open_store(str(db), create=False) as store:
        runs = sorted({kind for _, kind, _ in load_ledger(store)})
    assert "clock_sample" in runs
    flagged = [r for r in rows if r["clock_flagged"]]
    assert flagged, "observations taken while the clock was 0.5 s off are flagged"
    clean = workdir / "bundle-clean"
    run_export(db=str(db), out=clean, key_path=key, filters=ExportFilters(exclude_clock_flagged=True))
    assert _verdict(clean)[0] == 0
    kept = [json.loads(line) for line in (clean / "records/observations.jsonl").read_text().splitlines()]
    assert kept and not any(r["clock_flagged"] for r in kept)
    assert len(kept) < len(rows)
