"""``swarmscope export`` says on stderr what matched but was left out, one line per reason, and exits 0.

The store is the world of tests/evidence/test_bundle.py (real captures, sealed batches) plus rows written
with no ledger entry, as a pre-ledger version or a hand edit leaves them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.verify import run_verify
from swarmscope.evidence.records import Attribution, Observation, Sighting
from swarmscope.evidence.seal import private_key_pem
from swarmscope.store.database import open_store
from swarmscope.store.ledger import export as ledger_export
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.schema import observation, sighting
from tests.cli.test_export import WORLD, populate, quiet
from tests.evidence.test_bundle import SEED_IP, T0
from tests.tampering import append_unsealed

register_commands()

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
STRAY_IP = "192.0.2.77"
UNRECOVERED = "without a ledger entry, not yet checked by crash recovery (never sealed)"
QUARANTINED = (
    "quarantined by crash recovery (no ledger entry: written unsealed (before 0002 or half-written))"
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The world, sealed, plus an unlinked observation and sighting of STRAY_IP."""
    path = tmp_path / "evidence.db"
    key_file = Path(default_key_path(str(path)))
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    populate(path, WORLD, KEY)
    first = next(r for r in WORLD.records if isinstance(r, Observation))
    seen = next(r for r in WORLD.records if isinstance(r, Sighting))
    with open_store(str(path)) as store, store.engine.begin() as conn:
        row = writer.observation_row(1, dataclasses.replace(first, ip=STRAY_IP), (None, None))
        writer.insert_many(conn, observation, [row])
        writer.insert_many(
            conn, sighting, [writer.sighting_row(1, dataclasses.replace(seen, ip=STRAY_IP), (None, None))]
        )
    return path


def export(db: Path, out: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--out", str(out), *args])
    return result.exit_code, result.stdout, result.stderr


def left_out(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("left out:")]


def test_rows_without_a_ledger_entry_are_counted_before_and_after_recovery(db: Path, tmp_path: Path) -> None:
    code, out, err = export(db, tmp_path / "before")
    assert code == 0, err
    assert left_out(err) == [
        f"left out: 1 observation rows {UNRECOVERED}",
        f"left out: 1 sighting rows {UNRECOVERED}",
    ]
    assert "left out" not in out and STRAY_IP not in out
    assert run_verify(tmp_path / "before", console=quiet()) == 0
    bundle = b"".join(p.read_bytes() for p in (tmp_path / "before").rglob("*") if p.is_file())
    assert STRAY_IP.encode() not in bundle
    open_store(str(db), node_key=KEY, now_us=T0 + 400_000_000).close()  # a writer: recovery quarantines
    code, _, err = export(db, tmp_path / "after")
    assert code == 0, err
    assert left_out(err) == [
        f"left out: 1 observation rows {QUARANTINED}",
        f"left out: 1 sighting rows {QUARANTINED}",
    ]


def test_only_rows_matching_the_filters_are_counted(db: Path, tmp_path: Path) -> None:
    code, _, err = export(db, tmp_path / "seed", "--ip", SEED_IP)
    assert code == 0, err
    assert left_out(err) == []
    code, _, err = export(db, tmp_path / "stray", "--ip", STRAY_IP)
    assert code == 0, err
    assert len(left_out(err)) == 2
    code, _, err = export(db, tmp_path / "later", "--since", "2099-01-01T00:00:00Z")
    assert code == 0 and left_out(err) == []


def test_clock_flagged_observations_are_counted(db: Path, tmp_path: Path) -> None:
    code, _, err = export(db, tmp_path / "b", "--exclude-clock-flagged", "--ip", SEED_IP)
    assert code == 0, err
    assert left_out(err) == []
    code, _, err = export(db, tmp_path / "c", "--exclude-clock-flagged")
    assert code == 0, err
    assert (
        "left out: 1 observations that started in a clock flag window (default policy, 100 ms)"
        in left_out(err)
    )


def _late_world(tmp_path: Path) -> Path:
    """The world, plus an attribution of STRAY_IP a database writer appended unsealed (hashes need no key),
    sealed late by the next writer open."""
    path = tmp_path / "late.db"
    key_file = Path(default_key_path(str(path)))
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    populate(path, WORLD, KEY)
    forged = Attribution(STRAY_IP, T0, 64500, "AS64500 org", None, "DE")
    with open_store(str(path), node_key=KEY, now_us=T0 + 400_000_000) as store:
        append_unsealed(store, 1, [forged])
    open_store(str(path), node_key=KEY, now_us=T0 + 400_000_000).close()  # a writer: recovery seals late
    return path


def test_records_sealed_late_by_recovery_stay_out_of_the_bundle(tmp_path: Path) -> None:
    code, _, err = export(_late_world(tmp_path), tmp_path / "bundle")
    assert code == 0, err
    assert left_out(err) == [
        "left out: 1 records sealed late by recovery: not evidence (their batch's signed bytes say so)"
    ]
    bundle = b"".join(p.read_bytes() for p in (tmp_path / "bundle").rglob("*") if p.is_file())
    assert STRAY_IP.encode() not in bundle
    assert run_verify(tmp_path / "bundle", console=quiet()) == 0


def test_a_bundle_disclosing_a_record_sealed_late_fails_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an export by a version that still took late seals for proof would write it."""
    db = _late_world(tmp_path)
    monkeypatch.setattr(ledger_export, "_late_spans", lambda _store, _node: [], raising=False)
    code, _, err = export(db, tmp_path / "bundle")
    assert code == 0, err
    out = tmp_path / "verdict.txt"
    with out.open("w") as f:
        assert run_verify(tmp_path / "bundle", console=Console(file=f, width=300)) == 1
    text = out.read_text()
    assert "record sealed late by recovery: not evidence" in text
    assert "entries sealed late by recovery: not evidence (hashes only)" in text
