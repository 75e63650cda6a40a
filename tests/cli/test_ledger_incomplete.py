"""A sealed workflow event blanked or altered in the ledger hides nothing: every reader of the sealed history
refuses, "ledger incomplete", naming the entry, instead of judging the case without it.

The attacker writes the database file (triggers dropped) but lacks the node key. A case is paid in full
(sealed); the payment event's canonical bytes are NULLed (or overwritten and relabelled), its row deleted
and the status set back to ``sent``. Without the blanked event the case looks unpaid: ``letters remind``
would seal a reminder and ``letters expire`` "no response" for a case the ledger proves paid. Both refuse
it instead (exit status 1, nothing sealed), and so do the status gate of the documents, the sending gate,
the identity check, the litigation list, the directory and the work-link checks. SQLite (the letters world).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.case_state import sending_problem, status_problem
from swarmscope.cases.directory_proof import DirectoryProof
from swarmscope.cases.identity_seal import identity_problem
from swarmscope.cases.letter_flow import expire_letters, remind_letters
from swarmscope.cases.payments import record_payment
from swarmscope.cases.sealed_history import PAYMENT, litigation_problem
from swarmscope.cases.work_links import TorrentChecks
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.subscribers import stored_identity
from swarmscope.store.legal.workflow_seals import workflow_history
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import DAY, HOUR, SETTINGS, T0, World, draft_approve, send, status
from tests.tampering import tamper_file

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def _paid_then_hidden(world: World, smtp: SmtpServer, out: Path, blank: str) -> tuple[str, int]:
    """Send DOE-000001's and DOE-000003's letters, record DOE-000003 paid in full (sealed), then hide the
    payment: ``blank`` (SQL on the payment event's ledger entry ``{idx}``), its row deleted, status
    ``sent``; an ISP added afterwards (sealed) keeps it off the chain's tail. Returns (the paid DOE number,
    the entry's chain index)."""
    paid = world.dois[2]
    for doe in (world.dois[0], paid):
        draft_approve(world, doe)
        sent = send(world, doe, smtp, out, T0 + HOUR).letter
    record_payment(world.store, paid, sent.amount_cents, sent.payment_reference, currency=sent.currency,
                   received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
    assert status(world, paid) == "paid"
    # a later sealed entry, so the hidden one is not the chain's tail (which opening a writer checks)
    case_store.add_isp(world.store, "Other Telecom", [64501], "abuse@other.test", "2 ISP Way", "DE", T0 + DAY)
    history = workflow_history(world.store, store_trust(world.store, None))
    (event,) = history.of(paid, PAYMENT)
    case_id = case_status.get_case(world.store, paid).id
    tamper_file(
        world.db,
        blank.format(idx=event.index),
        f"DELETE FROM payment WHERE case_id = {case_id}",
        f"UPDATE legal_case SET status = 'sent' WHERE id = {case_id}",
    )
    return paid, event.index


def _ledger_size(world: World) -> int:
    with sqlite3.connect(world.db) as raw:
        return int(raw.execute("SELECT count(*) FROM ledger_entry").fetchone()[0])


BLANKED = "UPDATE ledger_entry SET canonical = NULL WHERE idx = {idx}"
# other bytes, and the kind column relabelled so that no workflow query finds the entry by its kind
RELABELLED = "UPDATE ledger_entry SET canonical = X'00', kind = 'observation' WHERE idx = {idx}"


@pytest.mark.parametrize(("blank", "why", "cli"), [
    (BLANKED, "record bytes missing (redacted without a sealed purge record)", "refused: ledger incomplete"),
    # the CLI opens a writer, whose chain check refuses other bytes before anything is read
    (RELABELLED, "its bytes differ from the sealed record hash", "write refused: ledger damaged at index"),
])  # fmt: skip
def test_a_hidden_payment_gets_no_reminder_and_no_expiry(
    world: World, smtp: SmtpServer, tmp_path: Path, blank: str, why: str, cli: str
) -> None:
    """Past the deadline, ``letters remind`` and ``letters expire`` refuse every case "ledger incomplete"
    naming the entry (a blanked event may be any case's), exit 1, and seal nothing."""
    paid, index = _paid_then_hidden(world, smtp, tmp_path, blank)
    late = T0 + 40 * DAY
    refused: list[str] = []
    assert remind_letters(world.store, SETTINGS, "counsel", late, refused) == []
    assert expire_letters(world.store, "counsel", late, refused) == []
    assert any(r.startswith(f"{paid}: refused: ledger incomplete (") for r in refused), refused
    assert all(f"ledger index {index}: {why}" in r for r in refused), refused
    size = _ledger_size(world)
    for command in ("remind", "expire"):
        result = CliRunner().invoke(app, ["letters", command, "--db", str(world.db)])
        assert result.exit_code == 1, result.output
        assert cli in result.stderr, result.stderr
        assert "drafted reminder" not in result.stdout and "no response" not in result.stdout
    assert _ledger_size(world) == size and status(world, paid) == "sent"
    case_id = case_status.get_case(world.store, paid).id
    assert len(letter_store.list_letters(world.store, case_id=case_id)) == 1


def test_every_reader_of_the_sealed_history_agrees(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    """The status gate (documents, letters), the sending gate, the identity check, the litigation list, the
    directory and the work-link checks all refuse, naming the same entry; with the bytes back, all pass."""
    paid, index = _paid_then_hidden(world, smtp, tmp_path, BLANKED)
    trust = store_trust(world.store, None)
    history = workflow_history(world.store, trust)
    assert history.incomplete is not None and f"ledger index {index}" in history.incomplete
    case = case_status.get_case(world.store, paid)
    letter = letter_store.list_letters(world.store, case_id=case.id)[-1]
    found = [
        status_problem(history, case),
        sending_problem(world.store, history, case, letter),
        identity_problem(history, case, stored_identity(world.store, case.id)),
        litigation_problem(world.store, case, history, T0 + 40 * DAY, escalation=False, trust=trust),
    ]
    assert all(f and f.startswith(f"{paid}: refused: ledger incomplete (") for f in found), found
    directory = DirectoryProof(world.store, trust)
    isp = case_store.get_isp(world.store, case.isp_id)
    assert "ledger incomplete" in (directory.isp_problem(isp) or "")
    (link,) = case_store.work_torrents(world.store, infohash=case.infohash)
    assert "ledger incomplete" in str(TorrentChecks(world.store, trust).check(link))
