"""A withdrawn case's row cloned under a new DOE number (by someone with write access to the database file,
triggers and the (ip, infohash, first_hit_us) unique key out of the way, no node key): the clone has no
sealed ``case_built``, so it is UNPROVEN, until the operator's next routine ``cases build`` re-seals it
(``case_views.reseal_unbound`` seals any row without a sealed build whose hits are proven) and ``notices``
writes an ACNS notice naming the address counsel withdrew (README "Only proven evidence": an invented row
must reach no document; a withdrawn case is never reopened)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World

register_commands()


def _clone_row(db: Path, source: str, new: str) -> None:
    """Insert a copy of ``source``'s row as candidate ``new``: triggers dropped, the table rebuilt without
    its unique key (what a writer of the SQLite file can do without the node key)."""
    raw = sqlite3.connect(db)
    for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        raw.execute(f'DROP TRIGGER "{name}"')
    (sql,) = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'legal_case'").fetchone()
    sql = re.sub(r",\s*(CONSTRAINT \w+ )?UNIQUE \(ip, infohash, first_hit_us\)", "", sql)
    raw.execute("PRAGMA foreign_keys = OFF")
    raw.execute("PRAGMA legacy_alter_table = ON")
    raw.execute("ALTER TABLE legal_case RENAME TO legal_case_old")
    raw.execute(sql)
    cols = ", ".join(d[1] for d in raw.execute("PRAGMA table_info(legal_case_old)"))
    raw.execute(f"INSERT INTO legal_case ({cols}) SELECT {cols} FROM legal_case_old")
    raw.execute("DROP TABLE legal_case_old")
    keep = "ip, port, infohash, work_id, isp_id, first_hit_us, last_hit_us, hits, region, city"
    keep += ", created_us, status_us"
    insert = f"INSERT INTO legal_case (doe, status, {keep}) SELECT ?, 'candidate', {keep} FROM legal_case"
    raw.execute(f"{insert} WHERE doe = ?", (new, source))
    raw.commit()
    raw.close()


def test_a_clone_of_a_withdrawn_case_is_not_resealed_and_gets_no_notice(world: World, tmp_path: Path) -> None:
    a, db, runner = world.dois[0], str(world.db), CliRunner()
    withdrawn = runner.invoke(app, ["cases", "event", a, "withdraw", "--db", db, "--note", "shared NAT"])
    assert withdrawn.exit_code == 0, withdrawn.output
    _clone_row(world.db, a, "DOE-000009")
    assert "UNPROVEN" in runner.invoke(app, ["cases", "show", "DOE-000009", "--db", db]).output
    built = runner.invoke(app, ["cases", "build", "--db", db])
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    shown = runner.invoke(app, ["cases", "show", "DOE-000009", "--db", db])
    assert (out / f"SWS-{world.dois[1]}.xml").exists()  # the honest cases still get theirs
    assert not (out / "SWS-DOE-000009.xml").exists(), built.output
    assert "proven by the sealed ledger" not in shown.output, shown.output
    assert "DOE-000009" in built.output and "cases reseal" in built.output, built.output  # named, not sealed
    resealed = runner.invoke(app, ["cases", "reseal", "DOE-000009", "--db", db])
    assert resealed.exit_code == 1, resealed.output
    assert (
        f"refused: {a} has the same address, port and swarm over an overlapping interval" in resealed.output
    )
    assert (
        "proven by the sealed ledger"
        not in runner.invoke(app, ["cases", "show", "DOE-000009", "--db", db]).output
    )
    honest = runner.invoke(app, ["cases", "reseal", world.dois[1], "--db", db])
    assert honest.exit_code == 1 and "its build is sealed already" in honest.output, honest.output
