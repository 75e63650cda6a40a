"""A withdrawn case's row cloned under a new DOE number, its infohash column upper-cased (someone with write
access to the database file, triggers and the (ip, infohash, first_hit_us) unique key out of the way, no
node key). ``cases reseal`` refuses a clone that shares another case's address, port and swarm over an
overlapping interval, comparing the infohash columns as stored; the ledger proves the clone's hits
whatever the case of its hex digits, so the upper-cased clone is sealed and ``notices`` accuses the
address counsel withdrew (README "Only proven evidence": a row copied under a new DOE number is refused).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World
from tests.cli.test_case_clone_reseal import _clone_row
from tests.tampering import tamper_file

register_commands()


def test_an_upper_cased_clone_of_a_withdrawn_case_is_not_resealed(world: World, tmp_path: Path) -> None:
    a, db, runner = world.dois[0], str(world.db), CliRunner()
    withdrawn = runner.invoke(app, ["cases", "event", a, "withdraw", "--db", db, "--note", "shared NAT"])
    assert withdrawn.exit_code == 0, withdrawn.output
    _clone_row(world.db, a, "DOE-000009")
    tamper_file(world.db, "UPDATE legal_case SET infohash = upper(infohash) WHERE doe = 'DOE-000009'")
    resealed = runner.invoke(app, ["cases", "reseal", "DOE-000009", "--db", db])
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    assert (out / f"SWS-{world.dois[1]}.xml").exists()  # the honest cases still get theirs
    assert not (out / "SWS-DOE-000009.xml").exists(), resealed.output
    assert resealed.exit_code == 1, resealed.output
