"""A writer that keeps the chain-head witness says so in each batch it seals (signed clock
``head_witness: true``); a chain that says so and has no witness beside the key is refused as a truncated
one, until a sealed reset writes a new witness and leaves a note. A chain sealed without the marker keeps
the older rule. A witness must be the key file's (the node key file, or its public key, sits beside it
as ``node-key.pem``): one of another key, or with no key file, is refused as foreign. SQLite; PostgreSQL
(the scratch server of the test session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.seal import key_fingerprint, public_key_pem, public_key_raw, witness_kept
from swarmscope.store.database import Store
from swarmscope.store.ledger.commit import sealed_batch
from swarmscope.store.ledger.head_witness import (
    WitnessError,
    kept_heads,
    read_witness,
    witness_path,
    write_witness,
)
from swarmscope.store.ledger.schema import ledger_batch
from swarmscope.store.ledger.witness_cover import require_head
from swarmscope.store.ledger.witness_reset import reset_notes, reset_witness
from swarmscope.store.legal.workflow_seals import seal_decision
from tests.tampering import backend_store

KEY = Ed25519PrivateKey.generate()
KEY_FINGERPRINT = key_fingerprint(public_key_raw(KEY))
T0 = 1_796_000_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    (tmp_path / "node-key.pem").write_bytes(public_key_pem(KEY))  # the key file the witness sits beside
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        yield s


def _kept(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return kept_heads(conn)


def _last_batch_kept(store: Store) -> bool:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(ledger_batch).order_by(ledger_batch.c.last_index.desc()).limit(1)).one()
    return witness_kept(sealed_batch(row).batch)


def test_an_unbound_writer_marks_nothing_and_keeps_the_older_rule(store: Store, tmp_path: Path) -> None:
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    assert not _last_batch_kept(store) and _kept(store) == {}
    require_head(store, tmp_path / "no-such.head")  # no witness, no marker: nothing to refuse


def test_a_bound_writer_marks_its_batches_and_a_missing_witness_is_refused(
    store: Store, tmp_path: Path
) -> None:
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    store.witness = tmp_path / "node-key.pem.head"
    seal_decision(store, "DOE-000001", "payment", {"amount_cents": 1}, T0 + 1)
    found = read_witness(store.witness)
    assert found is not None and _last_batch_kept(store)
    assert _kept(store) == {KEY_FINGERPRINT: found[0].last_index}
    require_head(store, store.witness)
    store.witness.unlink()
    with pytest.raises(WitnessError) as refused:
        require_head(store, store.witness)
    message = str(refused.value)
    assert "\n" not in message and f"there is none at {store.witness}" in message
    assert f"sealed to index {found[0].last_index}" in message and "swarmscope witness reset" in message
    assert reset_notes(store) == []


def test_a_sealed_reset_writes_a_new_witness_and_leaves_a_note(store: Store, tmp_path: Path) -> None:
    key_path = tmp_path / "node-key.pem"
    store.witness = witness_path(key_path)
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    found = read_witness(store.witness)
    assert found is not None
    head = found[0].last_index
    with pytest.raises(WitnessError, match="exists: nothing to reset"):
        reset_witness(store, key_path, T0 + 1)
    store.witness.unlink()
    done = reset_witness(store, key_path, T0 + 2)
    assert done.head_index == head and done.index == head + 1 and done.witness == store.witness
    again = read_witness(store.witness)
    assert again is not None and again[0].last_index == done.index and _last_batch_kept(store)
    require_head(store, store.witness)
    notes = reset_notes(store)
    assert len(notes) == 1 and f"re-created at chain head {head} " in notes[0]
    assert "the tail before it cannot be proven complete" in notes[0]
    seal_decision(store, "DOE-000001", "payment", {"amount_cents": 1}, T0 + 3)
    assert reset_notes(store) == notes  # every later check carries it


def test_a_witness_of_another_key_than_the_key_file_is_refused_as_foreign(
    store: Store, tmp_path: Path
) -> None:
    store.witness = tmp_path / "node-key.pem.head"
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    found = read_witness(store.witness)
    assert found is not None
    require_head(store, store.witness)
    other = Ed25519PrivateKey.generate()
    store.witness.unlink()
    write_witness(store.witness, other, found[0].last_index, found[0].head_hash)
    with pytest.raises(WitnessError) as refused:
        require_head(store, store.witness)
    message = str(refused.value)
    assert "\n" not in message and "is foreign" in message and KEY_FINGERPRINT in message
    assert key_fingerprint(public_key_raw(other)) in message
    assert f"its chain says a witness was kept (sealed to index {found[0].last_index})" in message
    (tmp_path / "node-key.pem").unlink()
    with pytest.raises(WitnessError, match="has no readable key file"):
        require_head(store, store.witness)


def test_without_a_key_file_a_witness_is_tied_to_the_trusted_fingerprints(
    store: Store, tmp_path: Path
) -> None:
    """A console run without the private key (``serve --trust-key``): the node's own witness is accepted
    under its trusted fingerprint; one signed by another key is refused, trusted or not."""
    store.witness = tmp_path / "node-key.pem.head"
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    found = read_witness(store.witness)
    assert found is not None
    (tmp_path / "node-key.pem").unlink()
    require_head(store, store.witness, frozenset({KEY_FINGERPRINT}))
    with pytest.raises(WitnessError, match="has no readable key file"):
        require_head(store, store.witness, frozenset({"ab" * 32}))
    other = Ed25519PrivateKey.generate()
    store.witness.unlink()
    write_witness(store.witness, other, found[0].last_index, found[0].head_hash)
    with pytest.raises(WitnessError, match="has no readable key file"):
        require_head(store, store.witness, frozenset({KEY_FINGERPRINT}))
