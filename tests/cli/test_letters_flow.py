"""``letters draft → approve → send → remind → expire`` on a real store, delivering to a real SMTP server on
loopback (aiosmtpd, testbed/smtp.py) and reading what arrived; the approval and dispute gates.

The world and its helpers are in tests/cli/letter_world.py, the ``world`` and ``smtp`` fixtures in conftest.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases import letter_settings as LS
from swarmscope.cases import letters as L
from swarmscope.cases import payment_reference as PR
from swarmscope.cases.case_actions import record_dispute
from swarmscope.cases.letter_flow import (
    approve_letter,
    draft_letters,
    expire_letters,
    pending_approved,
    remind_letters,
)
from swarmscope.cases.workflow import CaseEvent, WorkflowError, next_case_status
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import StoreError
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.subscribers import audit_rows
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import DAY, HOUR, SETTINGS, T0, World, draft_approve, pdf_text, send, status

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def plain_body(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_approved_letter_is_emailed_with_its_pdf(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    doe = world.dois[0]
    draft_approve(world, doe)
    assert status(world, doe) == "approved"
    sent = send(world, doe, smtp, None, T0 + HOUR)
    assert status(world, doe) == "sent" and len(smtp.messages) == 1
    message = smtp.messages[0]
    assert smtp.envelopes[0].rcpt_tos == ("alex@example.test",)
    assert message["Message-ID"] == sent.message_id == sent.letter.message_id
    (attachment,) = list(message.iter_attachments())
    pdf = attachment.get_content()
    assert attachment.get_content_type() == "application/pdf" and pdf.startswith(b"%PDF-")
    assert sent.letter.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    text = pdf_text(pdf, tmp_path)
    ref = PR.grouped(sent.letter.payment_reference)
    for expected in ("450.00 EUR", ref, "Alex Sample", "127.0.0.11", "The Example Film", "example-film.mkv",
                     "Loopback Telecom", "associated with your internet account", "disputes@example.test",
                     "Verified hits 4", "25 June 2026"):  # fmt: skip
        assert expected in text, expected
    assert L.forbidden_wording(text) == [] and L.forbidden_wording(plain_body(message)) == []
    assert sent.letter.deadline_us == T0 + HOUR + 28 * DAY
    reads = [r for r in audit_rows(world.store, subject=f"case:{doe}") if r.action == "read"]
    assert [r.actor for r in reads] == ["alice"]


def test_postal_letter_is_written_and_marked_sent(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    doe = world.dois[1]  # no e-mail disclosed
    draft_approve(world, doe)
    with pytest.raises(LS.LetterError, match="--out"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert status(world, doe) == "approved"
    sent = send(world, doe, smtp, tmp_path / "post", T0 + HOUR)
    assert sent.message_id is None and sent.pdf_path is not None and not smtp.messages
    assert "Blake Sample" in pdf_text(sent.pdf_path.read_bytes(), tmp_path)
    events = case_status.case_events(world.store, doe)
    assert events[-1].status == "sent" and "postal mail" in (events[-1].note or "")


def test_unapproved_letter_cannot_be_sent(world: World, smtp: SmtpServer) -> None:
    doe = world.dois[0]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    with pytest.raises(LS.LetterError, match="not approved"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert pending_approved(world.store) == []
    (letter,) = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)
    with pytest.raises(StoreError):  # the store refuses too
        letter_store.mark_sent(world.store, letter.id, T0, "00" * 32, None, approved_sha256="00" * 32)
    with pytest.raises(WorkflowError):  # and the workflow: drafted → send is no move
        next_case_status(status(world, doe), CaseEvent.SEND)
    assert not smtp.messages and status(world, doe) == "drafted"
    assert all(
        r.action != "read" for r in audit_rows(world.store, subject=f"case:{doe}")
    )  # nothing decrypted
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 2)  # a redraft voids approval
    approve_letter(world.store, doe, "alice", T0 + 3)
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 4)
    with pytest.raises(LS.LetterError, match="not approved"):
        send(world, doe, smtp, None, T0 + HOUR)


def test_approval_needs_a_person_and_is_recorded(world: World) -> None:
    doe = world.dois[0]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    result = CliRunner().invoke(app, ["letters", "approve", doe, "--actor", " ", "--db", str(world.db)])
    assert result.exit_code == 1 and "actor" in result.output
    result = CliRunner().invoke(app, ["letters", "approve", doe, "--actor", "alice", "--db", str(world.db)])
    assert result.exit_code == 0, result.output
    (letter,) = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)
    assert letter.approved_by == "alice" and letter.approved_us is not None
    events = case_status.case_events(world.store, doe)
    assert (events[-1].status, events[-1].actor) == ("approved", "alice")


def test_dispute_stops_every_further_letter(world: World, smtp: SmtpServer) -> None:
    doe = world.dois[2]
    draft_approve(world, doe)
    send(world, doe, smtp, None, T0 + HOUR)
    deadline = T0 + HOUR + 28 * DAY
    remind_letters(world.store, SETTINGS, "counsel", deadline + DAY)
    reminder = approve_letter(world.store, doe, "alice", deadline + DAY)  # before the dispute
    record_dispute(world.store, doe, "the router was shared", received_us=deadline + 2 * DAY, actor="clerk",
                   now_us=deadline + 2 * DAY)  # fmt: skip
    assert status(world, doe) == "disputed"
    assert letter_store.get_letter(world.store, reminder.id).voided_us == deadline + 2 * DAY
    assert pending_approved(world.store) == []  # `letters send` has nothing to fail on
    with pytest.raises(LS.LetterError, match="no unsent letter"):
        send(world, doe, smtp, None, deadline + 3 * DAY)
    with pytest.raises(StoreError):  # the store refuses the voided letter too
        letter_store.mark_sent(world.store, reminder.id, deadline + 3 * DAY, "00" * 32, None,
                               approved_sha256=reminder.approved_sha256 or "")  # fmt: skip
    with pytest.raises(WorkflowError):
        draft_letters(world.store, SETTINGS, [doe], "counsel", deadline + 3 * DAY)
    assert remind_letters(world.store, SETTINGS, "counsel", deadline + 90 * DAY) == []
    assert expire_letters(world.store, "counsel", deadline + 90 * DAY) == []
    assert len(smtp.messages) == 1 and status(world, doe) == "disputed"
    assert letter_store.get_letter(world.store, reminder.id).sent_us is None


def test_reminder_then_expiry(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    doe = world.dois[0]
    draft_approve(world, doe)
    first = send(world, doe, smtp, None, T0 + HOUR).letter
    assert remind_letters(world.store, SETTINGS, "counsel", first.deadline_us - 1) == []
    assert expire_letters(world.store, "counsel", first.deadline_us - 1) == []
    (reminder,) = remind_letters(world.store, SETTINGS, "counsel", first.deadline_us + 1)
    assert reminder.kind == "reminder" and reminder.payment_reference != first.payment_reference
    assert pending_approved(world.store) == []  # a reminder needs its own approval
    approve_letter(world.store, doe, "alice", first.deadline_us + 2)
    sent = send(world, doe, smtp, None, first.deadline_us + 3)
    assert status(world, doe) == "sent" and len(smtp.messages) == 2
    assert "REMINDER" in pdf_text(next(iter(smtp.messages[1].iter_attachments())).get_content(), tmp_path)
    assert expire_letters(world.store, "counsel", sent.letter.deadline_us - 1) == []
    assert expire_letters(world.store, "counsel", sent.letter.deadline_us + 1) == [doe]
    assert status(world, doe) == "no_response"


def test_cli_draft_approve_send(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    runner, db = CliRunner(), str(world.db)
    settings = str(L.TEMPLATES / "settings.example.toml")
    draft = ["letters", "draft", "--all-identified", "--amount", "300.00", "--currency", "EUR"]
    result = runner.invoke(app, [*draft, "--deadline-days", "21", "--settings", settings, "--db", db])
    assert result.exit_code == 0, result.output
    assert result.output.count("drafted letter RF") == 3
    for doe in world.dois[:2]:
        assert runner.invoke(app, ["letters", "approve", doe, "--actor", "alice", "--db", db]).exit_code == 0
    args = ["letters", "send", "--identity-key", str(world.key_file), "--smtp-host", smtp.host, "--smtp-port",
            str(smtp.port), "--from", "letters@example.test", "--settings", settings, "--actor", "alice",
            "--out", str(tmp_path / "out"), "--db", db]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(smtp.messages) == 1 and "300.00 EUR" in plain_body(smtp.messages[0])
    assert [status(world, d) for d in world.dois] == ["sent", "sent", "drafted"]
    assert sorted(p.name.split("-initial")[0] for p in (tmp_path / "out").iterdir()) == world.dois[:2]
    # the head after the sendings, for counsel to record outside the database (README "Sealed ledger")
    (head,) = [line for line in result.stdout.splitlines() if line.startswith("chain head: node ")]
    anchor = head.split("--expect-head ")[1].rstrip(")")
    checked = runner.invoke(app, ["verify", "--db", db, "--expect-head", anchor])
    assert checked.exit_code == 0 and "VERIFIED" in checked.output, checked.output
