"""A withdrawn case's FIRST HIT made to drop out of the candidate, by someone who can write the database file
(triggers dropped) but lacks the node key: one byte of that observation row edited (the row then fails the
ledger check and is left out) or the row deleted. The candidate's first hit moves to the second hit, so
neither the row key (ip, infohash, first hit) nor the proven ``case_built`` of the withdrawn DOE number
(which seals the exact first hit, :meth:`swarmscope.store.legal.case_create.SealedBuilds.claimant`) matches
it: ``cases build`` creates DOE-000004 for the address counsel withdrew, seals its build with the node key
and ``notices`` accuses it (README "A case's row deleted or its first hit edited ... does not make it new
again"; ``cases reseal`` already compares any proven hit of the port as first hit, build does not; the
ledger entry of the edited or deleted row still holds the sealed first hit).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import World
from tests.cli.test_case_deleted_rebuilt import _delete_case
from tests.cli.test_case_sealed_identity import _accused, _withdraw
from tests.tampering import tamper_file

register_commands()
FIRST = "(SELECT MIN(started_us) FROM observation WHERE ip = '127.0.0.11')"


def test_a_withdrawn_case_whose_first_hit_row_was_edited_is_not_built_again(
    world: World, tmp_path: Path
) -> None:
    _withdraw(world, world.dois[0])
    edit = f"UPDATE observation SET bytes_received = 1 WHERE ip = '127.0.0.11' AND started_us = {FIRST}"
    tamper_file(world.db, edit)
    built = CliRunner().invoke(app, ["cases", "build", "--db", str(world.db)])
    assert "DOE-000004" not in built.output, built.output
    assert _accused(world, tmp_path, "127.0.0.11") == []


def test_a_withdrawn_case_deleted_with_its_first_hit_row_is_not_built_again(
    world: World, tmp_path: Path
) -> None:
    _withdraw(world, world.dois[0])
    _delete_case(world.db, world.dois[0])
    tamper_file(world.db, f"DELETE FROM observation WHERE ip = '127.0.0.11' AND started_us = {FIRST}")
    CliRunner().invoke(app, ["cases", "build", "--db", str(world.db)])
    assert _accused(world, tmp_path, "127.0.0.11") == []
