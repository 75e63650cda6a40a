"""A case row's work and place edited without the node key (triggers dropped): DOE-000002 is moved to
another client's work and another city. ``notices`` refuses it (``case_links.link_problem``: the work is
not the work of its torrent, the place not the proven attribution's), but ``cases show`` said "proven by
the sealed ledger" and showed the other client's work: the views judge hits, status and build identity,
not the links a document is refused on (README "Only proven evidence")."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World
from tests.tampering import tamper_file

register_commands()


def test_a_case_moved_to_another_clients_work_is_not_shown_as_proven(world: World, tmp_path: Path) -> None:
    b, db, runner = world.dois[1], str(world.db), CliRunner()
    added = runner.invoke(
        app, ["works", "add", "--client", "Other Studio", "--title", "Other Film", "--db", db]
    )
    assert added.exit_code == 0, added.output
    tamper_file(
        world.db,
        "UPDATE legal_case SET region = 'Hamburg', city = 'Hamburg', work_id ="
        f" (SELECT id FROM work WHERE title = 'Other Film') WHERE doe = '{b}'",
    )
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    assert not (out / f"SWS-{b}.xml").exists()  # the document gate holds
    shown = runner.invoke(app, ["cases", "show", b, "--db", db])
    assert "Other Film" in shown.output, shown.output
    assert "proven by the sealed ledger" not in shown.output, shown.output
