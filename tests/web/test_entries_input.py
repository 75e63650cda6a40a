"""Payment and dispute entry in the console: bad input is 400 with one line and nothing is sealed; the
payment form takes the API's ``method``."""

from __future__ import annotations

from pathlib import Path

from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries

FAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2999-01-01T00:00:00", "1999-12-31T23:00Z"]


async def test_received_times_out_of_range_are_400_and_nothing_is_sealed(
    console: Console, tmp_path: Path
) -> None:
    paid, disputed = console.world.dois[0], console.world.dois[1]
    draft_approve(console.world, paid)
    sent = send(console.world, paid, None, tmp_path / "out", T0 + 2)
    draft_approve(console.world, disputed)
    counsel, before = console["counsel"], ledger_entries(console)
    csrf = counsel.csrf  # type: ignore[attr-defined]
    for received in FAR:
        form = {
            "amount": "10",
            "reference": sent.letter.payment_reference,
            "received": received,
            "csrf_token": csrf,
        }
        page = await counsel.post(f"/cases/{paid}/payment", data=form)
        assert page.status_code == 400 and "received" in page.text, (received, page.text[:300])
        body = {"summary": "x", "received": received}
        api = await counsel.post(f"/api/cases/{disputed}/dispute", json=body, headers={"x-csrf-token": csrf})
        assert api.status_code == 400 and api.json()["detail"].startswith("received:"), api.text
        dispute = await counsel.post(
            f"/cases/{disputed}/dispute", data={"summary": "x", "received": received, "csrf_token": csrf}
        )
        assert dispute.status_code == 400
    assert ledger_entries(console) == before
    assert case_status.get_case(console.world.store, disputed).status == "approved"
    assert letter_store.list_payments(console.world.store, sent.letter.case_id) == []
    bad = await counsel.post(f"/api/cases/{paid}/payment", json={"amount": "nan", "reference": "x"},
                             headers={"x-csrf-token": csrf})  # fmt: skip
    assert bad.status_code == 400 and "amount" in bad.json()["detail"]


async def test_the_payment_form_records_the_method(console: Console, tmp_path: Path) -> None:
    doe = console.world.dois[0]
    draft_approve(console.world, doe)
    sent = send(console.world, doe, None, tmp_path / "out", T0 + 2)
    counsel = console["counsel"]
    page = await counsel.get(f"/cases/{doe}", headers={"accept": "text/html"})
    assert 'name="method"' in page.text
    form = {"amount": "450.00", "reference": sent.letter.payment_reference, "method": "bank transfer",
            "csrf_token": counsel.csrf}  # type: ignore[attr-defined]  # fmt: skip
    assert (await counsel.post(f"/cases/{doe}/payment", data=form)).status_code == 303
    (payment,) = letter_store.list_payments(console.world.store, sent.letter.case_id)
    assert payment.method == "bank transfer"
    shown = await counsel.get(f"/cases/{doe}", headers={"accept": "text/html"})
    assert "by bank transfer" in shown.text
