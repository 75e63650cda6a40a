"""A withdrawn case's identity stays the sealed ledger's, whatever is done to its row without the node key
(README "Only proven evidence": a withdrawn case is never reopened; :mod:`swarmscope.store.legal.
case_create`): its first hit edited (the row key misses) or its row deleted, ``cases build`` builds it
not again, names it and exits 1, and its DOE number is not given again.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cases.thresholds import Candidate
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_create import SealedBuilds
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.cli.letter_world import DAY, HOUR, INFOHASH, T0, World
from tests.cli.test_case_deleted_rebuilt import _delete_case
from tests.tampering import tamper_file

register_commands()
NOTICE_ARGS = ["--complainant-entity", "Example Rights Ltd", "--complainant-email", "rights@example.org"]


def _withdraw(world: World, doe: str) -> None:
    args = ["cases", "event", doe, "withdraw", "--db", str(world.db), "--note", "shared NAT"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output


def _accused(world: World, tmp_path: Path, ip: str) -> list[str]:
    """The notices written now that name ``ip`` (the honest DOE-000002 must get its own)."""
    out = tmp_path / "notices"
    CliRunner().invoke(app, ["notices", "--db", str(world.db), "--out", str(out), *NOTICE_ARGS])
    assert (out / f"SWS-{world.dois[1]}.xml").exists()
    return [p.name for p in out.glob("*.txt") if ip in p.read_text()]


def test_a_withdrawn_case_whose_first_hit_was_edited_is_not_built_again(world: World, tmp_path: Path) -> None:
    a = world.dois[0]
    _withdraw(world, a)
    tamper_file(world.db, f"UPDATE legal_case SET first_hit_us = first_hit_us + 1 WHERE doe = '{a}'")
    built = CliRunner().invoke(app, ["cases", "build", "--db", str(world.db)])
    assert built.exit_code == 1, built.output
    assert "0 new case(s)" in built.output, built.output
    assert f"sealed case row missing or altered (a sealed build of {a} names" in built.output
    assert [c.doe for c in case_status.list_cases(world.store)] == world.dois
    assert _accused(world, tmp_path, "127.0.0.11") == []


def test_a_deleted_case_is_named_and_its_doe_number_never_given_again(world: World) -> None:
    c = world.dois[2]
    _delete_case(world.db, c)
    built = CliRunner().invoke(app, ["cases", "build", "--db", str(world.db)])
    assert built.exit_code == 1, built.output
    assert f"error: {c}: refused: sealed case row missing or altered" in built.output, built.output
    assert "0 new case(s)" in built.output, built.output
    sealed = SealedBuilds.of(workflow_history(world.store, store_trust(world.store, None)))
    assert sealed.highest == 3
    first = T0 - 9 * DAY
    fresh = _candidate("127.0.0.14", first)
    made = case_status.upsert_case(world.store, fresh, None, None, None, None, T0, sealed)
    assert made.doe == "DOE-000004"  # the rows alone would give DOE-000003 again


def _candidate(ip: str, first: int) -> Candidate:
    return Candidate(ip, INFOHASH, 6890, first, first + 3 * HOUR, 4)
