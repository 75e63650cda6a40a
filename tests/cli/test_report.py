"""``swarmscope report`` in-process (typer CliRunner) on a database filled through the Store API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.report as report_module
from swarmscope import errors
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import ExtensionInfo, Failure, Source, Tier
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.store.factories import SWARM_A, SWARM_B, T0, add_swarms, full_observation, observation, sighting

# Register every command as the console script does (a one-command Typer app would drop the name).
register_commands()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "report.db")
    key = load_or_create_node_key(default_key_path(path))  # beside the database: report proves against it
    with open_store(path, node_key=key) as store:
        add_swarms(store)
        run = store.start_run({}, "0.1.0", T0)
        store.add_sightings(
            run,
            [
                sighting(ip="127.0.0.2", seen_at_us=T0),
                sighting(ip="127.0.0.3", source=Source.DHT.value, seen_at_us=T0 + 1),
                sighting(ip="127.0.0.4", infohash=SWARM_B, seen_at_us=T0 + 2),
            ],
        )
        store.add_observations(
            run,
            [
                observation(
                    ip="127.0.0.2",
                    tier=Tier.VERIFIED,
                    failure=None,
                    peer_id=b"-TR3000-" + b"\x01" * 12,
                    client="Transmission",
                    client_version="3.00",
                    completion=1.0,
                    verified_pieces=(2, 0),
                    failed_pieces=(5,),
                    bytes_received=49152,
                    extension=ExtensionInfo(yourip="127.0.0.1"),
                    quirks=("PW-10",),
                    ended_us=T0 + 1_000_001,
                ),
                full_observation(
                    ip="::1", failure=Failure.CHOKED.value, verified_pieces=(), failed_pieces=()
                ),
            ],
        )
        store.end_run(run, T0 + 2_000_000)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "240"})
    return result.exit_code, result.stdout, result.stderr


def test_json(db: str) -> None:
    code, out, _ = invoke("--db", db, "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert [(r["infohash"], r["ip"], r["tier"]) for r in records] == [
        (SWARM_A, "127.0.0.2", "verified"),
        (SWARM_A, "::1", "has_pieces"),
        (SWARM_A, "127.0.0.3", "listed"),
        (SWARM_B, "127.0.0.4", "listed"),
    ]
    top = records[0]
    assert top == {
        "infohash": SWARM_A,
        "ip": "127.0.0.2",
        "port": 6881,
        "port_seen": "dialled",  # our probe connected to it (not an inbound peer's claim)
        "source_ports": [],
        "tier": "verified",
        "evidence": "sealed",
        "clock": "unmeasured",
        "client": "Transmission 3.00",
        "peer_id": (b"-TR3000-" + b"\x01" * 12).hex(),
        "completion": 1.0,
        "first_seen": "2026-11-30T00:53:20.000000Z",
        "last_seen": "2026-11-30T00:53:21.000001Z",
        "verified_pieces": [0, 2],
        "failed_pieces": [5],
        "verified_blocks": [],
        "failed_blocks": [],
        "bytes_received": 49152,
        "observations": 1,
        "sources": ["tracker"],
        "failure": None,
        "yourip": "127.0.0.1",
        "encrypted": False,
        "quirks": ["PW-10"],
    }
    listed = records[2]
    assert listed["client"] is None and listed["peer_id"] is None and listed["completion"] is None
    assert listed["sources"] == ["dht"] and listed["observations"] == 0 and listed["failure"] is None
    assert records[1]["failure"] == "choked" and records[1]["encrypted"] is True


def test_json_infohash_filter_any_case(db: str) -> None:
    code, out, _ = invoke("--db", db, "--format", "json", "--infohash", SWARM_B.upper())
    assert code == 0
    assert [r["ip"] for r in json.loads(out)] == ["127.0.0.4"]


def test_csv(db: str) -> None:
    code, out, _ = invoke("--db", db, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(report_module.COLUMNS)
    assert len(rows) == 4
    top = rows[0]
    assert top["verified_pieces"] == "0 2" and top["failed_pieces"] == "5" and top["tier"] == "verified"
    assert top["first_seen"] == "2026-11-30T00:53:20.000000Z" and top["encrypted"] == "false"
    assert rows[2]["client"] == "" and rows[2]["completion"] == "" and rows[2]["sources"] == "dht"


def test_table_grouped_by_swarm_with_totals(db: str) -> None:
    code, out, _ = invoke("--db", db)
    assert code == 0
    assert (
        out.index("alpha.iso") < out.index("127.0.0.2:6881") < out.index("beta.bin") < out.index("127.0.0.4")
    )
    assert "[::1]:51413" in out and "Transmission 3.00" in out
    assert "3 addresses: 1 verified, 1 has_pieces, 0 connected, 1 listed; 1 seeds" in out
    assert "1 addresses: 0 verified" in out


def test_empty_store(tmp_path: Path) -> None:
    path = str(tmp_path / "empty.db")
    open_store(path, node_key=Ed25519PrivateKey.generate()).close()
    assert invoke("--db", path, "--format", "json")[:2] == (0, "[]\n")
    assert invoke("--db", path)[:2] == (0, "no peers recorded\n")


def test_default_db_is_swarmscope_db_in_cwd(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path(db).rename(tmp_path / "swarmscope.db")
    code, out, _ = invoke("--format", "json")
    assert code == 0 and len(json.loads(out)) == 4


@pytest.mark.parametrize("content", [None, b"", b"garbage, not sqlite" * 50])
def test_missing_or_unreadable_db_is_one_line_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.db"
    if content is not None:
        path.write_bytes(content)
    code, out, err = invoke("--db", str(path), "--format", "json")
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err


def test_unknown_format_is_rejected(db: str) -> None:
    code, _, err = invoke("--db", db, "--format", "xml")
    assert code == 1 and "xml" in err  # a usage error: one line, exit status 1 (was Typer's 2)


def test_print_report_for_other_commands(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    report_module.print_report(db, "json", SWARM_A)
    assert len(json.loads(capsys.readouterr().out)) == 3
    with pytest.raises(errors.InputError, match="unknown report format"):
        report_module.print_report(db, "yaml")
