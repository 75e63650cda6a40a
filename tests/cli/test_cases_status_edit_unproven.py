"""``cases list`` and ``cases show`` once presented a case whose status row was edited without the node
key (a withdrawn case put back to ``identified``) as proven ("proof: proven by the sealed ledger"), while
every document refuses it ("status altered"). The views counsel decides from mark it UNPROVEN with that
reason, as they mark edited hits (README "Only proven evidence"). SQLite, the letters world."""

from __future__ import annotations

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World
from tests.tampering import tamper_file

register_commands()


def test_a_withdrawn_case_edited_back_to_identified_is_marked(world: World) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    done = runner.invoke(app, ["cases", "event", doe, "withdraw", "--actor", "counsel", "--db", db])
    assert done.exit_code == 0, done.output
    tamper_file(
        world.db, f"UPDATE legal_case SET status = 'identified', closed_us = NULL WHERE doe = '{doe}'"
    )
    listed = runner.invoke(app, ["cases", "list", "--db", db])
    (line,) = [line for line in listed.output.splitlines() if doe in line]
    shown = runner.invoke(app, ["cases", "show", doe, "--db", db])
    assert "unproven" in line.lower(), line
    assert "proven by the sealed ledger" not in shown.output, shown.output
