"""Letters, payments, disputes and the litigation list rest on the SEALED workflow decisions, not on rows:
someone with write access to the database file (triggers dropped) but without the node key re-prices an
approved letter, erases a payment or a dispute, or edits a case's status, and nothing of it reaches a
letter or the litigation list; the honest cases beside them are still listed. SQLite (the letters world).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.case_actions import escalate_case, record_decision, record_dispute
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.directory_proof import NOT_SEALED, DirectoryProof
from swarmscope.cases.letter_flow import draft_letters, expire_letters, preview_letter
from swarmscope.cases.letter_settings import LetterError
from swarmscope.cases.payments import record_payment
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal import letters as letter_store
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import DAY, HOUR, SETTINGS, T0, World, draft_approve, send, status
from tests.tampering import node_trust, tamper_file

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

ATTACKER_IBAN = "GB33 BUKB 2020 1555 5555 55"


def test_a_letter_repriced_after_approval_with_a_recomputed_digest_is_not_sent(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The approval digest is unkeyed: the writer re-prices the letter, swaps the IBAN, recomputes the
    digest (as ``letters preview`` prints it) and writes it into ``approved_sha256``. The approval the node
    sealed names the approved content, so the letter is not sent."""
    doe = world.dois[1]
    draft_approve(world, doe)
    tamper_file(
        world.db,
        "UPDATE letter SET amount_cents = 99000, settings_json = replace(replace(settings_json, '45000', "
        f"'99000'), 'DE89 3704 0044 0532 0130 00', '{ATTACKER_IBAN}')",
    )
    digest = preview_letter(world.store, doe).digest
    tamper_file(world.db, f"UPDATE letter SET approved_sha256 = '{digest}'")
    post = tmp_path / "post"  # this subscriber has no e-mail address: the letter would go by post
    post.mkdir()
    with pytest.raises(LetterError, match="matches no approval sealed by a trusted node key"):
        send(world, doe, smtp, post, T0 + HOUR)
    assert smtp.messages == [] and list(post.iterdir()) == [] and status(world, doe) == "approved"


def _sent_and_expired(world: World, smtp: SmtpServer, does: list[str], out: Path) -> int:
    """Send each case's letter at T0 + 1 h and expire them; returns a time past every deadline (UTC µs)."""
    sent = []
    for doe in does:
        draft_approve(world, doe)
        sent.append(send(world, doe, smtp, out, T0 + HOUR).letter)
    return max(row.deadline_us for row in sent) + 1


def _listed(world: World) -> tuple[list[str], str]:
    """The DOE numbers listed and stderr, less the note that the tail went unchecked when the world was
    sealed through the API only (no command made a chain-head witness yet)."""
    result = CliRunner().invoke(app, ["escalations", "--actor", "counsel", "--db", str(world.db)])
    note = "note: tail not checked: no chain-head witness at "
    errors = result.stderr.split("\n", 1)[1] if result.stderr.startswith(note) else result.stderr
    return [row["doe"] for row in csv.DictReader(io.StringIO(result.stdout))], errors


def test_a_status_edit_puts_no_case_on_the_litigation_list(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """An honest case escalated by ``escalations mark`` is listed; a case that never had a letter, its
    status edited to ``escalated``, is left out: no proven sent letter, no sealed escalation."""
    honest, planted = world.dois[0], world.dois[2]
    after = _sent_and_expired(world, smtp, [honest], tmp_path)
    assert expire_letters(world.store, "counsel", after) == [honest]
    escalate_case(world.store, honest, "counsel", after, None)
    tamper_file(world.db, f"UPDATE legal_case SET status = 'escalated' WHERE doe = '{planted}'")
    listed, errors = _listed(world)
    assert listed == [honest]
    why = "not on the litigation list by its sealed history (no sealed escalation decision)"
    assert f"left out {planted}: refused: {why}" in errors


@pytest.mark.parametrize("erased", ["payment", "dispute"])
def test_an_erased_payment_or_dispute_cannot_escalate_a_case(
    world: World, smtp: SmtpServer, tmp_path: Path, erased: str
) -> None:
    """A case paid (or disputed) in full view of the ledger: its payment (dispute) row deleted and its
    status set back to ``sent``, ``letters expire`` refuses it; set to ``no_response`` by the writer,
    ``escalations mark`` refuses it, and with its status edited to ``escalated`` the litigation list leaves
    it out, naming the sealed row that is gone."""
    doe = world.dois[1]
    after = _sent_and_expired(world, smtp, [doe], tmp_path)
    if erased == "payment":
        case = case_status.get_case(world.store, doe)
        reference = letter_store.list_letters(world.store, case_id=case.id)[0].payment_reference
        record_payment(world.store, doe, 45_000, reference, currency="EUR", received_us=T0 + DAY,
                       method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    else:
        record_dispute(world.store, doe, "not me", received_us=T0 + DAY, actor="clerk", now_us=T0 + DAY)
    assert status(world, doe) in ("paid", "disputed")
    tamper_file(
        world.db, f"DELETE FROM {erased}", f"UPDATE legal_case SET status = 'sent' WHERE doe = '{doe}'"
    )
    refused: list[str] = []  # `letters expire` judges the sealed history too: the writer sets it himself
    assert expire_letters(world.store, "counsel", after, refused) == [] and len(refused) == 1
    assert refused[0].startswith(f"{doe}: refused: {'terms' if erased == 'payment' else 'status'} altered")
    tamper_file(world.db, f"UPDATE legal_case SET status = 'no_response' WHERE doe = '{doe}'")
    with pytest.raises(UnprovenCase, match=f"a sealed {erased} has no matching row"):
        escalate_case(world.store, doe, "counsel", after, None)
    tamper_file(world.db, f"UPDATE legal_case SET status = 'escalated' WHERE doe = '{doe}'")
    listed, errors = _listed(world)
    assert listed == [] and f"left out {doe}: refused: its workflow rows differ from the sealed" in errors
    assert f"a sealed {erased} has no matching row (deleted or altered)" in errors


def test_sealing_commands_need_the_node_key_and_write_nothing_without_it(
    world: World, tmp_path: Path
) -> None:
    """The evidence is trusted by fingerprint (``--trust-key``), but the node's key file is not beside the
    database: ``letters approve`` (like every command that seals a decision) names the missing key file in
    one line, exit status 1, and writes nothing."""
    doe = world.dois[0]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    assert world.store.node is not None
    key_file = default_key_path(str(world.db))
    key_file.rename(tmp_path / "moved.pem")
    args = ["letters", "approve", doe, "--actor", "alice", "--db", str(world.db)]
    result = CliRunner().invoke(app, [*args, "--trust-key", world.store.node.fingerprint])
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr == (
        f"error: node key {key_file}: no such file; this decision is sealed in the ledger with the node's "
        "signing key (pass the key file that sealed the evidence with --node-key)\n"
    )
    assert status(world, doe) == "drafted"


def test_an_entry_added_without_the_key_is_used_once_sealed(world: World) -> None:
    """An ISP entry written by a store without the node key (as before entries were sealed) is refused by
    the documents until ``isps seal`` seals it as it stands."""
    with open_store(str(world.db), create=False) as reader:
        isp_id = case_store.add_isp(reader, "Late ISP", [64999], "abuse@late.test", "9 Late St", "DE", T0)
    directory = DirectoryProof(world.store, node_trust(world.store, T0 + DAY))
    row = next(r for r in case_store.list_isps(world.store) if r.id == isp_id)
    assert directory.isp_problem(row) == f"ISP directory entry {isp_id} (Late ISP): {NOT_SEALED}"
    result = CliRunner().invoke(app, ["isps", "seal", "Late ISP", "--db", str(world.db)])
    assert result.exit_code == 0 and "entry sealed" in result.stdout, result.output
    assert DirectoryProof(world.store, node_trust(world.store, T0 + DAY)).isp_problem(row) is None


def test_counsel_escalating_a_disputed_case_puts_it_on_the_list(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """A proven dispute keeps a case off the list, unless counsel's sealed decision escalated it after."""
    doe = world.dois[0]
    _sent_and_expired(world, smtp, [doe], tmp_path)
    record_dispute(world.store, doe, "not me", received_us=T0 + DAY, actor="clerk", now_us=T0 + DAY)
    record_decision(world.store, doe, "counsel_escalate", "counsel", "reviewed", T0 + 2 * DAY)
    assert status(world, doe) == "escalated"
    listed, errors = _listed(world)
    assert listed == [doe] and errors == ""


@pytest.mark.parametrize("renamed_status", ["escalated", "withdrawn"])
def test_a_sealed_history_moved_onto_another_case_lists_nobody(
    world: World, smtp: SmtpServer, tmp_path: Path, renamed_status: str
) -> None:
    """A lettered, disputed case escalated by counsel: the writer renames its DOE number, gives it to a
    case never lettered (another address) and moves the letter and dispute rows there. Every sealed
    decision binds the case's DOE number, infohash, IP and port, and so does its sealed build, so the planted
    case is refused, naming it, and the address that never got a letter is not listed."""
    doe, planted = world.dois[0], world.dois[2]
    _sent_and_expired(world, smtp, [doe], tmp_path)
    record_dispute(world.store, doe, "not me", received_us=T0 + DAY, actor="clerk", now_us=T0 + DAY)
    record_decision(world.store, doe, "counsel_escalate", "counsel", "reviewed", T0 + 2 * DAY)
    original = case_status.get_case(world.store, doe)
    target = case_status.get_case(world.store, planted)
    assert (original.ip, original.port) != (target.ip, target.port)
    tamper_file(
        world.db,
        f"UPDATE legal_case SET doe = 'DOE-900001', status = '{renamed_status}' WHERE id = {original.id}",
        f"UPDATE legal_case SET doe = '{doe}', status = 'escalated' WHERE id = {target.id}",
        f"UPDATE letter SET case_id = {target.id} WHERE case_id = {original.id}",
        f"UPDATE dispute SET case_id = {target.id} WHERE case_id = {original.id}",
    )
    listed, errors = _listed(world)
    assert listed == []
    # the planted row is not the identity sealed when its DOE number was built (case_binding): refused
    # before its workflow rows are matched to the sealed decisions, naming the address it claims
    claims = f"{target.ip}:{target.port}"
    assert f"left out {doe}: refused: case identity altered (its row names {claims}" in errors


def test_an_escalated_case_without_a_stored_identity_is_not_listed(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The disclosure check needs the identity the ISP disclosed: an escalated case whose subscriber row
    is deleted is left out, naming it, not listed unchecked."""
    doe = world.dois[0]
    after = _sent_and_expired(world, smtp, [doe], tmp_path)
    assert expire_letters(world.store, "counsel", after) == [doe]
    escalate_case(world.store, doe, "counsel", after, None)
    assert _listed(world)[0] == [doe]
    case = case_status.get_case(world.store, doe)
    tamper_file(world.db, f"DELETE FROM subscriber WHERE case_id = {case.id}")
    listed, errors = _listed(world)
    assert listed == [] and f"left out {doe}: refused: no disclosed identity is stored for it" in errors


def test_a_sent_letter_edited_after_sending_keeps_its_case_off_the_list(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The stored approval digest is never trusted: a sent letter's frozen settings edited afterwards (the
    payee's IBAN swapped, the digest column left as it was) render another letter for the case, and the
    escalated case is left out, naming the letter."""
    doe = world.dois[0]
    after = _sent_and_expired(world, smtp, [doe], tmp_path)
    assert expire_letters(world.store, "counsel", after) == [doe]
    escalate_case(world.store, doe, "counsel", after, None)
    assert _listed(world)[0] == [doe]
    tamper_file(
        world.db,
        f"UPDATE letter SET settings_json = replace(settings_json, 'DE89 3704 0044 0532 0130 00', "
        f"'{ATTACKER_IBAN}')",
    )
    letter = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)[0]
    assert ATTACKER_IBAN in letter.settings_json
    listed, errors = _listed(world)
    assert listed == [] and f"left out {doe}: refused: its workflow rows differ from the sealed" in errors
    assert (
        f"letter {letter.payment_reference} as rendered for this case now is not the one approved" in errors
    )
