"""A withdrawn case's row deleted (by someone with write access to the database file, triggers dropped, no
node key): the next routine ``cases build`` finds no row keyed (ip, infohash, first hit) for the address
counsel withdrew, creates it again under a new DOE number, seals its build with the node key, and
``notices`` and ``exhibits`` accuse that address (README "Only proven evidence": a withdrawn case is never
reopened; an invented or altered row must reach no document). The withdrawal and the first build of the
case stay sealed under its old DOE number, so the build can tell.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World

register_commands()


def _delete_case(db: Path, doe: str) -> None:
    """Delete the case row ``doe`` and every row naming it (triggers dropped): no key needed."""
    raw = sqlite3.connect(db)
    for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        raw.execute(f'DROP TRIGGER "{name}"')
    raw.execute("PRAGMA foreign_keys = OFF")
    (case_id,) = raw.execute("SELECT id FROM legal_case WHERE doe = ?", (doe,)).fetchone()
    tables = [t for (t,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    for table in tables:
        if "case_id" in {row[1] for row in raw.execute(f'PRAGMA table_info("{table}")')}:
            raw.execute(f'DELETE FROM "{table}" WHERE case_id = ?', (case_id,))
    raw.execute("DELETE FROM legal_case WHERE id = ?", (case_id,))
    raw.commit()
    raw.close()


def test_a_deleted_withdrawn_case_is_not_rebuilt_into_a_notice(world: World, tmp_path: Path) -> None:
    a, db, runner = world.dois[0], str(world.db), CliRunner()
    withdrawn = runner.invoke(app, ["cases", "event", a, "withdraw", "--db", db, "--note", "shared NAT"])
    assert withdrawn.exit_code == 0, withdrawn.output
    _delete_case(world.db, a)
    runner.invoke(app, ["cases", "build", "--db", db])
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    assert (out / f"SWS-{world.dois[1]}.xml").exists()  # the honest cases still get theirs
    accused = [p.name for p in out.glob("*.txt") if "127.0.0.11" in p.read_text()]
    assert accused == [], accused
