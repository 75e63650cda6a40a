"""``letters remind`` and ``letters expire`` rest on the SEALED history, not on the letter and payment rows:
someone with write access to the database file (triggers dropped) but without the node key backdates a sent
letter (a reminder drafted, sealed and sent a few minutes after the first letter, its deadline weeks away),
re-prices it (a reminder for a hundred times the claim) or deletes a payment; no reminder is drafted and no
case expires on those rows, the case is named ("terms altered", "status altered"), and the honest cases
beside it go on. SQLite (the letters world).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.case_state import status_problem
from swarmscope.cases.letter_flow import expire_letters, remind_letters
from swarmscope.cases.letter_settings import format_amount
from swarmscope.cases.payments import record_payment
from swarmscope.cases.workflow import CaseEvent
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.workflow_seals import workflow_history
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import DAY, HOUR, SETTINGS, T0, World, draft_approve, send, status
from tests.tampering import tamper_file

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def _sent(world: World, smtp: SmtpServer, dois: list[str], out: Path) -> list[letter_store.LetterRow]:
    """Draft, approve and send each case's initial letter at T0 + 1 h (all sealed)."""
    rows = []
    for doe in dois:
        draft_approve(world, doe)
        rows.append(send(world, doe, smtp, out, T0 + HOUR).letter)
    return rows


def _errors(stderr: str) -> list[str]:
    """stderr less the warning that the world (sealed through the API) has no chain-head witness yet."""
    return [line for line in stderr.splitlines() if not line.startswith("warning: no chain-head witness")]


def _letter_id(world: World, doe: str) -> int:
    return letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)[0].id


def test_a_backdated_letter_gets_no_reminder_and_does_not_expire(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Two hours after sending (deadline 28 days out) the writer moves one sent letter's sending and
    deadline back 30 days: no reminder, no expiry; the case is named with the letter as stored now and
    the sealed sending no row matches. Past the real deadline the honest case gets its reminder, the
    backdated one still none."""
    honest, backdated = world.dois[0], world.dois[2]
    first, _ = _sent(world, smtp, [honest, backdated], tmp_path)
    soon = T0 + 2 * HOUR
    assert remind_letters(world.store, SETTINGS, "counsel", soon) == []
    month = 30 * DAY
    tamper_file(
        world.db,
        f"UPDATE letter SET sent_us = sent_us - {month}, deadline_us = deadline_us - {month} "
        f"WHERE id = {_letter_id(world, backdated)}",
    )
    with pytest.raises(UnprovenCase, match=f"{backdated}: refused: terms altered"):
        remind_letters(world.store, SETTINGS, "counsel", soon)
    refused: list[str] = []
    assert remind_letters(world.store, SETTINGS, "counsel", soon, refused) == []
    assert expire_letters(world.store, "counsel", soon, refused) == []
    assert len(refused) == 2 and all(
        r.startswith(f"{backdated}: refused: terms altered (letter RF") for r in refused
    )
    assert "matches no sealed letter_sent" in refused[0]
    assert "the letter_sent sealed at 2026-05-28T" in refused[0] and "has no matching row" in refused[0]
    late, refused = first.deadline_us + 1, []
    (reminder,) = remind_letters(world.store, SETTINGS, "counsel", late, refused)
    assert reminder.case_id == case_status.get_case(world.store, honest).id and len(refused) == 1
    assert [status(world, d) for d in (honest, backdated)] == ["sent", "sent"]


def test_a_repriced_letter_or_a_deleted_payment_prices_no_reminder(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Past the deadline, one case partly paid (100.00 of 450.00, sealed): its reminder asks 350.00. With
    the first letter re-priced to 45,000.00 no reminder is drafted; with the payment row deleted neither
    (the sealed payment names the row that is gone)."""
    repriced, paid = world.dois[0], world.dois[2]
    first, second = _sent(world, smtp, [repriced, paid], tmp_path)
    record_payment(world.store, paid, 10_000, second.payment_reference, currency="EUR", received_us=T0 + DAY,
                   method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    tamper_file(world.db, f"UPDATE letter SET amount_cents = 4500000 WHERE id = {first.id}")
    late, refused = max(first.deadline_us, second.deadline_us) + 1, []
    with pytest.raises(UnprovenCase, match=f"{repriced}: refused: terms altered .*45,000.00 EUR"):
        remind_letters(world.store, SETTINGS, "counsel", late)
    (reminder,) = remind_letters(world.store, SETTINGS, "counsel", late, refused)
    assert (reminder.amount_cents, reminder.currency) == (first.amount_cents - 10_000, "EUR")
    (why,) = refused
    assert why.startswith(f"{repriced}: refused: terms altered (letter RF") and "45,000.00 EUR" in why
    tamper_file(world.db, f"DELETE FROM letter WHERE id = {reminder.id}", "DELETE FROM payment")
    refused = []
    assert remind_letters(world.store, SETTINGS, "counsel", late, refused) == []
    assert any(r.startswith(f"{paid}: refused: terms altered (the payment sealed at ") for r in refused)


def test_a_copied_payment_row_is_not_counted_twice(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    """Half the claim paid (sealed once); the writer copies the payment row: the copy matches the same
    sealed payment as the original, so past the deadline the case is refused ("terms altered", the copy
    named) instead of being taken as settled; with the copy gone its reminder asks the other half."""
    (sent,) = _sent(world, smtp, [world.dois[2]], tmp_path)
    half = sent.amount_cents // 2
    record_payment(world.store, world.dois[2], half, sent.payment_reference, currency=sent.currency,
                   received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    columns = "case_id, amount_cents, currency, received_us, reference, method, recorded_us, note"
    tamper_file(world.db, f"INSERT INTO payment ({columns}) SELECT {columns} FROM payment")
    late, refused = sent.deadline_us + 1, []
    assert remind_letters(world.store, SETTINGS, "counsel", late, refused) == []
    (why,) = refused
    assert why.startswith(f"{world.dois[2]}: refused: terms altered (payment ")
    assert "repeats a sealed payment that another row already matches" in why
    tamper_file(world.db, "DELETE FROM payment WHERE id = (SELECT max(id) FROM payment)")
    (reminder,) = remind_letters(world.store, SETTINGS, "counsel", late)
    assert reminder.amount_cents == sent.amount_cents - half


def test_cli_remind_names_each_refused_case_and_fails_after_the_rest(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """``letters remind`` (system clock, the node key beside the database) drafts the honest case's
    reminder, prints one error line for the re-priced case and exits 1; ``letters expire`` likewise."""
    honest, repriced = world.dois[0], world.dois[2]
    _sent(world, smtp, [honest, repriced], tmp_path)
    tamper_file(
        world.db, f"UPDATE letter SET amount_cents = 4500000 WHERE id = {_letter_id(world, repriced)}"
    )
    result = CliRunner().invoke(app, ["letters", "remind", "--db", str(world.db)])
    assert result.exit_code == 1 and result.stdout.count("drafted reminder RF") == 1, result.output
    (error,) = _errors(result.stderr)
    assert error.startswith(f"error: {repriced}: refused: terms altered (letter RF"), result.stderr
    result = CliRunner().invoke(app, ["letters", "expire", "--db", str(world.db)])
    assert result.exit_code == 1 and result.stdout == f"{honest}: no response by the deadline\n"
    (error,) = _errors(result.stderr)
    assert error.startswith(f"error: {repriced}: refused: terms altered"), result.stderr
    assert [status(world, d) for d in (honest, repriced)] == ["no_response", "sent"]


def test_a_partly_paid_case_set_to_paid_is_status_altered(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """Half the claim paid (sealed); the writer sets the status column to ``paid``: ``letters remind`` and
    ``letters expire`` (system clock, past the deadline) name the case "status altered" with what is
    still owed and exit 1, instead of skipping it as settled; the honest case beside it goes on."""
    honest, partly = world.dois[0], world.dois[2]
    _, sent = _sent(world, smtp, [honest, partly], tmp_path)
    half = sent.amount_cents // 2
    record_payment(world.store, partly, half, sent.payment_reference, currency=sent.currency,
                   received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    tamper_file(world.db, f"UPDATE legal_case SET status = 'paid' WHERE doe = '{partly}'")
    for command, done in (("remind", "drafted reminder RF"), ("expire", f"{honest}: no response")):
        result = CliRunner().invoke(app, ["letters", command, "--db", str(world.db)])
        assert result.exit_code == 1 and result.stdout.count(done) == 1, result.output
        (error,) = _errors(result.stderr)
        owed = f"leave {format_amount(sent.amount_cents - half, 'EUR')} of the claim of "
        assert error.startswith(f"error: {partly}: refused: status altered (it says 'paid'"), result.stderr
        assert f"{owed}{format_amount(sent.amount_cents, 'EUR')} unpaid)" in error, result.stderr
    assert status(world, partly) == "paid"


def _status_problem(world: World, doe: str) -> str | None:
    history = workflow_history(world.store, store_trust(world.store, None))
    return status_problem(history, case_status.get_case(world.store, doe))


def test_an_expiry_is_sealed_and_a_case_set_to_no_response_early_is_status_altered(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """``letters expire`` seals the expiry; a case the writer sets to ``no_response`` before its deadline
    has none: "status altered", and ``letters expire`` names it. A case expired before expiries were
    sealed (moved without a seal) is sealed by the next ``letters expire`` once its proven deadline has
    passed."""
    honest, early, old = world.dois
    first, _, _ = _sent(world, smtp, [honest, early, old], tmp_path)
    tamper_file(world.db, f"UPDATE legal_case SET status = 'no_response' WHERE doe = '{early}'")
    why = _status_problem(world, early)
    assert why is not None and why.startswith(f"{early}: refused: status altered (it says 'no_response'")
    refused: list[str] = []
    assert expire_letters(world.store, "counsel", T0 + 2 * HOUR, refused) == [] and refused == [why]
    late = first.deadline_us + 1
    move_case(world.store, old, CaseEvent.EXPIRE, "counsel", "expired unsealed", late)
    assert _status_problem(world, old) is not None
    assert expire_letters(world.store, "counsel", late) == [honest, early, old]
    history = workflow_history(world.store, store_trust(world.store, None))
    assert [len(history.of(doe, "letter_expired")) for doe in world.dois] == [1, 1, 1]
    assert [_status_problem(world, doe) for doe in world.dois] == [None, None, None]
    assert expire_letters(world.store, "counsel", late + 1) == []


def test_an_unsealed_copy_of_the_sent_letter_is_named_not_skipped(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The writer copies a sent letter as an unsent approved one under a new reference: past the deadline
    ``letters remind`` no longer takes it for a pending reminder and skips the case unnamed; it names the
    case, "letter row not sealed", and exits 1 while the honest case gets its reminder."""
    honest, copied = world.dois[0], world.dois[2]
    _sent(world, smtp, [honest, copied], tmp_path)
    columns = (
        "case_id, kind, amount_cents, currency, deadline_us, settings_json, approved_sha256, approved_by, "
        "approved_us, created_us"
    )
    tamper_file(
        world.db,
        f"INSERT INTO letter (payment_reference, {columns}) SELECT 'RF09000000299', {columns} FROM letter "
        f"WHERE id = {_letter_id(world, copied)}",
    )
    result = CliRunner().invoke(app, ["letters", "remind", "--db", str(world.db)])
    assert result.exit_code == 1 and result.stdout.count("drafted reminder RF") == 1, result.output
    (error,) = _errors(result.stderr)
    assert error.startswith(f"error: {copied}: refused: letter row not sealed (its newest letter RF09"), error
    reminders = [r.case_id for r in letter_store.list_letters(world.store) if r.kind == "reminder"]
    assert reminders == [case_status.get_case(world.store, honest).id]
