"""A letter's terms are sealed when it is drafted, and its approval seals who approved it: someone who can
write the database file but lacks the node key re-prices a letter after counsel's preview, and
``letters approve`` (with or without ``--digest``) refuses it, naming the letter as stored now; an approval
row handed to another approver matches no sealed approval, so the letter is not sent. The honest path
(draft, preview, approve, send) still works. SQLite (the letters world)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cases.letter_flow import draft_letters
from swarmscope.cases.letter_settings import LetterError
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import HOUR, SETTINGS, T0, World, draft_approve, send, status
from tests.tampering import tamper_file

register_commands()


def _entries(world: World) -> int:
    with world.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one())


def _letter(world: World, doe: str) -> letter_store.LetterRow:
    case = case_status.get_case(world.store, doe)
    return letter_store.list_letters(world.store, case_id=case.id)[-1]


def _preview_digest(world: World, doe: str) -> str:
    result = CliRunner().invoke(app, ["letters", "preview", doe, "--db", str(world.db)])
    assert result.exit_code == 0, result.output
    found = re.search(r"\b([0-9a-f]{64})\b", result.stdout)
    assert found is not None, result.stdout
    return found.group(1)


@pytest.mark.parametrize("with_digest", [False, True])
def test_a_letter_repriced_after_its_draft_is_not_approved(world: World, with_digest: bool) -> None:
    doe = world.dois[1]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    _preview_digest(world, doe)  # counsel previews 450.00
    tamper_file(
        world.db,
        "UPDATE letter SET amount_cents = 450000, settings_json = replace(settings_json, '45000', '450000')",
    )
    digest = ["--digest", _preview_digest(world, doe)] if with_digest else []  # the re-priced preview
    before = _entries(world)
    args = ["letters", "approve", doe, *digest, "--actor", "counsel", "--db", str(world.db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert "as stored now (amount 450000 cents" in result.stderr
    assert "differs from the draft sealed for it" in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("warning: ", "note: "))]
    assert len(lines) == 1  # one line (beside the witness warning of a world sealed through the API)
    assert _letter(world, doe).approved_us is None and status(world, doe) == "drafted"
    assert _entries(world) == before  # nothing sealed


def test_the_honest_draft_is_approved_and_sent(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    doe = world.dois[1]
    draft_letters(world.store, SETTINGS, [doe], "counsel", T0)
    digest = _preview_digest(world, doe)
    args = ["letters", "approve", doe, "--digest", digest, "--actor", "counsel", "--db", str(world.db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    post = tmp_path / "post"
    post.mkdir()
    send(world, doe, smtp, post, T0 + HOUR)
    assert status(world, doe) == "sent" and _letter(world, doe).approved_by == "counsel"


def test_an_approval_handed_to_another_approver_is_not_sent(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """``approved_by`` is part of the sealed approval: rewriting it (a forged approver) leaves the letter
    matching no sealed approval."""
    doe = world.dois[1]
    draft_approve(world, doe)
    tamper_file(world.db, "UPDATE letter SET approved_by = 'mallory'")
    post = tmp_path / "post"
    post.mkdir()
    with pytest.raises(LetterError, match="matches no approval sealed by a trusted node key"):
        send(world, doe, smtp, post, T0 + HOUR)
    assert smtp.messages == [] and list(post.iterdir()) == [] and status(world, doe) == "approved"


def test_drafting_without_the_node_key_is_refused_before_anything_is_written(world: World) -> None:
    doe = world.dois[1]
    key = world.db.parent / (world.db.name + ".node-key.pem")
    moved = key.rename(key.with_suffix(".moved"))
    try:
        args = ["letters", "draft", "--case", doe, "--amount", "450.00", "--db", str(world.db)]
        result = CliRunner().invoke(app, args)
    finally:
        moved.rename(key)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert status(world, doe) == "identified"
