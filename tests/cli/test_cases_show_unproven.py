"""``cases show`` and ``cases list`` (and the console's case page and board, which read the same rows) show a
case row as stored: a case planted by someone who can write the database file but lacks the node key, for
an address that never served a byte, reads like any other candidate ("verified hits: 3"). Every document
refuses it; the views that counsel decides from must not present it as evidence either: they name it as
not proven (README "Only proven evidence"). SQLite, the world of tests/cases/test_tampered_evidence.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.candidates import build_cases
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import Store
from tests.cases.evidence import fresh_store
from tests.cases.test_tampered_evidence import HONEST_4, INVENTED, NOW, POLICY, populate, tamper

register_commands()
PLANTED = "DOE-000099"
SAID = ("not proven", "unproven", "refused", "not evidence")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def test_a_case_row_planted_without_the_key_is_not_shown_as_evidence(store: Store) -> None:
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    tamper(
        store,
        "INSERT INTO legal_case (doe, ip, port, infohash, work_id, isp_id, first_hit_us, last_hit_us, hits,"
        " region, city, status, created_us, status_us) SELECT"
        f" '{PLANTED}', '{INVENTED}', port, infohash, work_id, isp_id, first_hit_us, last_hit_us, hits,"
        f" region, city, status, created_us, status_us FROM legal_case WHERE doe = '{created[HONEST_4]}'",
    )
    db = str(store.engine.url.database)
    shown = CliRunner().invoke(app, ["cases", "show", PLANTED, "--db", db])
    assert INVENTED in shown.stdout, shown.output
    assert any(word in shown.output.lower() for word in SAID), shown.output
    listed = CliRunner().invoke(app, ["cases", "list", "--db", db])
    (line,) = [line for line in listed.output.splitlines() if PLANTED in line]
    assert any(word in line.lower() for word in SAID), line


def test_an_honest_case_is_proven_and_an_edited_first_hit_is_named(store: Store, tmp_path: Path) -> None:
    """The honest cases read as proven; a case whose ``first_hit_us`` alone was moved is named UNPROVEN for
    that field, not for its hit count (which did not change)."""
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    edited = created[HONEST_4]
    tamper(store, f"UPDATE legal_case SET first_hit_us = first_hit_us - 60000000 WHERE doe = '{edited}'")
    db = str(store.engine.url.database)
    lines = CliRunner().invoke(app, ["cases", "list", "--db", db]).output.splitlines()
    assert [line for line in lines if "UNPROVEN" in line and edited in line] and len(lines) == len(created)
    assert all("UNPROVEN" not in line for line in lines if edited not in line), lines
    shown = CliRunner().invoke(app, ["cases", "show", edited, "--db", db]).output
    (proof,) = [line for line in shown.splitlines() if line.startswith("proof:")]
    assert "UNPROVEN: its first_hit_us" in proof and "last_hit_us" not in proof and "hit(s)" not in proof
    honest = next(doe for doe in created.values() if doe != edited)
    shown = CliRunner().invoke(app, ["cases", "show", honest, "--db", db]).output
    assert "proof:         proven by the sealed ledger" in shown, shown
    key = Path(db + ".node-key.pem")
    key.rename(tmp_path / "elsewhere.pem")  # no trusted key: every case is marked, none is refused
    listed = CliRunner().invoke(app, ["cases", "list", "--db", db])
    assert listed.exit_code == 0 and listed.output.count("UNPROVEN: no trusted node key") == len(created)
    given = CliRunner().invoke(app, ["cases", "list", "--db", db, "--node-key", str(tmp_path / "none.pem")])
    assert given.exit_code == 1 and given.output.startswith("error: no node key at"), given.output


def test_a_first_hit_moved_onto_a_later_hit_names_first_hit_us(store: Store) -> None:
    """``first_hit_us`` moved onto the case's second hit: still a proven hit's time, but the interval now
    leaves the first one out, and the refusal says so before the count that follows from it."""
    trusted = populate(store)
    created = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trusted).created}
    edited = created[HONEST_4]
    tamper(store, f"UPDATE legal_case SET first_hit_us = first_hit_us + 1800000000 WHERE doe = '{edited}'")
    shown = CliRunner().invoke(app, ["cases", "show", edited, "--db", str(store.engine.url.database)])
    (proof,) = [line for line in shown.output.splitlines() if line.startswith("proof:")]
    assert "UNPROVEN: its first_hit_us " in proof and "leaves out proven hit(s) from" in proof, proof
    assert proof.index("first_hit_us") < proof.index("3 verified hit(s)") and "last_hit_us" not in proof
