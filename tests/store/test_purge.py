"""Retention purge at the database: due identities are deleted and nothing else changes; logs stay clean."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from swarmscope.cases.retention import ClosedCase, RetentionPolicy, due_identities
from swarmscope.cases.workflow import next_case_status
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal import case_status
from swarmscope.store.legal.purge import (
    identity_cases,
    ip_case_statuses,
    ip_evidence_counts,
    ip_last_seen,
    purge_identities,
    purge_log_rows,
)
from swarmscope.store.legal.subscribers import audit_rows, subscriber_rows
from swarmscope.store.metadata import metadata
from tests.store.factories import T0, observation, sighting
from tests.store.test_subscribers import HOUR, NAMES, disclosure, do_import, make_case

DAY = 24 * HOUR
POLICY = RetentionPolicy(ip_evidence_days=30, identity_months_after_close=6)
NOW = T0 + 400 * DAY


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    out = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            query = sa.select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in conn.execute(query)]
    return out


def build_world(store: Store, run_id: int) -> dict[str, int]:
    """Evidence for four addresses; three identified cases: closed long ago, closed recently, still open."""
    store.add_observations(
        run_id, [observation(ip=f"127.0.0.{n}") for n in (2, 3, 4, 5)], sealed_at_us=T0 + 3000
    )
    store.add_sightings(run_id, [sighting(ip="127.0.0.5", seen_at_us=T0 + 5000)], sealed_at_us=T0 + 6000)
    ids = {
        doe: make_case(store, doe, ip)
        for doe, ip in (("DOE-000001", "127.0.0.2"), ("DOE-000002", "127.0.0.3"), ("DOE-000003", "127.0.0.4"))
    }
    rows = [
        (ip, T0 - HOUR, T0 + HOUR, f"Person {n}", f"{n} Road", "")
        for n, ip in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    ]
    assert len(do_import(store, disclosure(*rows)).imported) == 3
    close = {"DOE-000001": NOW - 200 * DAY, "DOE-000002": NOW - 100 * DAY}
    for doe, at in close.items():
        case_status.set_case_status(
            store,
            doe,
            "withdraw" if doe == "DOE-000002" else "close",
            "counsel",
            None,
            at,
            rule=next_case_status,
        )
    return ids


def run(store: Store, now: int = NOW) -> int:
    cases = [ClosedCase(c.case_id, c.doe, c.status, c.closed_us) for c in identity_cases(store)]
    due = due_identities(cases, now, POLICY)
    return purge_identities(
        store, [(c.case_id, c.doe) for c in due], rule=POLICY.identity_rule, actor="dpo", now_us=now
    )


def test_purge_deletes_due_identities_and_nothing_else(store: Store, run_id: int) -> None:
    ids = build_world(store, run_id)
    before = snapshot(store)
    assert run(store) == 1
    after = snapshot(store)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"subscriber", "audit_log", "purge_log"}
    gone = [row for row in before["subscriber"] if row not in after["subscriber"]]
    assert [row[1] for row in gone] == [ids["DOE-000001"]]
    assert after["subscriber"] == [row for row in before["subscriber"] if row not in gone]
    assert after["audit_log"][: len(before["audit_log"])] == before["audit_log"]  # only appended
    assert [r.doe for r in subscriber_rows(store)] == ["DOE-000002", "DOE-000003"]
    purge = audit_rows(store)[-1]
    assert (purge.action, purge.subject, purge.actor, purge.at_us) == ("purge", "case:DOE-000001", "dpo", NOW)
    [log] = purge_log_rows(store)
    assert (log.kind, log.count, log.rule, log.detail) == (
        "identity",
        1,
        "identity_months_after_close=6",
        "cases: DOE-000001",
    )
    assert verify_ledger(store).ok


def test_the_recently_closed_identity_goes_when_its_time_comes(store: Store, run_id: int) -> None:
    build_world(store, run_id)
    assert run(store) == 1
    assert run(store, NOW + 90 * DAY) == 1  # DOE-000002 withdrawn 100 days before NOW: due after 6 months
    assert [r.doe for r in subscriber_rows(store)] == ["DOE-000003"]  # the open case keeps its identity
    assert run(store, NOW + 4000 * DAY) == 0
    assert [(r.count, r.detail) for r in purge_log_rows(store)] == [
        (1, "cases: DOE-000001"),
        (1, "cases: DOE-000002"),
        (0, None),
    ]


def test_logs_hold_no_personal_data(store: Store, run_id: int) -> None:
    build_world(store, run_id)
    run(store)
    rows = snapshot(store)
    text = repr(rows["purge_log"]) + repr(rows["audit_log"])
    for secret in (*NAMES, "Person 0", "0 Road", "127.0.0."):
        assert secret not in text


@pytest.mark.parametrize(
    "table", ["audit_log", "purge_log", "observation", "sighting", "case_event", "ledger_entry"]
)
def test_ordinary_deletes_are_still_refused(store: Store, run_id: int, table: str) -> None:
    build_world(store, run_id)
    run(store)
    rows = snapshot(store)[table]
    assert rows
    with pytest.raises(StoreError, match="append-only"), store._write() as conn:
        conn.execute(sa.text(f"DELETE FROM {table}"))
    assert snapshot(store)[table] == rows


def test_ip_evidence_inputs(store: Store, run_id: int) -> None:
    build_world(store, run_id)
    last = ip_last_seen(store)
    assert last == {
        "127.0.0.2": T0 + 2000,
        "127.0.0.3": T0 + 2000,
        "127.0.0.4": T0 + 2000,
        "127.0.0.5": T0 + 5000,
    }
    assert ip_case_statuses(store) == {
        "127.0.0.2": ["closed"],
        "127.0.0.3": ["withdrawn"],
        "127.0.0.4": ["identified"],
    }
    assert ip_evidence_counts(store, ["127.0.0.5", "127.0.0.3"]) == {
        "observation": 2,
        "sighting": 1,
        "attribution": 0,
    }
    assert ip_evidence_counts(store, []) == {"observation": 0, "sighting": 0, "attribution": 0}
