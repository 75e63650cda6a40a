"""A misspelt field of a payment or dispute sent to the JSON API is refused (400), never dropped.

As the research export's request refuses unknown fields ("a misspelt ``infohashes`` would otherwise
export every swarm"), so do the payment, dispute and approval bodies: a ``{"recieved": "..."}`` dropped
would have the entry sealed with the time of the request as its received time (``cases/received.py``),
and the script that sent it told nothing. A sealed workflow decision should carry what its author sent or
nothing (pydantic ``ConfigDict(extra="forbid")``, as ``web/research.ExportRequest``).
"""

from __future__ import annotations

from pathlib import Path

from swarmscope.store.legal import letters as letter_store
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries


async def test_a_misspelt_field_is_refused_and_nothing_is_sealed(console: Console, tmp_path: Path) -> None:
    paid, disputed = console.world.dois[0], console.world.dois[1]
    draft_approve(console.world, paid)
    sent = send(console.world, paid, None, tmp_path / "out", T0 + 2)
    draft_approve(console.world, disputed)
    counsel = console["counsel"]
    headers = {"x-csrf-token": counsel.csrf}  # type: ignore[attr-defined]
    before = ledger_entries(console)
    body = {"amount": "450.00", "reference": sent.letter.payment_reference, "recieved": "2026-05-20T10:00Z"}
    payment = await counsel.post(f"/api/cases/{paid}/payment", json=body, headers=headers)
    dispute = await counsel.post(
        f"/api/cases/{disputed}/dispute", json={"summary": "no", "recieved": "2026-05-20"}, headers=headers
    )
    assert letter_store.list_payments(console.world.store, sent.letter.case_id) == []
    assert ledger_entries(console) == before
    assert (payment.status_code, dispute.status_code) == (400, 400)


async def test_the_refusal_names_the_unknown_field(console: Console) -> None:
    """One line naming the field, for a payment, a dispute and a letter approval alike."""
    doe = console.world.dois[0]
    draft_approve(console.world, doe)
    counsel = console["counsel"]
    headers = {"x-csrf-token": counsel.csrf}  # type: ignore[attr-defined]
    before = ledger_entries(console)
    answers = [
        await counsel.post(
            f"/api/cases/{doe}/dispute", json={"summary": "no", "recieved": "x"}, headers=headers
        ),
        await counsel.post(
            f"/api/cases/{doe}/payment", json={"amount": "1", "reference": "r", "methd": "x"}, headers=headers
        ),
        await counsel.post(
            f"/api/cases/{doe}/letter/approve", json={"digest": "0" * 64, "by": "x"}, headers=headers
        ),
    ]
    assert [(a.status_code, a.json()["detail"].split(":")[0]) for a in answers] == [
        (400, "recieved"),
        (400, "methd"),
        (400, "by"),
    ]
    assert ledger_entries(console) == before
