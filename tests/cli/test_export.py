"""``swarmscope export`` from a real store (Store.commit_evidence: chained, sealed batches), then ``verify``.

The evidence is the world of tests/evidence/test_bundle.py: real probe runs with real captures against
scripted peers, committed in three sealed batches with their captures, blobs and a reference piece.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.export import parse_ip, run_export
from swarmscope.cli.options import parse_infohash, parse_time
from swarmscope.cli.verify import run_verify
from swarmscope.errors import InputError
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.export import ExportFilters
from tests.evidence.test_bundle import BLOCK_IP, CHOKE_IP, SEED_IP, T0, World, commit_world, make_world

WORLD = make_world()


def populate(db: Path, world: World, key: Ed25519PrivateKey) -> None:
    """Commit the world's records to a fresh store in three sealed batches, content alongside."""
    store = open_store(str(db), node_key=key, now_us=T0)
    try:
        run_id = commit_world(store, world)
        store.commit_evidence(run_id, records=[], captures={}, sealed_at_us=T0 + 200_000_000)
    finally:
        store.close()


@pytest.fixture(scope="module")
def store_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(db, key file, fingerprint) of a populated store."""
    base = tmp_path_factory.mktemp("export")
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    db = base / "evidence.db"
    key_file = base / "evidence.db.node-key.pem"
    key_file.write_bytes(private_key_pem(key))
    key_file.chmod(0o600)
    populate(db, WORLD, key)
    return db, key_file, key_fingerprint(public_key_raw(key))


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=200)


def test_export_then_verify(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    db, key_file, fingerprint = store_db
    out = tmp_path / "bundle"
    result = run_export(db=str(db), out=out, key_path=key_file, now_us=T0 + 300_000_000)
    assert result.signing_key == fingerprint and result.records == len(WORLD.records)
    assert (out / "manifest.json").is_file() and (out / f"keys/{fingerprint}.pem").is_file()
    assert run_verify(out, expect_key=fingerprint, console=quiet()) == 0
    lines = (out / "records/observations.jsonl").read_text().splitlines()
    assert {json.loads(line)["ip"] for line in lines} == {SEED_IP, BLOCK_IP, CHOKE_IP}
    assert run_verify(out, expect_key="ab" * 32, console=quiet()) == 1


def test_subset_by_ip_discloses_no_other_address(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    db, key_file, fingerprint = store_db
    out = tmp_path / "subset"
    run_export(db=str(db), out=out, filters=ExportFilters(ip=BLOCK_IP), key_path=key_file, now_us=T0)
    assert run_verify(out, expect_key=fingerprint, console=quiet()) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in files)
    assert BLOCK_IP.encode() in blob
    for other in (SEED_IP, CHOKE_IP):
        assert other.encode() not in blob, [p for p in files if other.encode() in p.read_bytes()]
    observations = (out / "records/observations.jsonl").read_text().splitlines()
    assert [json.loads(line)["ip"] for line in observations] == [BLOCK_IP]


def test_exclude_clock_flagged(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    db, key_file, _ = store_db
    out = tmp_path / "unflagged"
    run_export(db=str(db), out=out, filters=ExportFilters(exclude_clock_flagged=True), key_path=key_file)
    assert run_verify(out, console=quiet()) == 0
    ips = [json.loads(line)["ip"] for line in (out / "records/observations.jsonl").read_text().splitlines()]
    assert ips == [SEED_IP, BLOCK_IP]  # the choking peer was probed inside the skewed window
    methodology = json.loads((out / "methodology.json").read_text())
    assert methodology["clock"]["exclude_clock_flagged"] is True


def test_cli_commands(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    register_commands()
    db, key_file, fingerprint = store_db
    out = tmp_path / "cli"
    runner = CliRunner()
    args = [
        "export",
        "--db",
        str(db),
        "--out",
        str(out),
        "--node-key",
        str(key_file),
        "--infohash",
        WORLD.infohash,
    ]
    result = runner.invoke(app, [*args, "--since", "2027-01-15T08:00:00Z", "--clock-threshold-ms", "100"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(out), "--expect-key", fingerprint])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output and "capture replay" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "not an empty directory" in again.output


def test_parse_time() -> None:
    assert parse_time("1700000000000000", "--since") == 1_700_000_000_000_000
    assert parse_time("2023-11-14T22:13:20Z", "--since") == 1_700_000_000_000_000
    assert parse_time("2023-11-14T23:13:20.000001+01:00", "--until") == 1_700_000_000_000_001
    with pytest.raises(InputError, match="--since"):
        parse_time("yesterday", "--since")


def test_option_parsing() -> None:
    assert parse_ip("2001:DB8:0:0::1") == "2001:db8::1" and parse_ip("192.0.2.10") == "192.0.2.10"
    assert parse_ip("::ffff:192.0.2.10") == "192.0.2.10" and parse_ip("[::1]") == "::1"
    assert parse_infohash("AB" * 20) == "ab" * 20
    with pytest.raises(InputError, match="--ip"):
        parse_ip("example.org")
    with pytest.raises(InputError, match="--infohash"):
        parse_infohash("xyz")


def test_missing_key_is_an_input_error(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    db, _, _ = store_db
    with pytest.raises(InputError, match="node key"):
        run_export(db=str(db), out=tmp_path / "x", key_path=tmp_path / "absent.pem")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("mapped", ["::ffff:192.0.2.10", "[::FFFF:C000:20A]"])
def test_ipv4_mapped_ip_selects_the_stored_ipv4_peer(
    store_db: tuple[Path, Path, str], tmp_path: Path, mapped: str
) -> None:
    """The monitor stores ``::ffff:a.b.c.d`` peers as ``a.b.c.d`` (wire.types.Endpoint.parse)."""
    register_commands()
    db, key_file, _ = store_db
    out = tmp_path / "mapped"
    args = ["export", "--db", str(db), "--out", str(out), "--node-key", str(key_file), "--ip", mapped]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "0 observations matched" not in result.stdout
    lines = (out / "records/observations.jsonl").read_text().splitlines()
    assert [json.loads(line)["ip"] for line in lines] == [SEED_IP]
    assert json.loads((out / "manifest.json").read_text())["filters"]["ip"] == SEED_IP


def test_since_after_until_is_one_line_and_exit_1(store_db: tuple[Path, Path, str], tmp_path: Path) -> None:
    register_commands()
    db, key_file, _ = store_db
    out = tmp_path / "never"
    args = ["export", "--db", str(db), "--out", str(out), "--node-key", str(key_file)]
    result = CliRunner().invoke(
        app, [*args, "--since", "2027-01-16T00:00:00Z", "--until", "2027-01-15T00:00:00Z"]
    )
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: --since 2027-01-16T00:00:00Z is after --until 2027-01-15T00:00:00Z: no record can match\n"
    )
    assert not out.exists()
    same = CliRunner().invoke(app, [*args, "--since", "1800000000000000", "--until", "1800000000000000"])
    assert same.exit_code == 0, same.output  # one instant, both ends inclusive


def test_two_nodes_evidence_exports_one_verified_bundle_per_node(tmp_path: Path) -> None:
    """A fleet's store holds several nodes' chains: a bundle is one node's (``--node-key``), names the other
    signers as left out, carries that node's chain slice and public key only and verifies under it."""
    db = tmp_path / "fleet.db"
    keys = [Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32) for n in (7, 9)]
    for key in keys:  # two nodes saw the same peers: two chains in one store
        store = open_store(str(db), node_key=key, now_us=T0)
        try:
            if key is keys[0]:
                commit_world(store, WORLD)
            else:
                _second_node(store)
        finally:
            store.close()
    key_files = [tmp_path / "node0.pem", tmp_path / "node1.pem"]
    for key, key_file in zip(keys, key_files, strict=True):
        key_file.write_bytes(private_key_pem(key))
        key_file.chmod(0o600)
    fingerprints = [key_fingerprint(public_key_raw(k)) for k in keys]
    for n, (fingerprint, key_file) in enumerate(zip(fingerprints, key_files, strict=True)):
        out, said = tmp_path / f"node{n}", io.StringIO()
        result = run_export(
            db=str(db), out=out, key_path=key_file, now_us=T0 + 300_000_000,
            err_console=Console(file=said, width=300),
        )  # fmt: skip
        assert result.signing_key == fingerprint and result.records == len(WORLD.records)
        other = fingerprints[1 - n]
        assert result.other_signers == (other,)
        assert f"left out: evidence signed by node {other}" in said.getvalue()
        assert [p.name for p in (out / "keys").iterdir()] == [f"{fingerprint}.pem"]
        assert run_verify(out, expect_key=fingerprint, console=quiet()) == 0
        assert run_verify(out, expect_key=other, console=quiet()) == 1


def _second_node(store: Store) -> None:
    """The world's records sealed again by a second node (its own run, its own chain)."""
    run_id = store.start_run({"pieces_to_verify": 1}, "0.1.0", T0)
    store.commit_evidence(
        run_id, records=WORLD.records, captures=WORLD.captures, blobs=WORLD.blobs,
        sealed_at_us=T0 + 150_000_000, clock={"server": "127.0.0.53:123", "offset_us": 1000},
    )  # fmt: skip
