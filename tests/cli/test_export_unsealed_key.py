"""``export`` names as ``left out: evidence signed by node X`` only keys that sealed evidence here.

A node key is registered in ``node_key`` when a store is opened with it, before anything is sealed: a fleet
node refused at start (its ``--bind`` in another node's /30, README "A fleet") leaves such a row behind
(its key file is removed). ``export`` then said ``left out: evidence signed by node X (add --trust-key X
...)`` for that key, and ``--trust-key X`` answered ``no evidence in this store is sealed by that key``:
the hint named evidence that does not exist; the export across nodes (``--trust-key``) lists it too. The
rule is ``node_identity.other_signers``' (the keys that
sealed batches: ``entries.sealing_nodes``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.cli.export import run_export
from swarmscope.evidence.seal import key_fingerprint, private_key_pem, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger.commit import register_node
from tests.cli.test_export import WORLD
from tests.cli.test_export_nodes import seal_node
from tests.evidence.test_bundle import T0, commit_world

SEALER = Ed25519PrivateKey.from_private_bytes(bytes([21]) * 32)
TRUSTED = Ed25519PrivateKey.from_private_bytes(bytes([22]) * 32)  # a second node (the export across nodes)
IDLE = Ed25519PrivateKey.from_private_bytes(bytes([23]) * 32)  # registered, sealed nothing


@pytest.mark.parametrize("across", [False, True], ids=["one-node", "across-nodes"])
def test_a_registered_key_that_sealed_nothing_is_not_named_as_a_signer_left_out(
    tmp_path: Path, across: bool
) -> None:
    db = tmp_path / "store.db"
    store = open_store(str(db), node_key=SEALER, now_us=T0)
    try:
        commit_world(store, WORLD)
    finally:
        store.close()
    store = open_store(str(db), node_key=TRUSTED, now_us=T0)
    try:
        seal_node(store, 1, WORLD)
        with store.engine.begin() as conn:  # what a fleet node refused at start leaves: a row, no batch
            register_node(conn, IDLE, T0 + 1)
    finally:
        store.close()
    key_file = tmp_path / "sealer.pem"
    key_file.write_bytes(private_key_pem(SEALER))
    key_file.chmod(0o600)
    err = io.StringIO()
    result = run_export(
        db=str(db), out=tmp_path / "bundle", key_path=key_file, now_us=T0 + 300_000_000,
        trust_keys=[key_fingerprint(public_key_raw(TRUSTED))] if across else [],
        console=Console(file=io.StringIO(), width=400), err_console=Console(file=err, width=400),
    )  # fmt: skip
    idle = key_fingerprint(public_key_raw(IDLE))
    assert idle not in result.other_signers, result.other_signers
    assert f"evidence signed by node {idle}" not in err.getvalue(), err.getvalue()
