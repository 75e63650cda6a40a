"""``swarmscope report`` proves each sealed row against the ledger under a trusted node key: a row edited
after sealing (append-only triggers dropped) is shown as ``altered``, apart and never counted; without any
trusted key sealed rows are ``unchecked``, never called sealed evidence."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import Tier
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.store.factories import T0, add_swarms
from tests.store.factories import observation as make_observation
from tests.store.factories import sighting as make_sighting

register_commands()

S = 1_000_000  # microseconds per second


def report(db: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else [], result.stderr


def tamper(db: Path, *statements: str) -> None:
    """Drop the append-only triggers and run ``statements``, as someone with write access to the file."""
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, str]:
    """Sealed: 127.0.0.2 verified for piece 0; 127.0.0.14 an empty leecher (connected, failure
    ``no_pieces``); a sighting of 127.0.0.66. Returns (database, node key fingerprint)."""
    db = tmp_path / "sealed.db"
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        add_swarms(store)
        run = store.start_run({}, "0.1.0", T0)
        hits = [
            make_observation(ip="127.0.0.2", tier=Tier.VERIFIED, failure=None, verified_pieces=(0,)),
            make_observation(ip="127.0.0.14", failure="no_pieces"),
        ]
        store.add_observations(run, hits, sealed_at_us=T0 + S)
        store.add_sightings(run, [make_sighting(ip="127.0.0.66")], sealed_at_us=T0 + S)
    return db, key_fingerprint(public_key_raw(key))


def test_a_row_edited_after_sealing_is_altered_never_sealed(sealed: tuple[Path, str]) -> None:
    db, _ = sealed
    tamper(
        db,
        "UPDATE observation SET tier = 'verified', failure = NULL, verified_pieces = '[5]' "
        "WHERE ip = '127.0.0.14'",
        "UPDATE sighting SET port = 7000 WHERE ip = '127.0.0.66'",
    )
    code, rows, err = report(db)
    assert code == 0, err
    found = {(r["ip"], r["port"]): (r["tier"], r["evidence"], r["clock"]) for r in rows}
    assert found == {
        ("127.0.0.2", 6881): ("verified", "sealed", "unmeasured"),
        ("127.0.0.14", 6881): ("altered", "altered", None),
        ("127.0.0.66", 7000): ("altered", "altered", None),
    }
    assert "observation 2 (ledger index" in err and "127.0.0.14:6881: row altered" in err
    assert "sighting 1 (ledger index" in err and "127.0.0.66:7000: row altered" in err
    result = CliRunner().invoke(app, ["report", "--db", str(db)], env={"COLUMNS": "240"})
    caption = " ".join(result.stdout.split())
    assert "1 addresses: 1 verified, 0 has_pieces, 0 connected, 0 listed" in caption
    assert "2 with rows ALTERED since they were sealed" in caption


def test_without_a_trusted_key_sealed_rows_are_unchecked(sealed: tuple[Path, str]) -> None:
    db, fingerprint = sealed
    key_file = default_key_path(str(db))
    key_file.rename(db.parent / "elsewhere.pem")
    tamper(db, "UPDATE observation SET tier = 'verified', verified_pieces = '[5]' WHERE ip = '127.0.0.14'")
    code, rows, err = report(db)
    assert code == 0, err
    assert {r["evidence"] for r in rows} == {"unchecked"}  # nothing is called sealed evidence unproven
    assert "no trusted node key" in err and "'unchecked'" in err
    code, rows, err = report(db, "--trust-key", fingerprint)  # the fingerprint alone proves them
    assert code == 0, err
    assert {r["ip"]: r["evidence"] for r in rows} == {
        "127.0.0.2": "sealed",
        "127.0.0.14": "altered",
        "127.0.0.66": "sealed",
    }
    code, rows, err = report(db, "--node-key", str(db.parent / "elsewhere.pem"))
    assert code == 0 and {r["ip"]: r["evidence"] for r in rows}["127.0.0.14"] == "altered"


def test_a_key_that_did_not_seal_proves_nothing(sealed: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = sealed
    other = load_or_create_node_key(tmp_path / "other.pem")
    code, rows, err = report(db, "--trust-key", key_fingerprint(public_key_raw(other)))
    assert code == 0
    assert {r["evidence"] for r in rows} == {"altered"}  # sealed, but not by a key we trust
    assert "untrusted key" in err
    code, out, err = report(db, "--node-key", str(tmp_path / "missing.pem"))
    assert code == 1 and out == [] and err.startswith("error: no node key at ") and err.count("\n") == 1
