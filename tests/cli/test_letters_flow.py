"""``letters draft → approve → send → remind → expire`` on a real store, delivering to a real SMTP server on
loopback (aiosmtpd, testbed/smtp.py) and reading what arrived; the approval and dispute gates.

The world (:func:`build_world`) is shared by the payment and escalation tests: a fresh store (open_store,
a fresh Ed25519 node key), a swarm, a client and work, an ISP, three cases passed through request →
identify by a real ``import_disclosure`` with an identity key (DOE-000001 and -000003 have e-mail,
DOE-000002 has postal address only).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cases import letters as L
from swarmscope.cases.identities import Identity, IdentityKey, write_key_file
from swarmscope.cases.thresholds import Candidate
from swarmscope.cases.workflow import CaseEvent, WorkflowError, next_case_status
from swarmscope.cli import letters as cli_letters
from swarmscope.cli.app import app
from swarmscope.cli.disputes import record_dispute  # registers `disputes` on the app
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.subscribers import DisclosureRow, audit_rows, import_disclosure
from swarmscope.testbed.smtp import SmtpServer, start_smtp

T0 = 1_780_000_000_000_000  # 2026-05-28 UTC
HOUR, DAY = 3_600 * 1_000_000, 86_400 * 1_000_000
INFOHASH = "cd" * 20
IDENTITIES = {
    "127.0.0.11": Identity("Alex Sample", "1 First Street\n10115 Berlin", "alex@example.test"),
    "127.0.0.12": Identity("Blake Sample", "2 Second Street\n10117 Berlin", None),
    "127.0.0.13": Identity("Casey Sample", "3 Third Street\n10119 Berlin", "casey@example.test"),
}
SETTINGS = L.load_settings(L.TEMPLATES / "settings.example.toml", {})


@dataclass
class World:
    db: Path
    store: Store
    key: IdentityKey
    key_file: Path
    dois: list[str]


def build_world(tmp_path: Path) -> World:
    """A store with three identified cases (see the module docstring)."""
    db = tmp_path / "evidence.db"
    store = open_store(str(db), node_key=Ed25519PrivateKey.generate(), now_us=T0)
    store.add_swarm(INFOHASH, INFOHASH, None, "example-film.mkv", 8, 262_144, 2_000_000, None, None, T0)
    work_id = case_store.add_work(store, "Example Rights Ltd", "The Example Film", "PA-1-234", None, T0)
    isp_id = case_store.add_isp(store, "Loopback Telecom", [64500], "abuse@isp.test", "1 ISP Way", "DE", T0)
    key = IdentityKey.generate()
    key_file = tmp_path / "identity.key"
    write_key_file(key_file, key)
    rows, dois = [], []
    for n, ip in enumerate(IDENTITIES, start=1):
        first = T0 - 10 * DAY + n * HOUR
        candidate = Candidate(ip, INFOHASH, 6881 + n, first, first + 3 * HOUR, 3 + n)
        case = case_store.upsert_case(store, candidate, work_id, isp_id, "Berlin", "Berlin", T0)
        case_store.set_case_status(
            store, case.id, CaseEvent.REQUEST, "counsel", None, T0, rule=next_case_status
        )
        rows.append(DisclosureRow(n, ip, first - HOUR, first + 4 * HOUR, IDENTITIES[ip]))
        dois.append(case.doe)
    report = import_disclosure(
        store, key, rows, source_sha256="00" * 32, actor="clerk", now_us=T0, rule=next_case_status
    )
    assert len(report.imported) == 3, report.problems
    return World(db, store, key, key_file, dois)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path)
    try:
        yield w
    finally:
        w.store.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp("127.0.0.1")
    try:
        yield server
    finally:
        server.stop()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{hashlib.sha256(pdf).hexdigest()[:12]}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, timeout=60, check=True
    )
    return " ".join(done.stdout.decode().split())


def status(world: World, doe: str) -> str:
    return case_store.get_case(world.store, doe).status


def draft_approve(world: World, doe: str, now_us: int = T0) -> letter_store.LetterRow:
    cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", now_us)
    return cli_letters.approve_letter(world.store, doe, "alice", now_us + 1)


def send(
    world: World, doe: str, smtp: SmtpServer | None, out: Path | None, now_us: int
) -> cli_letters.SentLetter:
    delivery = cli_letters.Delivery(smtp.host if smtp else None, smtp.port if smtp else 25, out, timeout=30.0)
    return cli_letters.send_letter(world.store, doe, world.key, {}, delivery, "alice", now_us)


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
    ref = L.grouped(sent.letter.payment_reference)
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
    with pytest.raises(L.LetterError, match="--out"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert status(world, doe) == "approved"
    sent = send(world, doe, smtp, tmp_path / "post", T0 + HOUR)
    assert sent.message_id is None and sent.pdf_path is not None and not smtp.messages
    assert "Blake Sample" in pdf_text(sent.pdf_path.read_bytes(), tmp_path)
    events = case_store.case_events(world.store, doe)
    assert events[-1].status == "sent" and "postal mail" in (events[-1].note or "")


def test_unapproved_letter_cannot_be_sent(world: World, smtp: SmtpServer) -> None:
    doe = world.dois[0]
    cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    with pytest.raises(L.LetterError, match="not approved"):
        send(world, doe, smtp, None, T0 + HOUR)
    assert cli_letters.pending_approved(world.store) == []
    (letter,) = letter_store.list_letters(world.store, case_id=case_store.get_case(world.store, doe).id)
    with pytest.raises(StoreError):  # the store refuses too
        letter_store.mark_sent(world.store, letter.id, T0, "00" * 32, None, approved_sha256="00" * 32)
    with pytest.raises(WorkflowError):  # and the workflow: drafted → send is no move
        next_case_status(status(world, doe), CaseEvent.SEND)
    assert not smtp.messages and status(world, doe) == "drafted"
    assert all(
        r.action != "read" for r in audit_rows(world.store, subject=f"case:{doe}")
    )  # nothing decrypted
    cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 2)  # a redraft voids approval
    cli_letters.approve_letter(world.store, doe, "alice", T0 + 3)
    cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 4)
    with pytest.raises(L.LetterError, match="not approved"):
        send(world, doe, smtp, None, T0 + HOUR)


def test_approval_needs_a_person_and_is_recorded(world: World) -> None:
    doe = world.dois[0]
    cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    result = CliRunner().invoke(app, ["letters", "approve", doe, "--actor", " ", "--db", str(world.db)])
    assert result.exit_code == 1 and "actor" in result.output
    result = CliRunner().invoke(app, ["letters", "approve", doe, "--actor", "alice", "--db", str(world.db)])
    assert result.exit_code == 0, result.output
    (letter,) = letter_store.list_letters(world.store, case_id=case_store.get_case(world.store, doe).id)
    assert letter.approved_by == "alice" and letter.approved_us is not None
    events = case_store.case_events(world.store, doe)
    assert (events[-1].status, events[-1].actor) == ("approved", "alice")


def test_dispute_stops_every_further_letter(world: World, smtp: SmtpServer) -> None:
    doe = world.dois[2]
    draft_approve(world, doe)
    send(world, doe, smtp, None, T0 + HOUR)
    deadline = T0 + HOUR + 28 * DAY
    cli_letters.remind_letters(world.store, SETTINGS, "counsel", deadline + DAY)
    reminder = cli_letters.approve_letter(world.store, doe, "alice", deadline + DAY)  # before the dispute
    record_dispute(world.store, doe, "the router was shared", received_us=deadline + 2 * DAY, actor="clerk",
                   now_us=deadline + 2 * DAY)  # fmt: skip
    assert status(world, doe) == "disputed"
    assert letter_store.get_letter(world.store, reminder.id).voided_us == deadline + 2 * DAY
    assert cli_letters.pending_approved(world.store) == []  # `letters send` has nothing to fail on
    with pytest.raises(L.LetterError, match="no unsent letter"):
        send(world, doe, smtp, None, deadline + 3 * DAY)
    with pytest.raises(StoreError):  # the store refuses the voided letter too
        letter_store.mark_sent(world.store, reminder.id, deadline + 3 * DAY, "00" * 32, None,
                               approved_sha256=reminder.approved_sha256 or "")  # fmt: skip
    with pytest.raises(WorkflowError):
        cli_letters.draft_letters(world.store, SETTINGS, [doe], "counsel", deadline + 3 * DAY)
    assert cli_letters.remind_letters(world.store, SETTINGS, "counsel", deadline + 90 * DAY) == []
    assert cli_letters.expire_letters(world.store, "counsel", deadline + 90 * DAY) == []
    assert len(smtp.messages) == 1 and status(world, doe) == "disputed"
    assert letter_store.get_letter(world.store, reminder.id).sent_us is None


def test_reminder_then_expiry(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    doe = world.dois[0]
    draft_approve(world, doe)
    first = send(world, doe, smtp, None, T0 + HOUR).letter
    assert cli_letters.remind_letters(world.store, SETTINGS, "counsel", first.deadline_us - 1) == []
    assert cli_letters.expire_letters(world.store, "counsel", first.deadline_us - 1) == []
    (reminder,) = cli_letters.remind_letters(world.store, SETTINGS, "counsel", first.deadline_us + 1)
    assert reminder.kind == "reminder" and reminder.payment_reference != first.payment_reference
    assert cli_letters.pending_approved(world.store) == []  # a reminder needs its own approval
    cli_letters.approve_letter(world.store, doe, "alice", first.deadline_us + 2)
    sent = send(world, doe, smtp, None, first.deadline_us + 3)
    assert status(world, doe) == "sent" and len(smtp.messages) == 2
    assert "REMINDER" in pdf_text(next(iter(smtp.messages[1].iter_attachments())).get_content(), tmp_path)
    assert cli_letters.expire_letters(world.store, "counsel", sent.letter.deadline_us - 1) == []
    assert cli_letters.expire_letters(world.store, "counsel", sent.letter.deadline_us + 1) == [doe]
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
