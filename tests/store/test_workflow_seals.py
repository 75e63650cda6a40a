"""Sealed workflow decisions (store/legal/workflow_seals.py): a decision sealed with the node's key is
proven under a trusted key only; an event sealed by another key, or whose bytes were altered, proves
nothing; relabelling its ``kind`` column hides nothing; an edited ``workflow_event`` row is a problem for
``verify_ledger``. SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal.workflow_seals import content_sha256, seal_decision, workflow_history
from tests.tampering import backend_store, key_trust, tamper

KEY = Ed25519PrivateKey.generate()
T0 = 1_796_000_000_000_000
CONTENT = {"reference": "RF18539007547034", "amount_cents": 45_000, "currency": "EUR", "received_us": T0}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        yield s


def test_a_sealed_decision_is_proven_under_its_key_only(store: Store) -> None:
    event = seal_decision(store, "DOE-000001", "payment", CONTENT, T0)
    assert event.sha256 == content_sha256("payment", CONTENT)
    history = workflow_history(store, key_trust(KEY, T0 + 1))
    assert history.has("DOE-000001", "payment", event.sha256)
    assert not history.has("DOE-000001", "payment", content_sha256("payment", {**CONTENT, "amount_cents": 1}))
    assert workflow_history(store, key_trust(Ed25519PrivateKey.generate(), T0 + 1)).events == {}
    assert verify_ledger(store).ok


def test_a_relabelled_entry_is_still_found(store: Store) -> None:
    """The ``kind`` column is not chained: an event relabelled to hide it is found by the bytes it seals."""
    event = seal_decision(store, "DOE-000001", "dispute", {"received_us": T0, "summary": "no"}, T0)
    tamper(store, ["ledger_entry"], "UPDATE ledger_entry SET kind = 'sighting' WHERE kind = 'workflow_event'")
    assert workflow_history(store, key_trust(KEY, T0 + 1)).has("DOE-000001", "dispute", event.sha256)


def test_an_edited_event_row_is_a_ledger_problem(store: Store) -> None:
    seal_decision(store, "DOE-000001", "escalated", {"event": "escalate"}, T0)
    tamper(store, ["workflow_event"], "UPDATE workflow_event SET subject = 'DOE-000002'")
    (problem,) = verify_ledger(store).problems
    assert (problem.what, problem.detail) == (
        "row altered",
        "workflow_event row 1 differs from its sealed canonical bytes",
    )


def test_a_reader_store_cannot_seal(store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    with open_store(url, create=False) as reader, pytest.raises(StoreError, match="node's signing key"):
        seal_decision(reader, "DOE-000001", "escalated", {"event": "escalate"}, T0)
