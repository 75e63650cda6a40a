"""What an approval binds and how a letter leaves (README "Letters") on a real store with a real
SMTP server on loopback: ``letters preview`` shows the content, ``approve`` records its digest, ``send``
renders from the settings frozen at drafting and refuses changed content; ``--out`` is checked before any
SMTP and a sending is recorded as soon as the server accepted it; letter PDFs are 0600; a dispute on a drafted
or approved case stops and voids its letter."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cases import letter_settings as LS
from swarmscope.cases import letters as L
from swarmscope.cases.case_actions import record_dispute
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.identities import Identity
from swarmscope.cases.identity_seal import seal_identified
from swarmscope.cases.letter_flow import approve_letter, draft_letters, pending_approved, preview_letter
from swarmscope.cases.letter_send import Delivery, send_letter
from swarmscope.cases.workflow import WorkflowError, next_request_status
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.net.smtp_client import MailError
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.disclosure_match import Disclosed
from swarmscope.store.legal.schema import legal_case, letter, subscriber
from swarmscope.store.legal.subscribers import audit_rows, stored_identity
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import (
    HOUR,
    SETTINGS,
    T0,
    World,
    draft_approve,
    pdf_text,
    send,
    status,
)

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

IBAN = "DE89 3704 0044 0532 0130 00"


def reads(world: World, doe: str) -> int:
    return sum(r.action == "read" for r in audit_rows(world.store, subject=f"case:{doe}"))


def send_args(world: World, smtp: SmtpServer, *extra: str) -> list[str]:
    return ["letters", "send", "--identity-key", str(world.key_file), "--smtp-host", smtp.host,
            "--smtp-port", str(smtp.port), "--actor", "alice", "--db", str(world.db), *extra]  # fmt: skip


def test_preview_shows_the_letter_and_approval_binds_its_digest(world: World, tmp_path: Path) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    pdf = tmp_path / "preview.pdf"
    result = runner.invoke(app, ["letters", "preview", doe, "--out", str(pdf), "--db", db])
    assert result.exit_code == 0, result.output
    for expected in ("[addressee]", IBAN, "Example Rights Ltd", "disputes@example.test", "450.00 EUR",
                     "[28 days after sending]", "[date of sending]", "127.0.0.11"):  # fmt: skip
        assert expected in result.stdout, expected
    assert "Alex" not in result.stdout and reads(world, doe) == 0  # nothing decrypted
    found = re.search(r"approval digest \(sha256\): ([0-9a-f]{64})", result.stdout)
    assert found is not None
    digest = found.group(1)
    assert IBAN in pdf_text(pdf.read_bytes(), tmp_path) and stat.S_IMODE(pdf.stat().st_mode) == 0o600
    result = runner.invoke(app, ["letters", "approve", doe, "--digest", "ab" * 32, "--actor", "alice",
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 1 and status(world, doe) == "drafted"
    assert result.output.strip().splitlines()[-1] == (
        f"error: {doe}: the digest does not match the letter you were shown; reload the preview"
    )  # the right digest is not echoed: it could be copied instead of reading the letter
    assert digest not in result.output
    result = runner.invoke(
        app, ["letters", "approve", doe, "--digest", digest, "--actor", "alice", "--db", db]
    )
    assert result.exit_code == 0 and digest in result.stdout, result.output
    row = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)[-1]
    assert row.approved_sha256 == digest and row.approved_by == "alice"
    assert LS.frozen_settings(row.settings_json) == SETTINGS


def test_send_uses_the_frozen_settings_and_refuses_other_contacts(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    doe = world.dois[0]
    draft_approve(world, doe)
    other = tmp_path / "other.toml"
    example = (L.TEMPLATES / "settings.example.toml").read_text()
    other.write_text(example.replace(IBAN, "GB33 BUKB 2020 1555 5555 55"))
    runner = CliRunner()
    for extra, field in ((["--settings", str(other)], "iban"), (["--from", "x@evil.test"], "sender_email"),
                         (["--dispute-email", "nobody@evil.test"], "dispute_email")):  # fmt: skip
        result = runner.invoke(app, send_args(world, smtp, *extra))
        assert result.exit_code == 1 and field in result.output, result.output
    assert not smtp.messages and status(world, doe) == "approved" and reads(world, doe) == 0
    same = ["--settings", str(L.TEMPLATES / "settings.example.toml"), "--from", "letters@example.test"]
    result = runner.invoke(app, send_args(world, smtp, *same))  # the same values are fine
    assert result.exit_code == 0, result.output
    (message,) = smtp.messages
    assert "letters@example.test" in message["From"]
    attachment = next(iter(message.iter_attachments()))
    assert IBAN in pdf_text(attachment.get_content(), tmp_path)


@pytest.mark.parametrize("change", ["facts", "settings"])
def test_content_changed_after_approval_is_not_sent(world: World, smtp: SmtpServer, change: str) -> None:
    doe = world.dois[0]
    row = draft_approve(world, doe)
    with world.store._write() as conn:
        if change == "facts":
            conn.execute(legal_case.update().where(legal_case.c.id == row.case_id).values(hits=99))
        else:
            tampered = LS.settings_json(replace(SETTINGS, iban="GB33 BUKB 2020 1555 5555 55"))
            conn.execute(letter.update().where(letter.c.id == row.id).values(settings_json=tampered))
    # a case row that no longer matches its sealed hits is refused before the approval digest is compared
    refused = UnprovenCase if change == "facts" else LS.LetterError
    message = (
        "the proven evidence shows 4 verified hit" if change == "facts" else "differs from what was approved"
    )
    with pytest.raises(refused, match=message):
        send(world, doe, smtp, None, T0 + HOUR)
    assert not smtp.messages and status(world, doe) == "approved" and reads(world, doe) == 0


def test_an_identity_changed_after_approval_is_not_covered_by_it(world: World, smtp: SmtpServer) -> None:
    """The approval binds the addressee (the SHA-256 of the encrypted identity stored for the case). The
    identity of an approved case is replaced afterwards by another person encrypted for the very same
    disclosure and that identification sealed with the node key (as importing it again would): the
    identity gate passes, ``letters send`` refuses, "the approval does not cover this letter", nothing
    decrypted or sent; its preview shows another digest, the one an approval of it would seal."""
    doe = world.dois[0]
    approved = draft_approve(world, doe)
    case = case_status.get_case(world.store, doe)
    row = stored_identity(world.store, case.id)
    assert row is not None and row.ip is not None
    disclosed = Disclosed(row.ip, row.port, row.window_start_us, row.window_end_us)
    other = world.key.seal(
        Identity("Mallory Sample", "9 Ninth Street", "mallory@example.test"), case.id, disclosed
    )
    with world.store._write() as conn:
        conn.execute(sa.update(subscriber).where(subscriber.c.case_id == case.id).values(ciphertext=other))
    seal_identified(world.store, [doe], T0 + 2)
    with pytest.raises(LS.LetterError, match=f"{doe}: the approval does not cover this letter"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert not smtp.messages and status(world, doe) == "approved" and reads(world, doe) == 0
    assert preview_letter(world.store, doe).digest not in (None, approved.approved_sha256)


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_unusable_out_sends_nothing(world: World, smtp: SmtpServer, tmp_path: Path, kind: str) -> None:
    for doe in world.dois[:2]:
        draft_approve(world, doe)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = blocker if kind == "file" else blocker / "letters"
    result = CliRunner().invoke(app, send_args(world, smtp, "--out", str(out)))
    assert result.exit_code == 1 and "error:" in result.output and "--out" in result.output, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert not smtp.messages and [status(world, d) for d in world.dois[:2]] == ["approved", "approved"]
    with pytest.raises(LS.LetterError, match="--out"):  # the function checks too
        send(world, world.dois[0], smtp, out, T0 + HOUR)
    assert not smtp.messages and reads(world, world.dois[0]) == 0


def test_failure_after_smtp_accepted_is_recorded_and_never_resent(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    doe = world.dois[0]
    row = draft_approve(world, doe)
    out = tmp_path / "out"
    (out / f"{doe}-initial-{row.id}.pdf").mkdir(parents=True)  # the PDF copy cannot be written
    with pytest.raises(LS.LetterError, match="recorded as sent"):
        send(world, doe, smtp, out, T0 + HOUR)
    (message,) = smtp.messages
    sent = letter_store.get_letter(world.store, row.id)
    assert sent.sent_us == T0 + HOUR and sent.message_id == message["Message-ID"]
    assert status(world, doe) == "sent" and pending_approved(world.store) == []
    result = CliRunner().invoke(app, send_args(world, smtp))  # the retry
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, send_args(world, smtp, "--case", doe))
    assert result.exit_code == 1 and "no unsent letter" in result.output
    assert len(smtp.messages) == 1


def test_postal_pdf_is_private_under_umask_022(world: World, tmp_path: Path) -> None:
    doe = world.dois[1]  # postal only
    row = draft_approve(world, doe)
    out = tmp_path / "post"
    out.mkdir()
    target = out / f"{doe}-initial-{row.id}.pdf"
    target.write_bytes(b"stale")
    target.chmod(0o644)
    old = os.umask(0o022)
    try:
        sent = send(world, doe, None, out, T0 + HOUR)
    finally:
        os.umask(old)
    assert sent.pdf_path == target and target.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_early_dispute_stops_drafted_and_approved_letters(world: World, smtp: SmtpServer) -> None:
    drafted, approved = world.dois[0], world.dois[2]
    draft_letters(world.store, SETTINGS, [drafted], "counsel", T0)
    draft_approve(world, approved)
    runner, db = CliRunner(), str(world.db)
    for doe in (drafted, approved):
        result = runner.invoke(app, ["disputes", "record", doe, "--summary", "objection", "--actor", "clerk",
                                     "--db", db])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert status(world, doe) == "disputed"
        rows = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)
        assert all(r.voided_us is not None and r.sent_us is None for r in rows)
    assert pending_approved(world.store) == []
    result = runner.invoke(app, send_args(world, smtp))
    assert result.exit_code == 0, result.output  # nothing pending: no exit 1 forever
    for command in (["preview", approved], ["approve", approved, "--actor", "alice"]):
        assert runner.invoke(app, ["letters", *command, "--db", db]).exit_code == 1
    assert not smtp.messages and reads(world, approved) == 0
    with pytest.raises(WorkflowError, match="not allowed"):  # a second dispute is no move
        record_dispute(world.store, approved, "again", received_us=T0, actor="clerk", now_us=T0)
    with world.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(letter)).scalar_one() == 2


@pytest.mark.parametrize("ruling", ["quashed", "contested"])
def test_no_letter_on_a_quashed_or_contested_request(world: World, smtp: SmtpServer, ruling: str) -> None:
    """Identities imported under a served request; then the request is quashed or contested: no letter."""
    doe, approved_doe = world.dois[0], world.dois[1]
    draft_approve(world, approved_doe)  # approved before the ruling
    cases = [case_status.get_case(world.store, d) for d in (doe, approved_doe)]
    assert cases[0].isp_id is not None
    request = case_status.add_request(world.store, cases[0].isp_id, None, T0, actor="counsel")
    case_status.attach_cases(world.store, request, [c.id for c in cases])
    for step in ("served", ruling):
        case_status.set_request_status(
            world.store, request, step, "counsel", None, T0, rule=next_request_status
        )
    with pytest.raises(LS.LetterError, match=f"request {request} is {ruling}"):
        draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    with pytest.raises(LS.LetterError, match=f"request {request} is {ruling}"):
        approve_letter(world.store, approved_doe, "alice", T0 + 2)
    with pytest.raises(LS.LetterError, match=f"request {request} is {ruling}"):
        send(world, approved_doe, smtp, None, T0 + HOUR)
    assert not smtp.messages


def test_a_letter_is_claimed_before_smtp_so_an_unknown_outcome_is_never_resent(
    world: World, smtp: SmtpServer
) -> None:
    """The Message-ID is committed before the SMTP conversation: a second send cannot claim the letter."""
    doe = world.dois[0]
    row = draft_approve(world, doe)
    assert letter_store.claim_sending(world.store, row.id, "<other-sender@example.test>")
    with pytest.raises(LS.LetterError, match="outcome unknown"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert not smtp.messages and status(world, doe) == "approved"
    assert not letter_store.claim_sending(world.store, row.id, "<again@example.test>")


def test_a_refused_smtp_conversation_releases_the_claim(world: World, tmp_path: Path) -> None:
    doe = world.dois[0]
    row = draft_approve(world, doe)
    dead = Delivery("127.0.0.1", 9, None, timeout=5.0)  # nothing listens on the discard port
    with pytest.raises(MailError):
        send_letter(world.store, doe, world.key, {}, dead, "alice", T0 + HOUR)
    assert letter_store.get_letter(world.store, row.id).message_id is None  # free to be sent again
    assert letter_store.claim_sending(world.store, row.id, "<retry@example.test>")


def test_a_refused_letter_names_its_case_once(world: World, smtp: SmtpServer) -> None:
    doe = world.dois[0]
    draft_approve(world, doe)
    result = CliRunner().invoke(app, send_args(world, smtp, "--from", "x@evil.test"))
    assert result.exit_code == 1 and f"error: {doe}: the send-time settings" in result.output, result.output
    assert f"{doe}: {doe}" not in result.output
