"""The letter commands say so in one line when there is nothing to do (exit status 0: not an error)."""

from __future__ import annotations

from typer.testing import CliRunner

from swarmscope.cases import letters as L
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World, status

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def test_each_letter_command_says_when_there_is_nothing_to_do(world: World) -> None:
    runner, db = CliRunner(), str(world.db)
    send = ["letters", "send", "--identity-key", str(world.key_file), "--smtp-host", "127.0.0.1", "--db", db]
    result = runner.invoke(app, send)
    assert (result.exit_code, result.stdout) == (
        0,
        "no letter sent: none is approved and unsent (`letters approve DOE` first)\n",
    ), result.output
    result = runner.invoke(app, ["letters", "expire", "--db", db])
    assert (result.exit_code, result.stdout) == (0, "no case expired: no sent letter is past its deadline\n")
    result = runner.invoke(app, ["letters", "remind", "--db", db])
    assert (result.exit_code, result.stdout) == (
        0,
        "no reminder drafted: no sent letter is past its deadline\n",
    )
    draft = ["letters", "draft", "--all-identified", "--settings", str(L.TEMPLATES / "settings.example.toml")]
    result = runner.invoke(app, [*draft, "--amount", "300.00", "--db", db])
    assert result.exit_code == 0 and result.stdout.count("drafted letter RF") == 3, result.output
    result = runner.invoke(app, [*draft, "--amount", "300.00", "--db", db])
    assert (result.exit_code, result.stdout) == (0, "no letter drafted: no case is identified\n")
    assert [status(world, doe) for doe in world.dois] == ["drafted"] * 3
