"""``verify --db`` in the layout README "Sealed ledger" recommends: the node key (and its witness) kept
apart from the database. ``verify --db DB --node-key KEY`` checks the witness beside KEY; plain
``verify --db DB`` is NOT VERIFIED with one line naming the node and ``--node-key``. Someone who can write
the database's directory but not the key's truncates the node's tail and plants a key and witness of
their own at the default path (their node registered, one batch sealed): their witness never stands in
for the node's own (each node whose batches say a witness was kept must have its own checked). A key of
another node given with ``--node-key`` does not either; nor does a ``node_key.fingerprint`` column
edited to name the attacker's row (the fingerprint is derived from the stored public key). SQLite."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.head_witness import key_file_fingerprint, witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.cli.test_anchor_other_node import _seal
from tests.tampering import tamper_file

register_commands()


def _sealed_apart(tmp_path: Path) -> tuple[str, CliRunner]:
    db, key, runner = str(tmp_path / "e.db"), str(_key(tmp_path)), CliRunner()
    (tmp_path / "keys").mkdir()
    for title in ("T1", "T2", "T3"):
        done = runner.invoke(
            app, ["works", "add", "--client", "C", "--title", title, "--db", db, "--node-key", key]
        )
        assert done.exit_code == 0, done.output
    assert witness_path(key).exists()
    return db, runner


def _key(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "k.pem"


def _node(tmp_path: Path) -> str:
    fingerprint = key_file_fingerprint(_key(tmp_path))
    assert fingerprint is not None
    return fingerprint


def _refused_for(output: str, fingerprint: str) -> None:
    """NOT VERIFIED, with one problem line naming the node's full fingerprint and ``--node-key``."""
    assert "NOT VERIFIED" in output, output
    (line,) = [x for x in output.splitlines() if "chain-head witness was kept" in x]
    assert f"node {fingerprint}:" in line and "pass --node-key with that node's key file" in line, line


def plant_and_truncate(db: str) -> Path:
    """What someone who can write the database's directory (not the key's) does: register and seal with a
    key of their own planted beside the database, sign its witness, and truncate node 1's tail; returns
    the planted key file."""
    planted = default_key_path(db)
    mine = load_or_create_node_key(planted)
    batch = _seal(db, mine, 7)
    write_witness(witness_path(planted), mine, batch.last_index, batch.head_hash)
    tamper_file(
        Path(db),
        "DELETE FROM ledger_batch WHERE node_id = 1 AND last_index = 2",
        "DELETE FROM ledger_entry WHERE node_id = 1 AND idx = 2",
        "DELETE FROM workflow_event WHERE ledger_node = 1 AND ledger_index = 2",
        "DELETE FROM work WHERE id = 3",
    )
    return planted


def test_an_honest_database_with_its_key_apart_verifies(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    verified = runner.invoke(app, ["verify", "--db", db, "--node-key", str(_key(tmp_path))])
    assert verified.exit_code == 0, verified.output
    assert "VERIFIED" in verified.output and "tail not checked" not in verified.output, verified.output


def test_plain_verify_db_with_the_key_apart_names_the_node_and_node_key(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    plain = runner.invoke(app, ["verify", "--db", db])
    assert plain.exit_code == 1, plain.output
    _refused_for(plain.output, _node(tmp_path))


def test_a_key_of_another_node_does_not_stand_in(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    other = tmp_path / "other" / "k.pem"
    other.parent.mkdir()
    load_or_create_node_key(other)
    given = runner.invoke(app, ["verify", "--db", db, "--node-key", str(other)])
    assert given.exit_code == 1, given.output
    _refused_for(given.output, _node(tmp_path))
    for bad in (tmp_path / "missing.pem", tmp_path / "keys"):
        refused = runner.invoke(app, ["verify", "--db", db, "--node-key", str(bad)])
        assert refused.exit_code == 2 and "--node-key" in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output


def test_a_planted_key_beside_the_database_does_not_hide_a_truncated_tail(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    planted = plant_and_truncate(db)
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 1 and "NOT VERIFIED" in verified.output, verified.output
    _refused_for(verified.output, _node(tmp_path))
    anchored = runner.invoke(app, ["verify", "--db", db, "--node-key", str(planted)])
    assert anchored.exit_code == 1, anchored.output  # the planted key given explicitly: still not the node's
    _refused_for(anchored.output, _node(tmp_path))
    # the fingerprint columns swapped (the victim's row named as the planted node and back): still refused
    victim, mine_fp = _node(tmp_path), key_file_fingerprint(planted)
    tamper_file(
        Path(db),
        f"UPDATE node_key SET fingerprint = '{'0' * 64}' WHERE id = 1",
        f"UPDATE node_key SET fingerprint = '{victim}' WHERE id = 2",
        f"UPDATE node_key SET fingerprint = '{mine_fp}' WHERE id = 1",
    )
    edited = runner.invoke(app, ["verify", "--db", db])
    assert edited.exit_code == 1 and "NOT VERIFIED" in edited.output, edited.output
    assert "fingerprint column" in edited.output, edited.output
