"""A stored identity is used only for the hits the ISP disclosed it for.

The attack (review of the legal workflow): someone who can write the database file but has neither the
node key nor the identity key rewrites a disclosed case's address, port and hits to ANOTHER address's
proven hits. The case row then passes the document gate (its hits are proven), but the identity stored
for it was disclosed for the old address: a letter would name Alex Sample for Casey Sample's activity.
Every step that names or addresses the subscriber (letters draft, preview, approve, send; the litigation
list with identities) must refuse that case in one line naming it, the disclosure and the claim, while the
honest letters still go out (to the loopback SMTP server, testbed/smtp.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cases import letters as L
from swarmscope.cases.case_actions import escalate_case
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.letter_flow import approve_letter, draft_letters, expire_letters, preview_letter
from swarmscope.cases.letter_settings import frozen_settings
from swarmscope.cases.letters import approval_digest
from swarmscope.cases.sealed_history import recipient_sha256
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.schema import legal_case, letter
from swarmscope.store.legal.subscribers import audit_rows
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import DAY, HOUR, SETTINGS, T0, World, draft_approve, send, status

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

ALEX, CASEY = "127.0.0.11", "127.0.0.13"  # DOE-000001 (disclosed: Alex Sample), DOE-000003 (Casey Sample)


def casey_hits() -> list[int]:
    """Start times (UTC µs) of 127.0.0.13's sealed verified hits (tests/cli/letter_world.py, case 3)."""
    first, count = T0 - 10 * DAY + 3 * HOUR, 6
    return [first + k * 3 * HOUR // (count - 1) for k in range(count)]


def move_to_caseys_hits(world: World, doe: str) -> None:
    """Rewrite the case row to the last five of Casey's proven hits (a plain row: no key needed)."""
    times = casey_hits()[1:]
    with world.store._write() as conn:
        conn.execute(
            sa.update(legal_case)
            .where(legal_case.c.doe == doe)
            .values(ip=CASEY, port=6884, first_hit_us=times[0], last_hit_us=times[-1], hits=len(times))
        )


def assert_names_the_swap(message: str) -> None:
    """The row is no longer the identity sealed when DOE-000001 was built (swarmscope.cases.case_binding),
    which the evidence gate checks before the disclosure check (which refuses it too)."""
    assert message.startswith(f"DOE-000001: refused: case identity altered (its row names {CASEY}:6884 from ")
    assert "but sealed events of DOE-000001 name " in message and "\n" not in message


def reads(world: World, doe: str) -> list[str]:
    return [r.action for r in audit_rows(world.store, subject=f"case:{doe}") if r.action != "import"]


def test_no_letter_is_drafted_for_hits_the_identity_was_not_disclosed_for(world: World) -> None:
    doe = world.dois[0]
    move_to_caseys_hits(world, doe)
    settings = str(L.TEMPLATES / "settings.example.toml")
    args = ["letters", "draft", "--case", doe, "--amount", "450.00", "--settings", settings]
    result = CliRunner().invoke(app, [*args, "--db", str(world.db)])
    assert result.exit_code == 1
    # drafting seals the letter's terms, so it opens the store with the node key: the world, sealed through
    # the API, has no chain-head witness yet, which one warning line says
    (line,) = [line for line in result.output.strip().splitlines() if not line.startswith("warning: ")]
    assert_names_the_swap(line.removeprefix("error: "))
    assert status(world, doe) == "identified" and letter_store.list_letters(world.store, case_id=1) == []


def test_a_drafted_letter_is_neither_previewed_nor_approved_after_the_swap(world: World) -> None:
    doe = world.dois[0]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    move_to_caseys_hits(world, doe)
    for step in (
        lambda: preview_letter(world.store, doe),
        lambda: approve_letter(world.store, doe, "alice", T0 + 1),
    ):
        with pytest.raises(UnprovenCase) as refused:
            step()
        assert_names_the_swap(str(refused.value))
    assert status(world, doe) == "drafted"


def test_an_approved_letter_is_not_sent_after_the_swap_and_the_honest_one_is(
    world: World, smtp: SmtpServer
) -> None:
    doe, honest = world.dois[0], world.dois[2]
    draft_approve(world, doe)
    move_to_caseys_hits(world, doe)
    row = letter_store.list_letters(world.store, case_id=1)[-1]  # re-approve what the swap shows
    recipient = recipient_sha256(world.store, case_status.get_case(world.store, doe))
    digest = approval_digest(letter_facts(world.store, 1), row, frozen_settings(row.settings_json), recipient)
    with world.store._write() as conn:
        conn.execute(sa.update(letter).where(letter.c.id == row.id).values(approved_sha256=digest))
    with pytest.raises(UnprovenCase) as refused:
        send(world, doe, smtp, None, T0 + HOUR)
    assert_names_the_swap(str(refused.value))
    assert smtp.messages == [] and status(world, doe) == "approved" and reads(world, doe) == []
    draft_approve(world, honest)
    send(world, honest, smtp, None, T0 + HOUR)
    assert [e.rcpt_tos for e in smtp.envelopes] == [("casey@example.test",)]
    assert status(world, honest) == "sent"


def test_the_litigation_list_leaves_the_swapped_case_out(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    doe, honest = world.dois[0], world.dois[2]
    sent = []
    for case in (doe, honest):
        draft_approve(world, case)
        sent.append(send(world, case, smtp, None, T0 + HOUR).letter)
    assert expire_letters(world.store, "counsel", sent[-1].deadline_us + 1) == [doe, honest]
    for case in (doe, honest):  # escalated as `escalations mark` does: the decision is sealed
        escalate_case(world.store, case, "counsel", sent[-1].deadline_us + 2, None)
    move_to_caseys_hits(world, doe)
    args = ["escalations", "--identity-key", str(world.key_file), "--actor", "counsel", "--db", str(world.db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["doe"], r["ip"], r["name"]) for r in rows] == [(honest, CASEY, "Casey Sample")]
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    # its sealed build and decisions bind the address they were made for (127.0.0.11): the case is refused
    # as not the identity built for its DOE number, before its sealed history or the disclosure are judged
    assert line.startswith(f"error: left out {doe}: refused: case identity altered (its row names {CASEY}")
    assert reads(world, doe) == ["read"] and reads(world, honest) == ["read", "read"]  # letter(s), list
