"""``swarmscope timestamp``: late RFC 3161 tokens for sealed batches, from a real OpenSSL TSA on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.timestamp import run_timestamp
from swarmscope.evidence.records import RunStarted, Sighting
from swarmscope.net.tsa_client import TimestampNotConfiguredError
from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_batches
from swarmscope.testbed.tsa import start_tsa
from tests.store.factories import SWARM_A, T0, add_swarms

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def _store(path: Path, tsa_url: str | None) -> str:
    db = str(path / "stamp.db")
    with open_store(db, node_key=Ed25519PrivateKey.generate()) as store:
        add_swarms(store)
        run_id = store.start_run({"tsa_url": tsa_url}, "0.1.0", T0)
        settings = json.dumps({"tsa_url": tsa_url}, sort_keys=True, separators=(",", ":"))
        for n in range(3):  # three sealed batches, none stamped (the authority was "down")
            records: list[RunStarted | Sighting] = [
                Sighting(SWARM_A, "127.0.1.5", 6881 + n, "tracker", "t", T0)
            ]
            if n == 0:
                records.insert(0, RunStarted(run_id, T0, "0.1.0", None, settings))
            store.commit_evidence(run_id, records=records, sealed_at_us=T0 + n)
    return db


def test_stamps_every_unstamped_batch_with_the_sealed_authority(netns: bool, tmp_path: Path) -> None:
    (tmp_path / "tsa").mkdir()
    tsa = start_tsa(tmp_path / "tsa")
    try:
        db = _store(tmp_path, tsa.url)
        outcome = run_timestamp(db, None)
        assert (outcome.tsa_url, outcome.stamped, outcome.failed) == (tsa.url, 3, [])
        assert run_timestamp(db, None).stamped == 0  # nothing left to stamp
    finally:
        tsa.stop()
    with open_store(db, create=False) as store:
        assert all(len(b.tokens) == 1 and b.tokens[0].tsa_url == tsa.url for b in load_batches(store))


def test_no_authority_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    db = _store(tmp_path, None)
    with pytest.raises(TimestampNotConfiguredError, match="no time-stamp authority configured"):
        run_timestamp(db, None)
    result = CliRunner().invoke(app, ["timestamp", "--db", db])
    assert result.exit_code == 1 and "no time-stamp authority configured" in result.output


def test_an_unreachable_authority_is_reported_per_batch(netns: bool, tmp_path: Path) -> None:
    db = _store(tmp_path, "http://127.0.0.1:9/tsa")
    outcome = run_timestamp(db, None, timeout=2.0)
    assert outcome.stamped == 0 and len(outcome.failed) == 3
    assert all("127.0.0.1:9" in line for line in outcome.failed)
    result = CliRunner().invoke(app, ["timestamp", "--db", db, "--timeout", "2"])
    assert result.exit_code == 1 and "not stamped" in result.output
