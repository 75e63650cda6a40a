"""``swarmscope export --trust-key`` across nodes: one bundle with every trusted node's chain slice, then
``swarmscope verify`` per node (``--expect-key`` repeatable), on a real SQLite store holding several chains.

Node 0 commits the world of tests/evidence/test_bundle.py in three batches; every other node seals the
same peers' records in a chain of its own (its own run), each run sealing its node's ``--bind`` on a
loopback address of its own (``BINDS``), so the seed and the block peer are seen from every node's
vantage: corroborated. Export and ``cases build --min-vantages 2`` count vantages alike.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

from swarmscope.cases.candidates import evaluate_store
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.errors import InputError
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.schema import observation
from tests.cases import evidence as cases
from tests.cli.test_export import WORLD, quiet
from tests.evidence.test_bundle import BLOCK_IP, SEED_IP, T0, World, commit_world
from tests.evidence.test_bundle_nodes import bound

KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32) for n in (7, 9, 11)]
FPS = [key_fingerprint(public_key_raw(k)) for k in KEYS]
BINDS = ["127.0.3.1", "127.0.3.5", "127.0.3.9"]  # one vantage each (loopback: the address itself)


def seal_node(store: Store, n: int, world: World) -> None:
    """Node ``n`` seals ``world``: node 0 as commit_world does (swarm, content), any other the same peers'
    records again in a run and chain of its own."""
    if n == 0:
        commit_world(store, world)
        return
    run_id = store.start_run({"pieces_to_verify": 1}, "0.1.0", T0)
    store.commit_evidence(
        run_id, records=world.records, captures=world.captures, blobs=world.blobs,
        sealed_at_us=T0 + 150_000_000, clock={"server": "127.0.0.53:123", "offset_us": 1000},
    )  # fmt: skip


@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A store sealed by three node keys, and their key files."""
    base = tmp_path_factory.mktemp("nodes")
    db = base / "fleet.db"
    files = []
    for n, key in enumerate(KEYS):
        store = open_store(str(db), node_key=key, now_us=T0)
        try:
            seal_node(store, n, bound(WORLD, BINDS[n]))
        finally:
            store.close()
        files.append(base / f"node{n}.pem")
        files[-1].write_bytes(private_key_pem(key))
        files[-1].chmod(0o600)
    return db, files


@pytest.mark.parametrize("nodes", [2, 3])
def test_export_across_nodes_verifies_per_node(
    fleet_db: tuple[Path, list[Path]], tmp_path: Path, nodes: int
) -> None:
    db, key_files = fleet_db
    out, said, err = tmp_path / "bundle", io.StringIO(), io.StringIO()
    result = run_export(
        db=str(db), out=out, key_path=key_files[0], now_us=T0 + 300_000_000, trust_keys=FPS[1:nodes],
        console=Console(file=said, width=400), err_console=Console(file=err, width=400),
    )  # fmt: skip
    assert result.nodes == tuple(sorted(FPS[:nodes])) and result.corroborated == 2
    assert result.other_signers == tuple(FPS[nodes:])
    assert f"across {nodes} nodes: " in said.getvalue() and "2 addresses corroborated" in said.getvalue()
    for other in FPS[nodes:]:
        assert f"left out: evidence signed by node {other} (add --trust-key {other}" in err.getvalue()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 5 and manifest["nodes"] == sorted(FPS[:nodes])
    for fp in FPS[:nodes]:
        assert (out / "nodes" / fp / "records/chain.bin").is_file() and (out / f"keys/{fp}.pem").is_file()
    shown = io.StringIO()
    assert run_verify(out, expect_keys=FPS[:nodes], console=Console(file=shown, width=400)) == 0
    for fp in FPS[:nodes]:  # per node, what was checked
        assert f"node {fp[:16]} chain" in shown.getvalue() and f"node {fp[:16]} signers" in shown.getvalue()
    assert "2 of 2 addresses corroborated" in shown.getvalue(), shown.getvalue()
    for n, fp in enumerate(FPS[:nodes]):  # per node: its hits, how many corroborated, its vantage
        assert f"node {fp[:16]} hits" in shown.getvalue()
        assert f"2 verified hits, 2 corroborated; vantage {BINDS[n]}" in shown.getvalue(), shown.getvalue()
    hits = [json.loads(line) for line in (out / "hits.jsonl").read_text().splitlines()]
    assert {h["ip"] for h in hits if h["corroborated"]} == {SEED_IP, BLOCK_IP}
    assert {h["node"] for h in hits} == set(FPS[:nodes])
    assert run_verify(out, expect_keys=FPS[: nodes - 1], console=quiet()) == 1  # one node not expected


def test_one_node_export_is_byte_identical_without_trust_keys(
    fleet_db: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    db, key_files = fleet_db
    plain = run_export(db=str(db), out=tmp_path / "a", key_path=key_files[0], now_us=T0, console=None)
    own = run_export(db=str(db), out=tmp_path / "b", key_path=key_files[0], now_us=T0, trust_keys=[FPS[0]])
    assert plain.nodes == own.nodes == ()
    for path in sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file()):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_trust_key_of_no_signer_is_one_line_and_exit_1(
    fleet_db: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    db, key_files = fleet_db
    with pytest.raises(InputError, match="no evidence in this store is sealed by that key"):
        run_export(db=str(db), out=tmp_path / "x", key_path=key_files[0], trust_keys=["ab" * 32])
    register_commands()
    args = ["export", "--db", str(db), "--out", str(tmp_path / "y"), "--node-key", str(key_files[0])]
    bad = CliRunner().invoke(app, [*args, "--trust-key", "nothex"])
    assert bad.exit_code == 1 and "--trust-key 'nothex': not a key fingerprint" in bad.output
    assert not (tmp_path / "y").exists()
    good = CliRunner().invoke(app, [*args, "--trust-key", FPS[1].upper()])
    assert good.exit_code == 0, good.output
    verified = CliRunner().invoke(
        app, ["verify", str(tmp_path / "y"), "--expect-key", FPS[0], "--expect-key", FPS[1]]
    )
    assert verified.exit_code == 0 and "VERIFIED" in verified.output, verified.output


def test_rows_outside_every_ledger_are_left_out_once(
    fleet_db: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """A row with no ledger entry belongs to no node's chain: one ``left out:`` line, not one per node."""
    source, key_files = fleet_db
    db = tmp_path / "copy.db"
    shutil.copyfile(source, db)
    first = next(r for r in WORLD.records if isinstance(r, Observation))
    with open_store(str(db)) as store, store.engine.begin() as conn:
        row = writer.observation_row(1, dataclasses.replace(first, ip="192.0.2.77"), (None, None))
        writer.insert_many(conn, observation, [row])
    err = io.StringIO()
    result = run_export(
        db=str(db), out=tmp_path / "b", key_path=key_files[0], now_us=T0, trust_keys=FPS[1:],
        err_console=Console(file=err, width=400),
    )  # fmt: skip
    lines = [line for line in err.getvalue().splitlines() if "observation rows" in line]
    why = "observation rows without a ledger entry, not yet checked by crash recovery (never sealed)"
    assert lines == [f"left out: 1 {why}"]
    assert result.left_out == ((1, why),)


@pytest.mark.parametrize(
    ("binds", "corroborated"),
    [
        (("192.0.2.1", "192.0.2.99"), False),  # one /24: one vantage
        ((None, None), False),  # no --bind: one shared vantage
        (("192.0.2.1", "198.51.100.1"), True),  # two /24s
    ],
)
def test_export_and_cases_count_corroboration_alike(
    tmp_path: Path, binds: tuple[str | None, str | None], corroborated: bool
) -> None:
    """The bundle's hits.jsonl says what ``cases build --min-vantages 2`` says of the same peer: three
    hits over 70 minutes from each of two nodes (runs without captures, as ``"capture": false`` allows)."""
    db = tmp_path / "two.db"
    for n, bind in enumerate(binds):
        settings = {"capture": False, "clock_threshold_ms": 100.0} | (
            {} if bind is None else {"bind_ip": bind}
        )
        with open_store(str(db), node_key=KEYS[n], now_us=cases.T0) as store:
            cases.seal(store, [cases.hit("127.0.0.2", m + n) for m in (0, 30, 70)], settings=settings)
    key_file = tmp_path / "n0.pem"
    key_file.write_bytes(private_key_pem(KEYS[0]))
    key_file.chmod(0o600)
    out, now = tmp_path / "bundle", cases.T0 + 10**13
    result = run_export(db=str(db), out=out, key_path=key_file, now_us=now, trust_keys=[FPS[1]], console=None)
    assert result.corroborated == int(corroborated)
    hits = [json.loads(line) for line in (out / "hits.jsonl").read_text().splitlines()]
    assert len(hits) == 6 and {h["corroborated"] for h in hits} == {corroborated}
    with open_store(str(db)) as store:
        trust = EvidenceTrust(frozenset(FPS[:2]), now)
        (verdict,) = evaluate_store(store, ThresholdPolicy(min_vantages=2), trust=trust)[0]
    assert verdict.corroborated is corroborated and verdict.is_candidate is corroborated, verdict
    assert {h["vantage"] for h in hits} == set(verdict.networks)
    assert run_verify(out, expect_keys=FPS[:2], console=quiet()) == 0
