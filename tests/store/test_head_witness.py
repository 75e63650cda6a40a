"""The chain-head witness (store/ledger/head_witness.py): a store bound to a witness file rewrites it after
each committed seal, never after a rolled-back one and never backwards; the database holds the witnessed
head until its tail is truncated or rewritten without the key. SQLite; PostgreSQL with
SWARMSCOPE_TEST_PG_URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger.head_witness import read_witness, witness_problem, write_witness
from swarmscope.store.legal.workflow_seals import seal_decision, seal_event
from tests.tampering import backend_store, tamper

KEY = Ed25519PrivateKey.generate()
KEY_FINGERPRINT = key_fingerprint(public_key_raw(KEY))
T0 = 1_796_000_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        s.witness = tmp_path / "node-key.pem.head"
        yield s


def _problem(store: Store) -> str | None:
    assert store.witness is not None
    with store.engine.connect() as conn:
        return witness_problem(conn, store.witness)


def _index(store: Store) -> int:
    assert store.witness is not None
    found = read_witness(store.witness)
    assert found is not None
    return found[0].last_index


def test_each_seal_moves_the_witness_and_a_truncated_tail_is_found(store: Store) -> None:
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    first = _index(store)
    seal_decision(store, "DOE-000001", "payment", {"amount_cents": 1}, T0 + 1)
    assert _index(store) == first + 1 and _problem(store) is None
    assert store.node is not None
    node = store.node.id
    tamper(
        store,
        ["ledger_entry", "ledger_batch", "workflow_event"],
        "DELETE FROM workflow_event WHERE id = (SELECT max(id) FROM workflow_event)",
        f"DELETE FROM ledger_entry WHERE node_id = {node} AND idx = {first + 1}",
        f"DELETE FROM ledger_batch WHERE node_id = {node} AND last_index = {first + 1}",
    )
    assert _problem(store) == (
        f"its chain lacks the witnessed head (node {KEY_FINGERPRINT[:16]}…, index {first + 1}): its tail "
        "was truncated"
    )


def test_a_failed_seal_leaves_the_witness_and_it_never_moves_back(store: Store, tmp_path: Path) -> None:
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    index = _index(store)
    with pytest.raises(StoreError), store._write(immediate=True) as conn:
        assert store.node is not None
        seal_event(conn, store.node, WorkflowEvent("DOE-000001", "dispute", T0, b"\0" * 32))
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert _index(store) == index
    assert store.witness is not None
    assert not write_witness(store.witness, KEY, index - 1, b"\1" * 32)
    assert _index(store) == index and _problem(store) is None


def test_the_witnessed_node_is_found_by_its_stored_key_not_the_fingerprint_column(store: Store) -> None:
    """An edited ``fingerprint`` column neither hides the witnessed chain ("no chain of the witnessed
    node" was said of a chain that is there) nor lets another row stand in for it; two rows holding the
    node's key are named as such."""
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    tamper(store, ["node_key"], f"UPDATE node_key SET fingerprint = '{'0' * 64}'")
    assert _problem(store) is None  # the chain is found by its key and holds the witnessed head
    tamper(
        store,
        ["node_key"],
        "INSERT INTO node_key (fingerprint, public_key, public_key_pem, created_us)"
        f" SELECT '{KEY_FINGERPRINT}', public_key, public_key_pem, created_us FROM node_key",
    )
    assert "2 node key rows hold the witnessed node's key" in (_problem(store) or "")
