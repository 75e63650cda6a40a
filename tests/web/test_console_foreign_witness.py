"""The console judges the chain-head witness and a case's status as the CLI does (README "Sealed ledger",
chain-head witness; "Only proven evidence").

Someone who can write the database file and the directory beside it, but lacks the node key, registers a
key of their own, seals one harmless event with it and puts a witness signed by that key beside the
node's key file: the console refuses to start over it, and a running console refuses every account and
accusing action (409), naming both fingerprints. A case whose status row was edited back to
``identified`` after a sealed withdrawal is shown unproven on the board and the case page's API, with
the reason the documents give ("status altered"). SQLite (the letters world).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.case_actions import record_decision
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import StoreError, open_store
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import key_file_fingerprint, witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.web.app import create_app
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.cases.evidence import node_key_for
from tests.cli.letter_world import T0, World, build_world
from tests.tampering import tamper_file
from tests.web.conftest import asgi_client, quick_user


def _settings(db: Path) -> WebSettings:
    trusted = workflow_trust(str(db), None, None, T0).fingerprints
    witness = witness_path(default_key_path(str(db)))
    return WebSettings(db=str(db), trusted_keys=trusted, node_key=node_key_for(db), witness=witness)


def _foreign_witness(world: World, witness: Path) -> str:
    """The attacker's own key registered and sealed in the database, its witness at ``witness``; returns
    its fingerprint."""
    mine = Ed25519PrivateKey.generate()
    store = open_store(str(world.db), node_key=mine, now_us=T0)
    try:
        assert store.node is not None
        with store._write(immediate=True) as conn:
            event = WorkflowEvent("note:1", "note", T0, b"\0" * 32)
            sealed, _ = ledger.commit(conn, store.node, 0, [event], ledger.Commit({}, {}, (), T0, None))
        write_witness(witness, mine, sealed.batch.last_index, sealed.batch.head_hash)
    finally:
        store.close()
    return key_fingerprint(public_key_raw(mine))


async def test_a_witness_of_another_key_is_refused_at_start_and_while_serving(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    settings = _settings(world.db)
    assert settings.witness is not None
    owner = key_file_fingerprint(default_key_path(str(world.db)))
    assert owner is not None
    app = create_app(settings, store=world.store)
    counsel = asgi_client(app, *quick_user(world.store, "counsel", Role.COUNSEL, None))
    try:
        assert (await counsel.get(f"/api/cases/{world.dois[0]}")).status_code == 200
        mine = _foreign_witness(world, settings.witness)
        answer = await counsel.get(f"/api/cases/{world.dois[0]}")
        assert answer.status_code == 409, answer.text
        detail = answer.json()["detail"]
        assert "is foreign" in detail and mine in detail and owner in detail, detail
    finally:
        await counsel.aclose()
        world.store.close()
    with pytest.raises(StoreError, match="is foreign"):
        create_app(_settings(world.db))


async def test_a_status_edited_without_the_key_is_unproven_on_the_board(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    doe = world.dois[0]
    record_decision(world.store, doe, "withdraw", "counsel", None, T0 + 1)
    edit = f"UPDATE legal_case SET status = 'identified', closed_us = NULL WHERE doe = '{doe}'"
    tamper_file(world.db, edit)
    app = create_app(_settings(world.db), store=world.store)
    counsel = asgi_client(app, *quick_user(world.store, "counsel", Role.COUNSEL, None))
    try:
        case = (await counsel.get(f"/api/cases/{doe}")).json()["case"]
        board = (await counsel.get("/api/cases")).json()
    finally:
        await counsel.aclose()
        world.store.close()
    assert case["proven"] is False and "status altered" in case["unproven"], case
    (shown,) = [c for column in board for c in column["cases"] if c["doe"] == doe]
    assert shown["proven"] is False and "status altered" in shown["unproven"], shown
    others = [c for column in board for c in column["cases"] if c["doe"] != doe]
    assert others and all(c["proven"] for c in others), others
