"""A payment is taken only against a letter its SEALED sending proves, never against the letter row alone.

The attack (review of the legal workflow): someone who can write the database file but lacks the node key
writes ``sent_us`` into an approved, never-sent letter's row (and may move the case to ``sent``), then
records a payment for it: the row says "sent", no ``letter_sent`` event does. ``payments record`` and the
console's payment route (the same :func:`swarmscope.cases.payments.record_payment`) refuse it in one line,
nothing stored or sealed; and a payment dated before the sealed sending is refused although the row's
``sent_us`` was moved back to let it pass. SQLite (the letters world, tests/cli/letter_world.py).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from swarmscope.cases.payments import record_payment
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.errors import InputError
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.testbed.smtp import SmtpServer, start_smtp
from tests.cli.letter_world import DAY, HOUR, T0, World, draft_approve, send
from tests.tampering import tamper_file

register_commands()


def _payments(world: World) -> int:
    cases = case_status.list_cases(world.store)
    return sum(len(letter_store.list_payments(world.store, c.id)) for c in cases)


@pytest.mark.parametrize("status", ["approved", "sent"])
def test_a_sent_us_written_into_an_unsent_letter_takes_no_payment(world: World, status: str) -> None:
    """DOE-000001's letter is approved, never sent; the writer gives its row a ``sent_us`` (and the case
    the status ``status``). A partial payment (which leaves the status alone) and a full one are both
    refused, by the API and by ``payments record`` (one line, exit status 1), and nothing is stored."""
    doe = world.dois[0]
    approved = draft_approve(world, doe)
    tamper_file(
        world.db,
        f"UPDATE letter SET sent_us = {T0 + HOUR} WHERE id = {approved.id}",
        f"UPDATE legal_case SET status = '{status}' WHERE doe = '{doe}'",
    )
    for cents in (10_000, approved.amount_cents):
        with pytest.raises(InputError, match=f"{doe}: refused: (terms|status) altered"):
            record_payment(world.store, doe, cents, approved.payment_reference, currency=None,
                           received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + 2 * DAY)  # fmt: skip
    args = ["payments", "record", doe, "--amount", "100.00", "--reference", approved.payment_reference]
    result = CliRunner().invoke(app, [*args, "--db", str(world.db)])
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert errors[0].startswith(f"error: {doe}: refused: "), result.output
    assert "Traceback" not in result.output and "recorded" not in result.output
    assert _payments(world) == 0


def test_a_payment_before_the_sealed_sending_is_refused(world: World) -> None:
    """The letter left at T0 + 1 h (sealed); its row's ``sent_us`` moved back a week no longer lets a
    payment received before the sending through: the row matches no sealed sending; the honest row takes
    a payment received after it."""
    doe = world.dois[0]
    server: SmtpServer = start_smtp("127.0.0.1")
    try:
        draft_approve(world, doe)
        letter = send(world, doe, server, None, T0 + HOUR).letter
    finally:
        server.stop()
    assert letter.sent_us == T0 + HOUR
    early = T0 + HOUR // 2
    with pytest.raises(InputError, match="before the letter was sent"):
        record_payment(world.store, doe, 10_000, letter.payment_reference, currency=None,
                       received_us=early, method=None, actor="clerk", now_us=T0 + 2 * DAY)  # fmt: skip
    tamper_file(world.db, f"UPDATE letter SET sent_us = {T0 - 7 * DAY} WHERE id = {letter.id}")
    altered = f"{doe}: refused: terms altered \\(letter {letter.payment_reference}"
    with pytest.raises(InputError, match=altered):
        record_payment(world.store, doe, 10_000, letter.payment_reference, currency=None,
                       received_us=early, method=None, actor="clerk", now_us=T0 + 2 * DAY)  # fmt: skip
    assert _payments(world) == 0
    tamper_file(world.db, f"UPDATE letter SET sent_us = {T0 + HOUR} WHERE id = {letter.id}")
    row, status = record_payment(world.store, doe, 10_000, letter.payment_reference, currency=None,
                                 received_us=T0 + 2 * HOUR, method=None, actor="clerk",
                                 now_us=T0 + 2 * DAY)  # fmt: skip
    assert status == "sent" and us_to_iso(row.received_us) == us_to_iso(T0 + 2 * HOUR)


def test_a_letter_sent_days_after_its_draft_takes_its_payment(world: World) -> None:
    """Counsel drafts and approves on one day, the letter leaves two days later: sending moves the row's
    deadline to the sending time plus the term, and the letter as re-rendered for the payment check (the
    term counted from the sending) is still the one approved. Fails when the term is counted from the
    drafting time (the re-rendered preview says 30 days where 28 were approved: "terms altered")."""
    doe = world.dois[0]
    server: SmtpServer = start_smtp("127.0.0.1")
    try:
        draft_approve(world, doe)
        letter = send(world, doe, server, None, T0 + 2 * DAY).letter
    finally:
        server.stop()
    assert letter.sent_us == T0 + 2 * DAY
    row, status = record_payment(world.store, doe, letter.amount_cents, letter.payment_reference,
                                 currency=None, received_us=T0 + 3 * DAY, method=None, actor="clerk",
                                 now_us=T0 + 3 * DAY)  # fmt: skip
    assert status == "paid" and row.amount_cents == letter.amount_cents
    assert _payments(world) == 1
