"""IP attribution in export bundles: attribution records, dataset fingerprints, view, methodology, verify.

The attributed world: the probes of tests/evidence/test_bundle.py run against peers on 127.0.1.10
(Test Broadband, no flag), 127.0.2.20 (Test Hosting, hosting list) and 127.0.4.4 (Test Relay, tor list),
each attributed once at its observation time by a real Attributor over the test MMDB files and flag lists
(swarmscope.testbed.mmdb), and sealed with the rest of the ledger.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from swarmscope.attribution.datasets import Fingerprint, fingerprint
from swarmscope.attribution.lookup import Attributor
from swarmscope.evidence.bundle import exhibits, methodology
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.datasets import dataset_json, parse_datasets
from swarmscope.evidence.bundle.verify import Verdict, verify_bundle
from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.records import (
    Attribution,
    BlockProof,
    ClockSample,
    Observation,
    RunStarted,
    Sighting,
)
from swarmscope.testbed.mmdb import build_test_datasets
from swarmscope.wire.metainfo import parse_metainfo
from tests.evidence.fakepeer import FakePeer, Pieces, bitfield, ext_handshake
from tests.evidence.test_bundle import NTP, T0, World, captured_probe, content_of, seal_ledger, torrent_of

BROADBAND_IP, HOSTING_IP, TOR_IP = "127.0.1.10", "127.0.2.20", "127.0.4.4"


@dataclass
class AttributedWorld:
    """The world, its dataset fingerprints (as registered) and the datasets.json entries."""

    world: World
    fingerprints: list[Fingerprint]
    datasets: tuple[dict[str, object], ...]


def dataset_entry(f: Fingerprint) -> dict[str, object]:
    return dataset_json(
        name=f.name, kind=f.kind, database_type=f.database_type, build_us=f.build_us,
        sha256=f.sha256, size=f.size, active=True,
    )  # fmt: skip


def test_datasets(directory: Path) -> list[Fingerprint]:
    """Build the test MMDBs and flag lists in ``directory`` and fingerprint them."""
    paths = build_test_datasets(directory)
    return [fingerprint(path, kind) for kind, path in sorted(paths.items())]


test_datasets.__test__ = False  # type: ignore[attr-defined]


def attributed_records(
    infohash: str, observations: list[Observation], attributor: Attributor
) -> list[EvidenceRecord]:
    """Run, clock samples (one skewed stretch), sightings, each observation followed by its attribution."""
    settings = json.dumps({"clock_servers": [NTP]}, sort_keys=True, separators=(",", ":"))
    records: list[EvidenceRecord] = [RunStarted(1, T0, "0.1.0", "abc1234", settings)]
    records.append(ClockSample(NTP, T0 + 1_000_000, 2_000, 500, 2, 0))
    announce = "http://127.0.0.1:6969/announce"
    records += [Sighting(infohash, o.ip, 6881, "tracker", announce, T0 + 5_000_000) for o in observations]
    for n, o in enumerate(observations):
        if n == 2:
            records.append(ClockSample(NTP, T0 + 60_000_000, 250_000, 500, 2, 0))
        records += [o, attributor.attribute(o.ip, o.started_us)]
    records.append(ClockSample(NTP, T0 + 90_000_000, 1_000, 500, 2, 0))
    return records


def make_attributed_world(directory: Path) -> AttributedWorld:
    """Build the attributed world (deterministic records; datasets built in ``directory``)."""
    pieces = Pieces(n=4, last=5000)
    torrent = torrent_of(pieces)
    meta = MetainfoPieces(parse_metainfo(torrent))
    ih, n = meta.meta.wire_infohash, pieces.num_pieces
    proof = BlockProof(1, 0, 16384, hashlib.sha256(pieces.data[1][:16384]).digest())
    seed = FakePeer(pieces, infohash=ih, opening=bitfield(n, set(range(n))) + ext_handshake())
    block = FakePeer(pieces, infohash=ih, opening=bitfield(n, {1, 2}))
    choke = FakePeer(pieces, infohash=ih, opening=bitfield(n, {0}), unchoke_on_interested=False)
    found = [
        captured_probe(meta, seed, BROADBAND_IP, T0 + 10_000_000),
        captured_probe(meta, block, HOSTING_IP, T0 + 20_000_000, (proof,)),
        captured_probe(meta, choke, TOR_IP, T0 + 70_000_000),
    ]
    fingerprints = test_datasets(directory)
    with Attributor.open(fingerprints) as attributor:
        records = attributed_records(meta.meta.swarm_id.hex, [p.observation for p in found], attributor)
    entries, batches = seal_ledger(records)
    world = World(
        torrent, meta.meta.swarm_id.hex, pieces, records, entries, batches,
        {p.capture.sha256: p.capture.data for p in found},
        {sha: data for p in found for sha, data in p.capture.blobs.items()},
        {(meta.meta.swarm_id.hex, 1): pieces.data[1]},
    )  # fmt: skip
    return AttributedWorld(
        world, fingerprints, tuple(dataset_entry(f) for f in sorted(fingerprints, key=lambda f: f.sha256))
    )


ATTRIBUTED = make_attributed_world(Path(tempfile.mkdtemp(prefix="swarmscope-attr-")))


def build_attributed(
    aw: AttributedWorld = ATTRIBUTED,
    keep: set[int] | None = None,
    datasets: tuple[dict[str, object], ...] | None = None,
) -> dict[str, bytes]:
    content = replace(content_of(aw.world, keep), datasets=aw.datasets if datasets is None else datasets)
    return b.build_bundle(
        content, private_key=aw.world.key, created_us=T0 + 200_000_000, software_version="0.1.0"
    )


FILES = build_attributed()


def attribution_problems(verdict: Verdict) -> list[str]:
    return [p.record.label() for p in verdict.problems if p.check == "attribution" and p.record is not None]


def reseal(aw: AttributedWorld, records: list[EvidenceRecord]) -> AttributedWorld:
    entries, batches = seal_ledger(records)
    return replace(aw, world=replace(aw.world, records=records, entries=entries, batches=batches))


def test_world_attributions_are_real() -> None:
    attributions = [r for r in ATTRIBUTED.world.records if isinstance(r, Attribution)]
    by_ip = {a.ip: a for a in attributions}
    assert set(by_ip) == {BROADBAND_IP, HOSTING_IP, TOR_IP}
    assert (by_ip[BROADBAND_IP].asn, by_ip[BROADBAND_IP].city, by_ip[BROADBAND_IP].flags) == (
        64501,
        "Köln",
        (),
    )
    assert by_ip[HOSTING_IP].flags == ("hosting",) and by_ip[TOR_IP].flags == ("tor",)
    shas = {f.sha256 for f in ATTRIBUTED.fingerprints}
    assert all(set(a.datasets) == shas for a in attributions) and len(shas) == 5


def test_bundle_verifies_with_attribution() -> None:
    verdict = verify_bundle(FILES)
    assert verdict.problems == () and verdict.ok
    check = next(c for c in verdict.checks if c.name == "attribution")
    assert check.ok and check.detail.startswith("3 attribution records, 5 dataset fingerprints")


def test_datasets_json_describes_every_cited_dataset() -> None:
    doc = json.loads(FILES[b.DATASETS])
    assert "note" not in doc
    by_kind = {d["kind"]: d for d in doc["datasets"]}
    assert set(by_kind) == {"asn", "city", "hosting", "vpn", "tor"}
    asn = by_kind["asn"]
    assert (asn["name"], asn["database_type"], asn["build"]) == (
        "GeoLite2-ASN",
        "GeoLite2-ASN",
        "2026-01-01T00:00:00.000000Z",
    )
    assert [d["sha256"] for d in doc["datasets"]] == sorted(d["sha256"] for d in doc["datasets"])
    assert parse_datasets(FILES[b.DATASETS]) == (doc["datasets"], [])


def test_attributions_view() -> None:
    lines = [json.loads(line) for line in FILES[exhibits.ATTRIBUTIONS_JSONL].splitlines()]
    assert [(x["ip"], x["asn"], x["flags"]) for x in lines] == [
        (BROADBAND_IP, 64501, []), (HOSTING_IP, 64502, ["hosting"]), (TOR_IP, 64504, ["tor"])
    ]  # fmt: skip
    first = lines[0]
    assert first["as_org"] == "Test Broadband GmbH" and first["country"] == "DE"
    assert first["region"] and first["accuracy_radius_km"] == 20 and first["geolocation_advisory"] is True
    assert first["observed_at"].endswith("Z") and len(first["datasets"]) == 5
    assert first["record_sha256"] == ATTRIBUTED.world.entries[first["chain_index"]].record_hash.hex()


def test_methodology_states_attribution() -> None:
    doc = json.loads(FILES[methodology.METHODOLOGY_JSON])
    section = doc["attribution"]
    assert doc["version"] == 3 and section["records"] == 3 and section["addresses"] == 3
    assert "advisory" in section["geolocation"] and "once per monitor run" in section["timing"]
    assert {d["name"]: d["build"] for d in section["datasets"]}[
        "GeoLite2-City"
    ] == "2026-01-01T00:00:00.000000Z"
    assert all(d["cited_by"] == 3 for d in section["datasets"])
    assert [s["name"] for s in section["flags"]["tor"]["sources"]] == ["tor.txt"]
    assert (
        section["flags"]["hosting"]["flagged_records"] == 1
        and section["flags"]["vpn"]["flagged_records"] == 0
    )
    text = FILES[methodology.METHODOLOGY_MD].decode()
    assert "## IP attribution" in text and "Geolocation is advisory" in text
    tor_sha = next(d["sha256"] for d in section["datasets"] if d["kind"] == "tor")
    assert "**tor**: address in a 'tor' list file" in text and tor_sha in text


def test_unknown_dataset_sha256_names_the_record() -> None:
    records = list(ATTRIBUTED.world.records)
    index = next(i for i, r in enumerate(records) if isinstance(r, Attribution) and r.ip == HOSTING_IP)
    hosting = records[index]
    assert isinstance(hosting, Attribution)
    records[index] = replace(hosting, datasets=tuple(sorted((*hosting.datasets, "ee" * 32))))
    verdict = verify_bundle(build_attributed(reseal(ATTRIBUTED, records)))
    assert not verdict.ok
    labels = attribution_problems(verdict)
    assert labels == [f"chain index {index} (attribution {HOSTING_IP})"]
    problem = next(p for p in verdict.problems if p.check == "attribution")
    assert problem.file == b.DATASETS and "ee" * 32 in problem.message


def test_dataset_left_out_of_datasets_json_names_every_citing_record() -> None:
    tor = next(d for d in ATTRIBUTED.datasets if d["kind"] == "tor")
    files = build_attributed(datasets=tuple(d for d in ATTRIBUTED.datasets if d is not tor))
    verdict = verify_bundle(files)
    assert not verdict.ok and len(attribution_problems(verdict)) == 3


def test_flag_without_a_source_is_a_problem() -> None:
    records = list(ATTRIBUTED.world.records)
    index = next(i for i, r in enumerate(records) if isinstance(r, Attribution) and r.ip == BROADBAND_IP)
    a = records[index]
    assert isinstance(a, Attribution)
    vpn = next(f.sha256 for f in ATTRIBUTED.fingerprints if f.kind == "vpn")
    records[index] = replace(a, flags=("vpn",), datasets=tuple(s for s in a.datasets if s != vpn))
    verdict = verify_bundle(build_attributed(reseal(ATTRIBUTED, records)))
    assert attribution_problems(verdict) == [f"chain index {index} (attribution {BROADBAND_IP})"]


def test_ip_subset_holds_only_that_address() -> None:
    """Only the selected observation's attribution is disclosed; the rest stay chain hashes."""
    keep = {i for i, r in enumerate(ATTRIBUTED.world.records) if getattr(r, "ip", HOSTING_IP) == HOSTING_IP}
    files = build_attributed(keep=keep)
    assert verify_bundle(files).ok
    lines = [json.loads(line) for line in files[exhibits.ATTRIBUTIONS_JSONL].splitlines()]
    assert [x["ip"] for x in lines] == [HOSTING_IP]


def test_old_bundle_without_attribution_view_still_verifies() -> None:
    from tests.evidence.test_bundle import build, make_world

    files = build(make_world())
    assert files[exhibits.ATTRIBUTIONS_JSONL] == b""
    content = {
        p: d for p, d in files.items() if p not in (b.MANIFEST, b.MANIFEST_SIG, exhibits.ATTRIBUTIONS_JSONL)
    }
    manifest = json.loads(files[b.MANIFEST])
    signed = b.manifest_bytes(
        content, created_us=manifest["created_us"], software_version=manifest["software_version"],
        filters=manifest["filters"], signing_key=manifest["signing_key"],
    )  # fmt: skip
    key = ATTRIBUTED.world.key
    assert verify_bundle({**content, b.MANIFEST: signed, b.MANIFEST_SIG: key.sign(signed)}).ok
    missing = {p: d for p, d in FILES.items() if p != exhibits.ATTRIBUTIONS_JSONL}
    verdict = verify_bundle(missing)
    assert any(p.file == exhibits.ATTRIBUTIONS_JSONL and p.check == "views" for p in verdict.problems)


@pytest.mark.parametrize(
    "bad",
    [
        b"[]",
        b"[" * 100_000,
        b'{"datasets": {}}',
        b'{"datasets": [{"sha256": "ab"}]}',
        json.dumps({"datasets": [dict(ATTRIBUTED.datasets[0], size=-1)]}).encode(),
        json.dumps({"datasets": [dict(ATTRIBUTED.datasets[0], build="yesterday")]}).encode(),
        json.dumps({"datasets": [ATTRIBUTED.datasets[0], ATTRIBUTED.datasets[0]]}).encode(),
        json.dumps({"datasets": list(reversed(ATTRIBUTED.datasets))}).encode(),
    ],
)
def test_malformed_datasets_json_is_named(bad: bytes) -> None:
    _entries, problems = parse_datasets(bad)
    assert problems
    verdict = verify_bundle({**FILES, b.DATASETS: bad})
    assert any(p.check == "attribution" and p.file == b.DATASETS for p in verdict.problems)


def test_datasets_json_every_truncation_and_trailing_bytes() -> None:
    """Whole file parses clean; every truncation and trailing garbage gives a defect, never an exception."""
    data = FILES[b.DATASETS]
    assert parse_datasets(data)[1] == []
    for cut in range(len(data.rstrip())):
        assert parse_datasets(data[:cut])[1], cut
    assert parse_datasets(data + b"x")[1]
