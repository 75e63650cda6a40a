"""A withdrawn case's row ALTERED (its port or IP edited) AND its first hit's observation row deleted
or edited, by someone who can write the database file but lacks the node key: the row key (ip, infohash,
first hit) misses, no proven ``case_built`` seals the candidate's new first hit, no row holds the same
address, port and swarm any more, and no DOE number is missing, so nothing holds the build: ``cases build``
creates DOE-000004 for the address counsel withdrew (exit 0) and ``notices`` accuses it. The altered row no
longer matches its own proven ``case_built`` (README "Only proven evidence": a withdrawn case is never
reopened; :mod:`swarmscope.store.legal.case_create` ``SealedBuilds``), which the build should name as
tampering and hold on, as it does for a deleted row.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.legal import case_status
from tests.cli.letter_world import World
from tests.cli.test_case_sealed_identity import _accused, _withdraw
from tests.tampering import tamper_file

register_commands()
FIRST = "(SELECT MIN(started_us) FROM observation WHERE ip = '127.0.0.11')"
DELETE = f"DELETE FROM observation WHERE ip = '127.0.0.11' AND started_us = {FIRST}"
EDIT = f"UPDATE observation SET bytes_received = 1 WHERE ip = '127.0.0.11' AND started_us = {FIRST}"


@pytest.mark.parametrize("alter", ["port = port + 1", "ip = '127.0.0.99'"])
@pytest.mark.parametrize("drop", [DELETE, EDIT])
def test_a_withdrawn_case_row_altered_and_its_first_hit_dropped_is_not_built_again(
    world: World, tmp_path: Path, alter: str, drop: str
) -> None:
    a = world.dois[0]
    _withdraw(world, a)
    tamper_file(world.db, f"UPDATE legal_case SET {alter} WHERE doe = '{a}'")
    tamper_file(world.db, drop)  # edited: the build even warns "row altered", and still creates the case
    built = CliRunner().invoke(app, ["cases", "build", "--db", str(world.db)])
    assert [c.doe for c in case_status.list_cases(world.store)] == world.dois, built.output
    assert built.exit_code == 1, built.output
    assert _accused(world, tmp_path, "127.0.0.11") == []
