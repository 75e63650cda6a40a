"""Payment and dispute entry in the console: bad input is 400 with one line and nothing is sealed; the
payment form takes the API's ``method``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from swarmscope.cases.received import RECEIVED_RULE
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from tests.cli.letter_world import T0, draft_approve, send
from tests.web.letter_console import Console, ledger_entries

FAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2999-01-01T00:00:00", "1999-12-31T23:00Z"]


def _paid_sent_disputed_drafted(console: Console, tmp_path: Path) -> tuple[str, str, Any, Any, int, str]:
    """The first case's letter sent (to be paid), the second's approved (to be disputed); counsel's client,
    the ledger's entry count before the entries, and counsel's CSRF token."""
    paid, disputed = console.world.dois[0], console.world.dois[1]
    draft_approve(console.world, paid)
    sent = send(console.world, paid, None, tmp_path / "out", T0 + 2)
    draft_approve(console.world, disputed)
    counsel = console["counsel"]
    return paid, disputed, sent, counsel, ledger_entries(console), counsel.csrf  # type: ignore[attr-defined]


async def test_received_times_out_of_range_are_400_and_nothing_is_sealed(
    console: Console, tmp_path: Path
) -> None:
    paid, disputed, sent, counsel, before, csrf = _paid_sent_disputed_drafted(console, tmp_path)
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


def _kiritimati_today() -> str:
    """Today's date at UTC+14, the furthest-ahead time zone (Pacific/Kiritimati)."""
    return (datetime.now(UTC) + timedelta(hours=14)).date().isoformat()


async def test_a_receipt_dated_after_today_in_every_time_zone_is_400_and_the_form_says_the_rule(
    console: Console, tmp_path: Path
) -> None:
    paid, disputed, sent, counsel, before, csrf = _paid_sent_disputed_drafted(console, tmp_path)
    page = await counsel.get(f"/cases/{paid}", headers={"accept": "text/html"})
    assert page.text.count(RECEIVED_RULE.replace("'", "&#39;")) == 2  # payment and dispute forms
    today = _kiritimati_today()
    tomorrow = (datetime.fromisoformat(today) + timedelta(days=1)).date().isoformat()
    for received in (f"{tomorrow}T00:00:00+14:00", tomorrow):  # at most a day ahead of UTC: so far taken
        form = {"amount": "10", "reference": sent.letter.payment_reference, "received": received,
                "csrf_token": csrf}  # fmt: skip
        answer = await counsel.post(f"/cases/{paid}/payment", data=form)
        body = {"summary": "x", "received": received}
        api = await counsel.post(f"/api/cases/{disputed}/dispute", json=body, headers={"x-csrf-token": csrf})
        if _kiritimati_today() != today:  # midnight at UTC+14 passed meanwhile: tomorrow is today there
            return
        assert answer.status_code == 400 and "in the future in every time zone" in answer.text, received
        assert api.status_code == 400 and api.json()["detail"].startswith(f"received: {received!r} is not")
    assert ledger_entries(console) == before
    assert letter_store.list_payments(console.world.store, sent.letter.case_id) == []
    form = {"amount": "10", "reference": sent.letter.payment_reference, "received": today, "csrf_token": csrf}
    assert (await counsel.post(f"/cases/{paid}/payment", data=form)).status_code == 303  # today somewhere
