"""A reader that trusts several nodes checks each one's own chain-head witness (README "Sealed ledger");
in a fleet each node keeps its key and witness on its own machine, so the reader names copies of the
other nodes' public key files, each with its witness copy beside it (``<key file>.head``), in
``SWARMSCOPE_WITNESS_KEYS``. Two nodes seal into one SQLite store with their keys kept apart; the
documents' gate and the console trust both."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate
from swarmscope.cli.node_identity import WITNESS_KEYS_ENV
from swarmscope.evidence.records import Sighting
from swarmscope.evidence.seal import public_key_pem
from swarmscope.store.database import StoreError, open_store
from swarmscope.store.ledger.head_witness import key_file_fingerprint, witness_path
from swarmscope.store.ledger.node_key import load_or_create_node_key
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings
from tests.cli.test_anchor_other_node import T0
from tests.store.factories import SWARM_A, add_swarms
from tests.tampering import tamper_file

register_commands()


def _monitor_node(db: str, key: Path) -> None:
    """Node 2, a monitor node: two batches of sightings sealed with its own key, its witness beside it."""
    with open_store(db, node_key=load_or_create_node_key(key), now_us=T0) as store:
        store.witness = witness_path(key)
        add_swarms(store)
        run_id = store.start_run({"tsa_url": None}, "0.1.0", T0)
        for n in (1, 2):
            sighting = Sighting(SWARM_A, f"127.0.1.{n}", 6881, "tracker", "t", T0 + n)
            store.commit_evidence(run_id, records=[sighting], sealed_at_us=T0 + 10 + n)


def _two_nodes(tmp_path: Path) -> tuple[str, Path, str, Path, str]:
    """The store; node 1's key file (apart, its witness beside it) and fingerprint; a copy of node 2's
    public key with a copy of its witness beside it (node 2's own files stay on "its machine")."""
    db, runner = str(tmp_path / "e.db"), CliRunner()
    keys = {n: tmp_path / f"machine{n}" / f"n{n}.pem" for n in (1, 2)}
    keys[1].parent.mkdir()
    keys[2].parent.mkdir()
    for title in ("T1", "T2"):
        done = runner.invoke(app, ["works", "add", "--client", "C", "--title", title, "--db", db,
                                   "--node-key", str(keys[1])])  # fmt: skip
        assert done.exit_code == 0, done.output
    _monitor_node(db, keys[2])
    copy = tmp_path / "counsel" / "n2.pub"
    copy.parent.mkdir()
    copy.write_bytes(public_key_pem(load_or_create_node_key(keys[2])))
    shutil.copy(witness_path(keys[2]), witness_path(copy))
    fps = [key_file_fingerprint(keys[1]), key_file_fingerprint(copy)]
    assert None not in fps
    return db, keys[1], str(fps[0]), copy, str(fps[1])


def _gate(db: str, key: Path, trusted: list[str]) -> None:
    with Gate(key, trusted, 1, "0s", None, 1, None).open(db, T0 + 10**12):
        pass


def test_the_other_nodes_witness_copy_is_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, key1, fp1, copy2, fp2 = _two_nodes(tmp_path)
    with pytest.raises(StoreError, match=f"node {fp2}: its chain says a chain-head witness was kept"):
        _gate(db, key1, [fp1, fp2])  # node 2's witness is on its own machine: refused, not skipped
    monkeypatch.setenv(WITNESS_KEYS_ENV, os.pathsep.join([str(copy2), ""]))
    _gate(db, key1, [fp1, fp2])
    settings = WebSettings(db=db, trusted_keys=frozenset({fp1, fp2}), witness=witness_path(key1))
    with pytest.raises(StoreError, match=f"node {fp2}"):
        create_app(settings)
    create_app(WebSettings(db=db, trusted_keys=frozenset({fp1, fp2}), witness=witness_path(key1),
                           other_witnesses=(witness_path(copy2),)))  # fmt: skip


def test_a_truncated_tail_of_the_other_node_is_refused_by_its_witness_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, key1, fp1, copy2, fp2 = _two_nodes(tmp_path)
    monkeypatch.setenv(WITNESS_KEYS_ENV, str(copy2))
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT max(last_index) FROM ledger_batch WHERE node_id = 2").fetchone()
    tamper_file(
        Path(db),
        f"DELETE FROM ledger_batch WHERE node_id = 2 AND last_index = {last}",
        f"DELETE FROM ledger_entry WHERE node_id = 2 AND idx = {last}",
    )
    with pytest.raises(StoreError, match=str(witness_path(copy2))):
        _gate(db, key1, [fp1, fp2])
    settings = WebSettings(db=db, trusted_keys=frozenset({fp1, fp2}), witness=witness_path(key1),
                           other_witnesses=(witness_path(copy2),))  # fmt: skip
    with pytest.raises(StoreError, match=str(witness_path(copy2))):
        create_app(settings)


def test_a_mistyped_path_in_the_environment_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path in SWARMSCOPE_WITNESS_KEYS that is no key file is refused by every reader, naming it: left
    silent, the node the user meant to check would go unchecked (or be refused for a reason not named)."""
    db, key1, _fp1, copy2, fp2 = _two_nodes(tmp_path)
    (tmp_path / "garbage.pub").write_text("not a key\n")
    for bad, why in (
        (tmp_path / "n2.pub.typo", "no such file"),
        (tmp_path / "garbage.pub", "not an Ed25519"),
    ):
        monkeypatch.setenv(WITNESS_KEYS_ENV, os.pathsep.join([str(copy2), str(bad)]))
        for args in (
            ["export", "--db", db, "--out", str(tmp_path / "b"), "--node-key", str(key1), "--trust-key", fp2],
            ["verify", "--db", db, "--node-key", str(key1)],
        ):
            done = CliRunner().invoke(app, args)
            assert done.exit_code == 1, done.output
            assert f"{WITNESS_KEYS_ENV}: {bad}: {why}" in done.output and "Traceback" not in done.output
            assert not (tmp_path / "b").exists()
