"""store.legal.case_rows.record_build: what `cases build` writes on a case still at candidate (review M1,
H5)."""

from __future__ import annotations

import pytest

from swarmscope.cases.thresholds import Candidate
from swarmscope.cases.workflow import next_case_status
from swarmscope.store.database import Store
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal.case_rows import record_build
from tests.store.factories import SWARM_A, T0

HOUR = 3600 * 10**6


def test_record_build_sets_the_exact_evidence_and_appends_the_note(store: Store) -> None:
    case = case_status.upsert_case(
        store, Candidate("127.0.0.9", SWARM_A, 6881, T0, T0 + 3 * HOUR, 5), None, None, None, None, T0
    )
    assert record_build(store, case.id, hits=3, last_hit_us=T0 + 2 * HOUR, note="build: x; policy: p",
                        actor="counsel", now_us=T0 + 1)  # fmt: skip
    row = case_status.get_case(store, case.id)
    assert (row.hits, row.last_hit_us, row.status) == (3, T0 + 2 * HOUR, "candidate")
    last = case_status.case_events(store, case.id)[-1]
    assert (last.status, last.actor, last.at_us, last.note) == (
        "candidate",
        "counsel",
        T0 + 1,
        "build: x; policy: p",
    )


def test_record_build_leaves_a_case_past_candidate_alone(store: Store) -> None:
    case = case_status.upsert_case(
        store, Candidate("127.0.0.9", SWARM_A, 6881, T0, T0 + 3 * HOUR, 5), None, None, None, None, T0
    )
    case_status.set_case_status(store, case.id, "request", "counsel", None, T0 + 1, rule=next_case_status)
    events = len(case_status.case_events(store, case.id))
    assert not record_build(store, case.id, hits=3, last_hit_us=T0, note="n", actor="a", now_us=T0 + 2)
    assert (
        case_status.get_case(store, case.id).hits == 5
        and len(case_status.case_events(store, case.id)) == events
    )
    with pytest.raises(case_rows.CaseStoreError, match="not found"):
        record_build(store, 999, hits=3, last_hit_us=T0, note="n", actor="a", now_us=T0)
