"""Every reader of the chain-head witness applies the rule ``verify --db`` does (README "Sealed ledger"):
a node whose batches say a witness was kept must have ITS OWN checked, and a witness found for another
node never stands in for it. The node's key is kept apart (its public key given to the readers, no
witness beside that copy); someone who can write the database's directory truncates the node's tail and
plants a key of their own beside the database, registered and sealed with, and its witness. Readers
that trust the node (``cases build --node-key``, the documents' gate with ``--trust-key``, the console
with ``--trust-key``) refuse the database, naming the node. SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate
from swarmscope.evidence.seal import public_key_pem
from swarmscope.store.database import StoreError
from swarmscope.store.ledger.head_witness import key_file_fingerprint, witness_path
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings
from tests.cli.test_anchor_other_node import T0
from tests.cli.test_verify_db_key_apart import plant_and_truncate

register_commands()


def _planted(tmp_path: Path) -> tuple[str, Path, str]:
    """The database, the node's public key file (apart, no witness beside it) and its fingerprint, after
    the tail was truncated and a key and witness planted beside the database."""
    db, key, runner = str(tmp_path / "e.db"), tmp_path / "keys" / "k.pem", CliRunner()
    key.parent.mkdir()
    for title in ("T1", "T2", "T3"):
        done = runner.invoke(app, ["works", "add", "--client", "C", "--title", title, "--db", db,
                                   "--node-key", str(key)])  # fmt: skip
        assert done.exit_code == 0, done.output
    public = tmp_path / "public" / "k.pem"
    public.parent.mkdir()
    public.write_bytes(public_key_pem(load_or_create_node_key(key)))
    node = key_file_fingerprint(public)
    assert node is not None
    plant_and_truncate(db)
    return db, public, node


def _names(message: str, node: str) -> None:
    assert f"node {node}: its chain says a chain-head witness was kept" in message, message
    assert "pass --node-key with that node's key file" in message, message


def test_cases_build_with_the_nodes_public_key_is_refused(tmp_path: Path) -> None:
    db, public, node = _planted(tmp_path)
    built = CliRunner().invoke(app, ["cases", "build", "--db", db, "--node-key", str(public)])
    assert built.exit_code == 1, built.output
    _names(" ".join(built.output.split()), node)


def test_the_documents_gate_trusting_the_node_is_refused(tmp_path: Path) -> None:
    db, _public, node = _planted(tmp_path)
    gate = Gate(None, [node], 1, "0s", None, 1, None)
    with pytest.raises(StoreError) as refused, gate.open(db, T0):
        pass
    _names(str(refused.value), node)


def test_the_console_trusting_the_node_refuses_to_start(tmp_path: Path) -> None:
    db, _public, node = _planted(tmp_path)
    settings = WebSettings(db=db, trusted_keys=frozenset({node}), witness=witness_path(default_key_path(db)))
    with pytest.raises(StoreError) as refused:
        create_app(settings)
    _names(str(refused.value), node)


def test_cases_build_trusting_the_node_by_fingerprint_is_refused(tmp_path: Path) -> None:
    """``--trust-key`` without ``--node-key``: the planted key beside the database is not the node trusted,
    so its witness does not stand in for the trusted node's own."""
    db, _public, node = _planted(tmp_path)
    built = CliRunner().invoke(app, ["cases", "build", "--db", db, "--trust-key", node])
    assert built.exit_code == 1, built.output
    _names(" ".join(built.output.split()), node)
