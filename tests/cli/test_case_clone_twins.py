"""Copies of a withdrawn case under a new DOE number that ``cases reseal`` must refuse (README "Only proven
evidence"; :func:`swarmscope.cases.case_views.reseal_unbound`): its address written v4-mapped, its
original row deleted (only the sealed build of the original is left), or its first hit moved to its second
hit (the ledger still carries the copy's claim).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from tests.cli.letter_world import HOUR, World
from tests.cli.test_case_clone_reseal import _clone_row
from tests.cli.test_case_deleted_rebuilt import _delete_case
from tests.cli.test_case_sealed_identity import _accused, _withdraw
from tests.tampering import tamper_file

register_commands()


def test_a_v4_mapped_clone_of_a_withdrawn_case_is_not_resealed(world: World, tmp_path: Path) -> None:
    a = world.dois[0]
    _withdraw(world, a)
    _clone_row(world.db, a, "DOE-000009")
    tamper_file(world.db, "UPDATE legal_case SET ip = '::ffff:127.0.0.11' WHERE doe = 'DOE-000009'")
    resealed = CliRunner().invoke(app, ["cases", "reseal", "DOE-000009", "--db", str(world.db)])
    assert resealed.exit_code == 1, resealed.output
    assert f"{a} has the same address, port and swarm" in resealed.output, resealed.output
    assert _accused(world, tmp_path, "127.0.0.11") == []


def test_a_clone_whose_original_row_was_deleted_is_not_resealed(world: World, tmp_path: Path) -> None:
    a = world.dois[0]
    _withdraw(world, a)
    _clone_row(world.db, a, "DOE-000009")
    _delete_case(world.db, a)
    resealed = CliRunner().invoke(app, ["cases", "reseal", "DOE-000009", "--db", str(world.db)])
    assert resealed.exit_code == 1, resealed.output
    assert f"the sealed build of {a} names the same address, port and swarm" in resealed.output
    assert _accused(world, tmp_path, "127.0.0.11") == []


def test_a_clone_starting_at_its_second_hit_is_not_resealed(world: World, tmp_path: Path) -> None:
    """The clone counts the proven hits from the second on (so the ledger carries its claim); the sealed
    build of the deleted original names its first hit, a proven hit of the same port."""
    a = world.dois[0]
    _withdraw(world, a)
    _clone_row(world.db, a, "DOE-000009")
    _delete_case(world.db, a)
    shift = f"UPDATE legal_case SET first_hit_us = first_hit_us + {HOUR}, hits = hits - 1"
    tamper_file(world.db, f"{shift} WHERE doe = 'DOE-000009'")
    resealed = CliRunner().invoke(app, ["cases", "reseal", "DOE-000009", "--db", str(world.db)])
    assert resealed.exit_code == 1, resealed.output
    assert f"the sealed build of {a} names the same address, port and swarm" in resealed.output
    assert _accused(world, tmp_path, "127.0.0.11") == []
