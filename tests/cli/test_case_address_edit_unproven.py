"""A case row's address edited without the node key: DOE-000001 (identified, its identity disclosed for its
own address) is given the address, port, interval and hit count of DOE-000002 (whose own row is nudged off
the unique key). Letters refuse it (the disclosure names another address), but ``cases show`` said
"proven by the sealed ledger" and ``notices`` wrote an ACNS notice for DOE-000001 naming the other
address: a document that rests on a row no sealed record carries (README "Only proven evidence")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World
from tests.tampering import tamper_file

register_commands()


def test_a_case_given_another_address_is_unproven_and_gets_no_notice(world: World, tmp_path: Path) -> None:
    a, b, db, runner = world.dois[0], world.dois[1], str(world.db), CliRunner()
    with sqlite3.connect(world.db) as conn:
        ip, port, first, last, hits = conn.execute(
            "SELECT ip, port, first_hit_us, last_hit_us, hits FROM legal_case WHERE doe = ?", (b,)
        ).fetchone()
    tamper_file(
        world.db,
        f"UPDATE legal_case SET first_hit_us = first_hit_us + 1 WHERE doe = '{b}'",
        f"UPDATE legal_case SET ip = '{ip}', port = {port}, first_hit_us = {first}, last_hit_us = {last},"
        f" hits = {hits} WHERE doe = '{a}'",
    )
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    shown = runner.invoke(app, ["cases", "show", a, "--db", db])
    assert not (out / f"SWS-{a}.xml").exists(), (out / f"SWS-{a}.txt").read_text()[:400]
    assert "proven by the sealed ledger" not in shown.output, shown.output
    assert "UNPROVEN: case identity altered (its row names " in shown.output, shown.output
