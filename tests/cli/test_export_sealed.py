"""``swarmscope export`` review findings: sealed clock threshold, damaged ledgers, keys, empty selections.

Stores are populated with the world of tests/evidence/test_bundle.py (real captures, three sealed batches),
its run record re-sealed with the settings each test needs.
"""

from __future__ import annotations

import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.errors import InputError
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import StoreError, open_store
from swarmscope.store.ledger.export import ExportFilters
from swarmscope.store.ledger.node_key import default_key_path
from tests.cli.test_export import populate
from tests.evidence.test_bundle import T0, make_world
from tests.evidence.test_bundle_sealed import with_settings

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
WORLD40 = with_settings(make_world(), clock_threshold_ms=40, ntp_servers=["127.0.0.53:123"])


def fingerprint(key: Ed25519PrivateKey) -> str:
    return key_fingerprint(public_key_raw(key))


def make_store(base: Path, key: Ed25519PrivateKey = KEY) -> tuple[Path, Path]:
    db = base / "evidence.db"
    key_file = Path(default_key_path(str(db)))
    key_file.write_bytes(private_key_pem(key))
    key_file.chmod(0o600)
    populate(db, WORLD40, key)
    return db, key_file


def text_console() -> tuple[Console, StringIO]:
    buffer = StringIO()
    return Console(file=buffer, width=300, highlight=False), buffer


def test_threshold_defaults_to_the_sealed_one_and_only_gets_stricter(tmp_path: Path) -> None:
    db, key_file = make_store(tmp_path)
    out = tmp_path / "b"
    run_export(db=str(db), out=out, key_path=key_file)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["filters"]["clock_threshold_us"] == 40_000
    assert run_verify(out, console=text_console()[0]) == 0
    with pytest.raises(InputError, match=r"--clock-threshold-ms 100: looser than the 40 ms sealed"):
        run_export(
            db=str(db),
            out=tmp_path / "c",
            key_path=key_file,
            filters=ExportFilters(clock_threshold_us=100_000),
        )
    run_export(
        db=str(db), out=tmp_path / "d", key_path=key_file, filters=ExportFilters(clock_threshold_us=20_000)
    )
    doc = json.loads((tmp_path / "d" / "methodology.json").read_text())
    assert doc["clock"]["threshold_us"] == 20_000 and "stricter" in doc["clock"]["threshold_source"]
    assert run_verify(tmp_path / "d", console=text_console()[0]) == 0


def test_damaged_ledger_is_not_exported(tmp_path: Path) -> None:
    """M1: the export verifies the whole ledger first and refuses, naming the problem."""
    db, key_file = make_store(tmp_path)
    raw = sqlite3.connect(db)
    try:
        with raw:
            raw.execute("DROP TRIGGER observation_append_only_update")
            raw.execute("UPDATE observation SET port = 1 WHERE id = 1")
    finally:
        raw.close()
    with pytest.raises(StoreError, match=r"does not verify, refusing to export: index \d+: row altered"):
        run_export(db=str(db), out=tmp_path / "x", key_path=key_file)
    assert not (tmp_path / "x").exists()


def test_key_file_errors(tmp_path: Path) -> None:
    db, key_file = make_store(tmp_path)
    key_file.rename(tmp_path / "elsewhere.pem")
    with pytest.raises(InputError) as missing:
        run_export(db=str(db), out=tmp_path / "x")
    assert fingerprint(KEY) in str(missing.value) and "--node-key" in str(missing.value)
    corrupt = tmp_path / "corrupt.pem"
    corrupt.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    corrupt.chmod(0o600)
    with pytest.raises(InputError) as bad:
        run_export(db=str(db), out=tmp_path / "x", key_path=corrupt)
    message = str(bad.value)
    assert "corrupt" in message and "http" not in message and "Malformed" not in message
    wide = tmp_path / "elsewhere.pem"
    wide.chmod(0o644)
    with pytest.raises(InputError, match="permissions 0644"):
        run_export(db=str(db), out=tmp_path / "x", key_path=wide)


def test_zero_matches_and_other_signers(tmp_path: Path) -> None:
    db, key_file = make_store(tmp_path)
    with open_store(str(db), node_key=OTHER, now_us=T0) as other:
        run = other.start_run({}, "0.1.0", T0)
        observation = next(r for r in WORLD40.records if isinstance(r, Observation))
        other.add_observations(run, [observation], sealed_at_us=T0 + 1)
    console, buffer = text_console()
    result = run_export(
        db=str(db),
        out=tmp_path / "b",
        key_path=key_file,
        filters=ExportFilters(ip="192.0.2.99"),
        console=console,
    )
    text = buffer.getvalue()
    assert result.observations == 0 and "0 observations matched" in text
    assert (
        result.other_signers == (fingerprint(OTHER),)
        and f"left out: evidence signed by node {fingerprint(OTHER)}" in text
    )
    assert run_verify(tmp_path / "b", console=text_console()[0]) == 0


def test_verify_option_errors_exit_2(tmp_path: Path) -> None:
    register_commands()
    runner = CliRunner()
    bad_key = runner.invoke(app, ["verify", str(tmp_path), "--expect-key", "abc"])
    assert bad_key.exit_code == 2 and "64 hex digits" in bad_key.output
    junk = tmp_path / "root.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    bad_root = runner.invoke(app, ["verify", str(tmp_path), "--tsa-root", str(junk)])
    assert bad_root.exit_code == 2 and "not an X.509 certificate" in bad_root.output
    assert "http" not in bad_root.output and "Malformed" not in bad_root.output
