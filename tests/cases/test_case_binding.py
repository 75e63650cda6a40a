"""A case row is bound to the identity sealed when ``cases build`` made it (swarmscope.cases.case_binding):
a row moved to another case's proven address, DOE numbers swapped, or a case built without a sealed build
reach no exhibit line or notice and the views say why; a re-run of the build keeps honest cases proven.
SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.case_views import reseal_unbound, unproven_cases
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.store.database import Store, open_store
from swarmscope.store.legal import case_status
from tests.cases.evidence import hit, seal
from tests.cases.test_tampered_clock import tamper
from tests.cases.test_tampered_work import HONEST, NOW, PORT_EDIT, documents, store, trust

__all__ = ["store"]  # the fixture, shared with test_tampered_work


def built(store: Store) -> dict[str, str]:
    """IP → DOE number of the cases a build with the defaults creates (both addresses: candidates)."""
    return {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}


def test_a_candidate_moved_to_another_cases_address_is_unproven(store: Store, tmp_path: Path) -> None:
    """No identification yet: only the sealed build says which address DOE numbers were made for."""
    does = built(store)
    a, b = does[HONEST], does[PORT_EDIT]
    tamper(
        store,
        f"UPDATE legal_case SET first_hit_us = first_hit_us + 1 WHERE doe = '{b}'",
        f"UPDATE legal_case SET ip = '{PORT_EDIT}' WHERE doe = '{a}'",
    )
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == []
    why = dict(refused)[a]
    assert why.startswith(f"{a}: refused: case identity altered (its row names {PORT_EDIT}:6881 from "), why
    shown = unproven_cases(store, trust(), [case_status.get_case(store, a)])[a]
    assert f"sealed events of {a} name {HONEST}:6881" in shown and "\n" not in shown, shown


def test_swapped_doe_numbers_are_unproven_and_named(store: Store, tmp_path: Path) -> None:
    does = built(store)
    a, b = does[HONEST], does[PORT_EDIT]
    tamper(
        store,
        f"UPDATE legal_case SET doe = 'DOE-SWAP' WHERE doe = '{a}'",
        f"UPDATE legal_case SET doe = '{a}' WHERE doe = '{b}'",
        f"UPDATE legal_case SET doe = '{b}' WHERE doe = 'DOE-SWAP'",
    )
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == [] and sorted(dict(refused)) == sorted([a, b])
    shown = unproven_cases(store, trust(), case_status.list_cases(store))
    assert f"its row names {PORT_EDIT}:6881" in shown[a] and f"name {HONEST}:6881" in shown[a], shown
    assert f"its row names {HONEST}:6881" in shown[b] and f"name {PORT_EDIT}:6881" in shown[b], shown


def test_a_case_built_without_a_sealed_build_is_unproven_until_resealed(store: Store, tmp_path: Path) -> None:
    """As a case from before builds were sealed: a build by a store without the node key."""
    reader = open_store(store.engine.url.render_as_string(hide_password=False), create=False)
    try:
        does = {c.ip: c.doe for c in build_cases(reader, ThresholdPolicy(), NOW, trust=trust()).created}
    finally:
        reader.close()
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == [] and sorted(dict(refused)) == sorted(does.values())
    assert all("case not sealed at build" in w and "`cases reseal DOE`" in w for _d, w in refused), refused
    tamper(store, f"UPDATE legal_case SET hits = 2 WHERE doe = '{does[PORT_EDIT]}'")  # its hits unproven
    resealed = reseal_unbound(store, trust(), NOW, sorted(does.values()))
    assert resealed[does[HONEST]] is None and "changed since it was built" in str(resealed[does[PORT_EDIT]])
    lines, refused, notices = documents(store, tmp_path / "again")
    assert lines == notices == [does[HONEST]] and [d for d, _ in refused] == [does[PORT_EDIT]]


def test_a_build_run_again_keeps_its_cases_proven(store: Store, tmp_path: Path) -> None:
    """A re-run refreshes the hits and last hit (not sealed) and seals nothing twice."""
    does = built(store)
    seal(store, [hit(HONEST, 100)], swarms=(), sealed_at_us=NOW)  # one more hit, sealed after the build
    again = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    assert again.created == [] and {c.doe for c in again.refreshed} == set(does.values())
    assert case_status.get_case(store, does[HONEST]).hits == 4
    lines, refused, notices = documents(store, tmp_path)
    assert sorted(lines) == sorted(notices) == sorted(does.values()) and refused == []
    assert unproven_cases(store, trust(), case_status.list_cases(store)) == {}
    again_sealed = reseal_unbound(store, trust(), NOW, sorted(does.values()))
    assert set(again_sealed.values()) == {"its build is sealed already"}


def test_a_build_racing_another_says_still_passes_for_the_case_the_other_made(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builds at once (PostgreSQL): the second read the case list before the first committed, so the
    case it upserts exists by then. Its report and the case's history say "still passes", not a second
    "passed the thresholds" (the created flag comes from the upsert's own transaction)."""
    does = built(store)
    real = case_status.list_cases
    monkeypatch.setattr(case_status, "list_cases", lambda s, **kw: [] if not kw else real(s, **kw))
    again = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    monkeypatch.undo()
    assert again.created == [] and {c.doe for c in again.refreshed} == set(does.values())
    for doe in does.values():
        notes = [e.note or "" for e in case_status.case_events(store, case_status.get_case(store, doe).id)]
        assert sum(n.startswith("build: passed the thresholds") for n in notes) == 1, notes
