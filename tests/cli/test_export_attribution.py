"""``swarmscope export`` carries IP attribution: records, dataset fingerprints, view; ``verify`` checks them.

The store holds the attributed world of tests/evidence/test_bundle_attribution.py, committed through
Store.commit_evidence (observations and the Attribution records a real Attributor made over the test MMDB
files and flag lists), with those datasets registered through store.ledger.datasets.register_dataset.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.evidence.bundle import exhibits
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.records import Attribution
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import StoreError, open_store
from swarmscope.store.ledger.datasets import register_dataset
from swarmscope.store.ledger.export import ExportFilters
from tests.cli.test_export import populate
from tests.evidence.test_bundle import T0
from tests.evidence.test_bundle_attribution import (
    BROADBAND_IP,
    HOSTING_IP,
    TOR_IP,
    AttributedWorld,
    make_attributed_world,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))


def make_store(base: Path, aw: AttributedWorld, *, register: bool = True) -> tuple[Path, Path]:
    db = base / "evidence.db"
    key_file = base / "evidence.db.node-key.pem"
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    populate(db, aw.world, KEY)
    if register:
        store = open_store(str(db), node_key=KEY)
        try:
            for f in aw.fingerprints:
                register_dataset(
                    store, name=f.name, kind=f.kind, database_type=f.database_type, build_us=f.build_us,
                    sha256=f.sha256, size=f.size, path=f.path, now_us=T0,
                )  # fmt: skip
        finally:
            store.close()
    return db, key_file


@pytest.fixture(scope="module")
def attributed(tmp_path_factory: pytest.TempPathFactory) -> tuple[AttributedWorld, Path, Path]:
    base = tmp_path_factory.mktemp("attributed")
    aw = make_attributed_world(base / "datasets")
    db, key_file = make_store(base, aw)
    return aw, db, key_file


def verify_text(out: Path) -> tuple[int, str]:
    buffer = StringIO()
    status = run_verify(
        out, expect_key=key_fingerprint(public_key_raw(KEY)), console=Console(file=buffer, width=300)
    )
    return status, buffer.getvalue()


def views(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / exhibits.ATTRIBUTIONS_JSONL).read_text().splitlines()]


def test_export_holds_attribution_and_verifies(
    attributed: tuple[AttributedWorld, Path, Path], tmp_path: Path
) -> None:
    aw, db, key_file = attributed
    out = tmp_path / "bundle"
    console = Console(file=StringIO(), width=300)
    result = run_export(db=str(db), out=out, key_path=key_file, now_us=T0 + 300_000_000, console=console)
    assert result.records == len(aw.world.records)
    assert (result.attributions, result.datasets) == (3, 5)
    assert "IP attribution: 3 records citing 5 datasets" in console.file.getvalue()  # type: ignore[attr-defined]
    status, text = verify_text(out)
    assert status == 0, text
    assert "3 attribution records, 5 dataset fingerprints" in text
    assert [(x["ip"], x["asn"]) for x in views(out)] == [
        (BROADBAND_IP, 64501),
        (HOSTING_IP, 64502),
        (TOR_IP, 64504),
    ]
    datasets = json.loads((out / b.DATASETS).read_text())["datasets"]
    assert {d["sha256"] for d in datasets} == {f.sha256 for f in aw.fingerprints}
    assert all(
        set(d) == {"active", "build", "build_us", "database_type", "kind", "name", "sha256", "size"}
        for d in datasets
    )
    assert all("path" not in d for d in datasets)  # where the operator keeps files is not evidence
    method = json.loads((out / "methodology.json").read_text())["attribution"]
    assert method["records"] == 3 and {d["name"] for d in method["datasets"]} >= {
        "GeoLite2-ASN",
        "GeoLite2-City",
    }
    assert "## IP attribution" in (out / "methodology.md").read_text()


def test_ip_subset_has_only_that_attribution(
    attributed: tuple[AttributedWorld, Path, Path], tmp_path: Path
) -> None:
    _, db, key_file = attributed
    out = tmp_path / "subset"
    run_export(db=str(db), out=out, filters=ExportFilters(ip=HOSTING_IP), key_path=key_file, now_us=T0)
    status, text = verify_text(out)
    assert status == 0, text
    assert [x["ip"] for x in views(out)] == [HOSTING_IP]
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for other in (BROADBAND_IP, TOR_IP):
        assert other.encode() not in blob


def test_filtered_export_takes_the_attributions_of_selected_observations(
    attributed: tuple[AttributedWorld, Path, Path], tmp_path: Path
) -> None:
    """--since after the first observation: only the later observations' addresses are attributed."""
    _, db, key_file = attributed
    out = tmp_path / "since"
    run_export(
        db=str(db), out=out, filters=ExportFilters(since_us=T0 + 15_000_000), key_path=key_file, now_us=T0
    )
    assert verify_text(out)[0] == 0
    assert [x["ip"] for x in views(out)] == [HOSTING_IP, TOR_IP]
    flagged = tmp_path / "unflagged"
    run_export(db=str(db), out=flagged, filters=ExportFilters(exclude_clock_flagged=True), key_path=key_file)
    assert verify_text(flagged)[0] == 0
    assert len(views(flagged)) == 3  # no swarm/address/time filter: every attribution stays


def test_unregistered_dataset_refuses_export(tmp_path: Path) -> None:
    aw = make_attributed_world(tmp_path / "datasets")
    db, key_file = make_store(tmp_path, aw, register=False)
    with pytest.raises(StoreError, match=r"attribution at chain index \d+ cites dataset [0-9a-f]{64}"):
        run_export(db=str(db), out=tmp_path / "x", key_path=key_file)
    assert not (tmp_path / "x").exists()


def test_unknown_dataset_in_bundle_names_the_record(
    attributed: tuple[AttributedWorld, Path, Path], tmp_path: Path
) -> None:
    """datasets.json re-signed without one dataset: verify names every attribution citing it."""
    aw, db, key_file = attributed
    out = tmp_path / "bundle"
    run_export(db=str(db), out=out, key_path=key_file, now_us=T0)
    doc = json.loads((out / b.DATASETS).read_text())
    city = next(d["sha256"] for d in doc["datasets"] if d["kind"] == "city")
    doc["datasets"] = [d for d in doc["datasets"] if d["sha256"] != city]
    (out / b.DATASETS).write_bytes(b.json_bytes(doc))
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    content = {k: v for k, v in files.items() if k not in (b.MANIFEST, b.MANIFEST_SIG)}
    manifest = json.loads(files[b.MANIFEST])
    signed = b.manifest_bytes(
        content, created_us=manifest["created_us"], software_version=manifest["software_version"],
        filters=manifest["filters"], signing_key=manifest["signing_key"],
    )  # fmt: skip
    (out / b.MANIFEST).write_bytes(signed)
    (out / b.MANIFEST_SIG).write_bytes(KEY.sign(signed))
    status, text = verify_text(out)
    assert status == 1
    indices = [i for i, r in enumerate(aw.world.records) if isinstance(r, Attribution)]
    for index in indices:
        assert f"chain index {index} (attribution" in text
    assert city in text
