"""``payments record`` and ``disputes record`` on a real store: references, currency, partial payments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases import letter_settings as LS
from swarmscope.cases import payment_reference as PR
from swarmscope.cases.case_actions import record_dispute
from swarmscope.cases.payments import record_payment
from swarmscope.cases.workflow import WorkflowError
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.payments import parse_received
from swarmscope.errors import InputError
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.testbed.smtp import SmtpServer, start_smtp
from tests.cli.letter_world import DAY, HOUR, T0, World, build_world, draft_approve, send

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


@pytest.fixture
def sent_world(tmp_path: Path) -> Iterator[tuple[World, letter_store.LetterRow]]:
    """The world with DOE-000001's initial letter e-mailed (450.00 EUR)."""
    world = build_world(tmp_path)
    server: SmtpServer = start_smtp("127.0.0.1")
    try:
        draft_approve(world, world.dois[0])
        letter = send(world, world.dois[0], server, None, T0 + HOUR).letter
        yield world, letter
    finally:
        server.stop()
        world.store.close()


def pay(world: World, amount: str, reference: str, currency: str | None = None) -> tuple[object, str]:
    return record_payment(
        world.store, world.dois[0], LS.parse_amount(amount), reference, currency=currency,
        received_us=T0 + 2 * DAY, method="bank transfer", actor="clerk", now_us=T0 + 3 * DAY,
    )  # fmt: skip


def test_full_payment_pays_the_case(sent_world: tuple[World, letter_store.LetterRow]) -> None:
    world, letter = sent_world
    _, status = pay(world, "450.00", PR.grouped(letter.payment_reference).lower())
    assert status == "paid"
    (payment,) = letter_store.list_payments(world.store, letter.case_id)
    assert (payment.amount_cents, payment.currency, payment.reference) == (
        45_000,
        "EUR",
        letter.payment_reference,
    )
    assert case_status.get_case(world.store, world.dois[0]).closed_us == T0 + 3 * DAY
    with pytest.raises(InputError, match="already paid"):
        pay(world, "1.00", letter.payment_reference)


def test_partial_payments_add_up(sent_world: tuple[World, letter_store.LetterRow]) -> None:
    world, letter = sent_world
    row, status = pay(world, "200.00", letter.payment_reference)
    assert status == "sent" and "outstanding 250.00 EUR" in (row.note or "")  # type: ignore[attr-defined]
    row, status = pay(world, "300.00", letter.payment_reference)
    assert status == "paid" and "overpaid by 50.00 EUR" in (row.note or "")  # type: ignore[attr-defined]
    assert len(letter_store.list_payments(world.store, letter.case_id)) == 2


@pytest.mark.parametrize(
    ("reference", "currency", "message"),
    [
        ("RF18 5390 0754 7034", None, "not on any letter sent"),  # valid, but someone else's
        ("RF00 0000 0010 1", None, "check digits"),
        (None, "USD", "differs from the letter"),
    ],
)
def test_payment_mismatches_are_refused(
    sent_world: tuple[World, letter_store.LetterRow],
    reference: str | None,
    currency: str | None,
    message: str,
) -> None:
    world, letter = sent_world
    with pytest.raises(InputError, match=message):
        pay(world, "450.00", reference or letter.payment_reference, currency)
    assert letter_store.list_payments(world.store, letter.case_id) == []


def test_reference_of_an_unsent_letter_is_refused(sent_world: tuple[World, letter_store.LetterRow]) -> None:
    world, _ = sent_world
    draft = draft_approve(world, world.dois[1])  # approved, never sent
    with pytest.raises(InputError, match="not on any letter sent"):
        record_payment(world.store, world.dois[1], 45_000, draft.payment_reference, currency=None,
                       received_us=T0, method=None, actor="clerk", now_us=T0)  # fmt: skip


def test_dispute_then_settlement(sent_world: tuple[World, letter_store.LetterRow]) -> None:
    world, letter = sent_world
    with pytest.raises(WorkflowError):  # nothing sent yet for DOE-000002: nothing to dispute
        record_dispute(world.store, world.dois[1], "not me", received_us=T0, actor="clerk", now_us=T0)
    with pytest.raises(InputError):
        record_dispute(world.store, world.dois[0], "  ", received_us=T0, actor="clerk", now_us=T0)
    record_dispute(
        world.store, world.dois[0], "shared flat", received_us=T0 + DAY, actor="clerk", now_us=T0 + DAY
    )
    (dispute,) = letter_store.list_disputes(world.store, letter.case_id)
    assert dispute.summary == "shared flat"
    _, status = pay(world, "450.00", letter.payment_reference)  # a disputed case may still settle
    assert status == "paid"


def test_cli_payment_and_dispute(sent_world: tuple[World, letter_store.LetterRow]) -> None:
    world, letter = sent_world
    runner, db = CliRunner(), str(world.db)
    record = [
        "payments",
        "record",
        world.dois[0],
        "--amount",
        "100.00",
        "--reference",
        letter.payment_reference,
    ]
    result = runner.invoke(app, [*record, "--received", "2026-06-01T10:00:00", "--db", db])
    assert result.exit_code == 0 and "outstanding 350.00 EUR" in result.output, result.output
    assert letter_store.list_payments(world.store, letter.case_id)[0].received_us == parse_received(
        "2026-06-01T10:00Z"
    )
    result = runner.invoke(
        app, ["payments", "record", world.dois[0], "--amount", "1,00", "--reference", "x", "--db", db]
    )
    assert result.exit_code == 1 and "error:" in result.output
    long_method = [*record, "--method", "m" * 101, "--db", db]
    refused = runner.invoke(app, long_method)
    assert refused.exit_code == 1 and "payment method: at most 100 characters" in refused.output
    long_summary = ["disputes", "record", world.dois[0], "--summary", "x" * 4001, "--db", db]
    refused = runner.invoke(app, long_summary)
    assert refused.exit_code == 1 and "dispute summary: at most 4000 characters" in refused.output
    assert case_status.get_case(world.store, world.dois[0]).status != "disputed"
    result = runner.invoke(app, ["disputes", "record", world.dois[0], "--summary", "not me", "--db", db])
    assert result.exit_code == 0, result.output
    assert case_status.get_case(world.store, world.dois[0]).status == "disputed"


@pytest.mark.parametrize("received", [T0 - DAY, T0 + 30 * DAY], ids=["before-the-letter", "in-the-future"])
def test_a_receipt_date_before_the_letter_or_in_the_future_is_refused(
    sent_world: tuple[World, letter_store.LetterRow], received: int
) -> None:
    world, letter = sent_world
    refused = r"received: (before the letter was sent|after the end of today at UTC\+14)"
    with pytest.raises(InputError, match=refused):
        record_payment(
            world.store, world.dois[0], 45_000, letter.payment_reference, currency=None,
            received_us=received, method=None, actor="clerk", now_us=T0 + 3 * DAY,
        )  # fmt: skip
    assert letter_store.list_payments(world.store, letter.case_id) == []


@pytest.mark.parametrize(
    "received", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2999-01-01T00:00:00", "-5"]
)
@pytest.mark.parametrize("command", ["payments", "disputes"])
def test_a_received_time_out_of_range_is_one_line_and_nothing_is_sealed(
    sent_world: tuple[World, letter_store.LetterRow], received: str, command: str
) -> None:
    world, letter = sent_world
    what = ["--amount", "450.00", "--reference", letter.payment_reference] if command == "payments" else [
        "--summary", "not me"
    ]  # fmt: skip
    args = [command, "record", world.dois[0], *what, "--received", received, "--db", str(world.db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if not line.startswith("warning:")]
    assert "Traceback" not in result.output and len(errors) == 1  # the world has no chain-head witness
    assert errors[0].startswith("error: --received:") and "not between" in errors[0]
    assert letter_store.list_payments(world.store, letter.case_id) == []
    assert letter_store.list_disputes(world.store, letter.case_id) == []
    assert case_status.get_case(world.store, world.dois[0]).status == "sent"


def test_a_dispute_before_the_case_was_opened_is_refused(
    sent_world: tuple[World, letter_store.LetterRow],
) -> None:
    world, letter = sent_world
    case = case_status.get_case(world.store, world.dois[0])
    for received in (case.created_us - 1, T0 + 5 * DAY):
        refused = r"received: (before the case was opened|after the end of today at UTC\+14)"
        with pytest.raises(InputError, match=refused):
            record_dispute(
                world.store, world.dois[0], "x", received_us=received, actor="c", now_us=T0 + 3 * DAY
            )
    assert letter_store.list_disputes(world.store, letter.case_id) == []


@pytest.mark.parametrize("amount", ["nan", "inf", "-1", "1e400"])
def test_a_bad_amount_is_the_only_line_and_nothing_is_opened(
    sent_world: tuple[World, letter_store.LetterRow], amount: str
) -> None:
    """The amount is checked before the store opens: one line, no warning about the store before it."""
    world, letter = sent_world
    args = ["payments", "record", world.dois[0], "--amount", amount, "--reference", letter.payment_reference,
            "--db", str(world.db)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith("error:") and "Traceback" not in result.output
    assert letter_store.list_payments(world.store, letter.case_id) == []
