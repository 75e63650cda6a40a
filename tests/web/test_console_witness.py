"""The console keeps the chain-head witness as the CLI does (README "Chain-head witness").

A decision sealed in the browser (a payment) moves the witness beside the node key file on; someone who
can write the database file but lacks the node key then deletes that payment's batch, entry, event and row:
the console refuses every accusing action (letter preview, exhibits) with 409 naming the witness, and a
console started over that database refuses to start, as ``verify --db`` and ``escalations`` do. SQLite
(the letters world).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.cases.letter_flow import draft_letters
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.store.database import StoreError
from swarmscope.store.ledger.head_witness import read_witness, witness_path
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import case_status
from swarmscope.web.app import create_app
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.cases.evidence import node_key_for
from tests.cli.letter_world import SETTINGS, T0, build_world, draft_approve, send
from tests.tampering import truncate_last_payment
from tests.web.conftest import asgi_client, quick_user


def _settings(db: Path) -> WebSettings:
    trusted = workflow_trust(str(db), None, None, T0).fingerprints
    witness = witness_path(default_key_path(str(db)))
    return WebSettings(db=str(db), trusted_keys=trusted, node_key=node_key_for(db), witness=witness)


async def test_a_console_seal_moves_the_witness_and_a_truncated_tail_is_refused(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    settings = _settings(world.db)
    assert settings.witness is not None and not settings.witness.exists()
    paid, other = world.dois[1], world.dois[2]
    draft_approve(world, paid)
    draft_letters(world.store, SETTINGS, [other], "counsel", T0)
    sent = send(world, paid, None, tmp_path / "out", T0 + 2)
    app = create_app(settings, store=world.store)
    counsel = asgi_client(app, *quick_user(world.store, "counsel", Role.COUNSEL, None))
    try:
        before = read_witness(settings.witness)
        body = {"amount": "450.00", "reference": sent.letter.payment_reference, "currency": "EUR"}
        done = await counsel.post(
            f"/api/cases/{paid}/payment", json=body, headers={"x-csrf-token": counsel.csrf}
        )  # type: ignore[attr-defined]
        assert done.status_code == 200, done.text
        after = read_witness(settings.witness)
        assert after is not None and (before is None or after[0].last_index > before[0].last_index)
        ok = await counsel.get(f"/api/cases/{other}/letter")
        assert ok.status_code == 200, ok.text
        truncate_last_payment(world.db, sent.letter.case_id)
        assert case_status.get_case(world.store, paid).status == "sent"
        preview = await counsel.get(f"/api/cases/{other}/letter")
        exhibits = await counsel.post("/requests/exhibits.zip", data={"csrf_token": counsel.csrf})  # type: ignore[attr-defined]
        for answer in (preview, exhibits):
            assert answer.status_code == 409, answer.text
            detail = answer.json()["detail"]
            assert "its chain lacks the witnessed head" in detail and str(settings.witness) in detail
    finally:
        await counsel.aclose()
        world.store.close()
    with pytest.raises(StoreError, match="its chain lacks the witnessed head"):
        create_app(_settings(world.db))
