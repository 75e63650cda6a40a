"""A case's state rests on its SEALED history, not on the status column: someone with write access to the
database file (triggers dropped) but without the node key sets a withdrawn or closed case back to
``escalated`` or ``identified``, clears a quashed request's link or sets it back to ``served``, resets a
paid or disputed case's sent letter, or marks an open case ``withdrawn``; no listing, notice, exhibit,
letter or purge follows the column, and the case is named ("status altered"). SQLite (the letters world
and the exhibits world).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.case_actions import escalate_case, record_decision, record_dispute
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.letter_flow import expire_letters
from swarmscope.cases.letter_settings import LetterError
from swarmscope.cases.payments import record_payment
from swarmscope.cases.purge import apply_retention
from swarmscope.cases.requests import advance_request, start_request
from swarmscope.cases.retention import RetentionPolicy
from swarmscope.cases.workflow import RequestStatus
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.testbed.smtp import SmtpServer
from tests.cases.test_exhibits import build_world as build_exhibits_world
from tests.cli.letter_world import DAY, HOUR, T0, World, draft_approve, send, status
from tests.tampering import node_trust, tamper_file

register_commands()


def _listed(world: World) -> tuple[list[str], str, int]:
    """The DOEs listed, stderr without the note that the world (sealed through the API) has no chain-head
    witness yet, and the exit status."""
    result = CliRunner().invoke(app, ["escalations", "--actor", "counsel", "--db", str(world.db)])
    lines = result.stderr.splitlines(keepends=True)
    errors = "".join(line for line in lines if not line.startswith("note: tail not checked"))
    return [row["doe"] for row in csv.DictReader(io.StringIO(result.stdout))], errors, result.exit_code


def _escalated(world: World, smtp: SmtpServer, doe: str, out: Path) -> int:
    """Send ``doe``'s letter, expire it and escalate it (all sealed); returns a time after (UTC µs)."""
    draft_approve(world, doe)
    after = send(world, doe, smtp, out, T0 + HOUR).letter.deadline_us + 1
    assert expire_letters(world.store, "counsel", after) == [doe]
    escalate_case(world.store, doe, "counsel", after, None)
    return after


@pytest.mark.parametrize("decision", ["withdraw", "close"])
def test_a_withdrawn_or_closed_case_set_back_to_escalated_is_not_listed(
    world: World, smtp: SmtpServer, tmp_path: Path, decision: str
) -> None:
    """Counsel withdraws (closes) an escalated case: it leaves the list. Its status column set back to
    ``escalated`` does not list it again: the sealed decision names it, "status altered"."""
    doe = world.dois[0]
    after = _escalated(world, smtp, doe, tmp_path)
    assert _listed(world)[0] == [doe]
    record_decision(world.store, doe, decision, "counsel", "settled out of court", after + 1)
    listed, errors, code = _listed(world)
    assert (listed, errors) == ([], "") and code == 0
    tamper_file(world.db, f"UPDATE legal_case SET status = 'escalated', closed_us = NULL WHERE doe = '{doe}'")
    listed, errors, code = _listed(world)
    assert listed == [] and code == 1
    assert f"left out {doe}: refused: status altered (it says 'escalated'" in errors


def test_an_escalated_case_set_to_withdrawn_is_named_not_dropped(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """An escalated case's column edited to ``withdrawn`` (no sealed withdrawal) does not silently leave
    the litigation list: it is named and the command fails."""
    doe = world.dois[0]
    _escalated(world, smtp, doe, tmp_path)
    tamper_file(world.db, f"UPDATE legal_case SET status = 'withdrawn' WHERE doe = '{doe}'")
    listed, errors, code = _listed(world)
    assert listed == [] and code == 1
    assert f"left out {doe}: refused: status altered (it says 'withdrawn', but no withdraw or close" in errors


@pytest.mark.parametrize("tamper", ["link", "status"])
def test_a_quashed_request_stops_the_letter_whatever_its_rows_say(
    world: World, smtp: SmtpServer, tmp_path: Path, tamper: str
) -> None:
    """A case named in a disclosure request, its letter approved; the court quashes the request. Clearing
    the case's ``request_id`` or setting the request back to ``served`` sends nothing: the link sealed
    when the request was served and the sealed status name the alteration."""
    doe = world.dois[0]
    case = case_status.get_case(world.store, doe)
    isp = next(r for r in case_store.list_isps(world.store) if r.id == case.isp_id)
    rid, _named = start_request(world.store, isp, None, T0, "counsel", attach=False)
    case_status.attach_cases(world.store, rid, [case.id])  # as `exhibits` names it (unsealed)
    advance_request(world.store, isp, RequestStatus.SERVED, request_id=rid, actor="counsel", note=None,
                    now_us=T0)  # fmt: skip
    draft_approve(world, doe)
    advance_request(world.store, isp, RequestStatus.QUASHED, request_id=rid, actor="counsel", note=None,
                    now_us=T0 + 2)  # fmt: skip
    with pytest.raises(LetterError, match="is quashed; no letter may be drafted, approved or sent"):
        send(world, doe, smtp, tmp_path, T0 + HOUR)
    if tamper == "link":
        tamper_file(world.db, f"UPDATE legal_case SET request_id = NULL WHERE doe = '{doe}'")
        why = f"request link altered (it names request None; the node sealed it to request {rid})"
    else:
        tamper_file(world.db, f"UPDATE disclosure_request SET status = 'served' WHERE id = {rid}")
        why = f"request status altered (disclosure request {rid} says 'served'"
    with pytest.raises(LetterError, match=f"{doe}: refused: {why}".replace("(", r"\(").replace(")", r"\)")):
        send(world, doe, smtp, tmp_path, T0 + HOUR)
    assert smtp.messages == [] and status(world, doe) == "approved"


@pytest.mark.parametrize("answer", ["payment", "dispute"])
def test_a_paid_or_disputed_case_never_gets_the_same_demand_again(
    world: World, smtp: SmtpServer, tmp_path: Path, answer: str
) -> None:
    """The letter was sent, then paid in full (disputed). The writer clears the letter's sending (and its
    voiding), sets the case back to ``approved`` and, for the payment, deletes its row: ``letters send``
    sends nothing, named by the sealed sending, payment or dispute."""
    doe = world.dois[0]
    draft_approve(world, doe)
    sent = send(world, doe, smtp, tmp_path, T0 + HOUR).letter
    assert len(smtp.messages) == 1
    if answer == "payment":
        record_payment(world.store, doe, sent.amount_cents, sent.payment_reference, currency="EUR",
                       received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    else:
        record_dispute(world.store, doe, "not me", received_us=T0 + DAY, actor="clerk", now_us=T0 + DAY)
    reset = "UPDATE letter SET sent_us = NULL, message_id = NULL, pdf_sha256 = NULL, voided_us = NULL"
    tamper_file(world.db, reset, f"UPDATE legal_case SET status = 'approved' WHERE doe = '{doe}'")
    with pytest.raises((LetterError, UnprovenCase), match=f"{doe}: refused: status altered"):
        send(world, doe, smtp, tmp_path, T0 + 2 * DAY)
    if answer == "payment":
        tamper_file(world.db, "DELETE FROM payment")
    with pytest.raises((LetterError, UnprovenCase), match=f"{doe}: refused: status altered"):
        send(world, doe, smtp, tmp_path, T0 + 2 * DAY)
    assert len(smtp.messages) == 1


def test_purge_keeps_the_evidence_of_an_open_case_marked_withdrawn(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """An open case (letter sent, deadline running) edited to ``withdrawn`` keeps its evidence; a case
    counsel withdrew (sealed) releases it after the retention period, as documented."""
    honest, open_case = world.dois[0], world.dois[1]
    record_decision(world.store, honest, "withdraw", "counsel", "no claim", T0)
    draft_approve(world, open_case)
    send(world, open_case, smtp, tmp_path, T0 + HOUR)
    later = T0 + 200 * DAY
    policy = RetentionPolicy(ip_evidence_days=90)
    before = apply_retention(world.store, policy, actor="ops", now_us=later, dry_run=True)
    assert before.ip_addresses == 1
    tamper_file(world.db, f"UPDATE legal_case SET status = 'withdrawn' WHERE doe = '{open_case}'")
    after = apply_retention(world.store, policy, actor="ops", now_us=later, dry_run=True)
    assert after.ip_addresses == 1 and after.ip_rows == before.ip_rows


def test_withdrawn_case_set_back_gets_no_notice_and_no_exhibit_line(tmp_path: Path) -> None:
    """Counsel withdraws a candidate (sealed); the writer sets it back to ``candidate``: ``notices`` and
    ``exhibits`` leave it out and name it, the other cases go out as before."""
    world = build_exhibits_world(tmp_path / "e.db")
    db = str(world.db)
    result = CliRunner().invoke(app, ["cases", "event", "DOE-000001", "withdraw", "--actor", "c", "--db", db])
    assert result.exit_code == 0, result.output
    notices = CliRunner().invoke(app, ["notices", "--out", str(tmp_path / "n0"), "--db", db])
    assert notices.exit_code == 0 and not list((tmp_path / "n0").glob("SWS-DOE-000001.*")), notices.output
    tamper_file(db, "UPDATE legal_case SET status = 'candidate', closed_us = NULL WHERE doe = 'DOE-000001'")
    notices = CliRunner().invoke(app, ["notices", "--out", str(tmp_path / "n1"), "--db", db])
    assert "DOE-000001: refused: status altered" in notices.output
    written = sorted(p.name for p in (tmp_path / "n1").iterdir())
    assert written == [f"SWS-DOE-00000{n}.{ext}" for n in (2, 3) for ext in ("txt", "xml")]
    exhibits = CliRunner().invoke(app, ["exhibits", "--out", str(tmp_path / "x"), "--db", db])
    assert "DOE-000001: refused: status altered" in exhibits.output
    lines = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "x").glob("*.csv"))
    assert "127.0.0.11" not in lines and "127.0.0.12" in lines


def test_a_dry_run_without_the_signing_key_proves_the_sealed_withdrawal_too(world: World) -> None:
    """``purge --dry-run`` opens no signing key: the sealed withdrawal is proven under the key's
    fingerprint, so the dry run finds due what the purge itself would purge."""
    record_decision(world.store, world.dois[0], "withdraw", "counsel", "no claim", T0)
    later, policy = T0 + 200 * DAY, RetentionPolicy(ip_evidence_days=90)
    writer = apply_retention(world.store, policy, actor="ops", now_us=later, dry_run=True)
    with open_store(str(world.db), create=False) as reader:
        trust = node_trust(world.store, later)
        dry = apply_retention(reader, policy, actor="ops", now_us=later, dry_run=True, trust=trust)
    assert dry.ip_addresses == writer.ip_addresses == 1 and dry.ip_rows == writer.ip_rows


def test_an_open_case_marked_closed_keeps_its_identity(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The identity of a case counsel closed (sealed) is due six months later; an open case (letter sent)
    whose column the writer sets to ``closed`` months ago keeps its disclosed identity."""
    honest, open_case = world.dois[0], world.dois[1]
    record_decision(world.store, honest, "close", "counsel", "settled", T0)
    draft_approve(world, open_case)
    send(world, open_case, smtp, tmp_path, T0 + HOUR)
    tamper_file(
        world.db, f"UPDATE legal_case SET status = 'closed', closed_us = {T0} WHERE doe = '{open_case}'"
    )
    policy = RetentionPolicy(ip_evidence_days=90)
    outcome = apply_retention(world.store, policy, actor="ops", now_us=T0 + 200 * DAY, dry_run=True)
    assert outcome.identity_does == (honest,)
