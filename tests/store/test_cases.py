"""store.legal.cases: campaigns, the ISP directory, cases with stable DOE numbers, status changes and
requests."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from swarmscope.cases.thresholds import Candidate
from swarmscope.cases.workflow import WorkflowError, next_case_status, next_request_status
from swarmscope.store.database import Store, StoreError
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import cases as sc
from swarmscope.store.legal.schema import case_event, disclosure_event
from tests.store.factories import SWARM_A, SWARM_B, T0

HOUR = 3600 * 10**6


def cand(ip: str = "127.0.0.9", first: int = T0, last: int = T0 + 2 * HOUR, hits: int = 3) -> Candidate:
    return Candidate(ip, SWARM_A, 6881, first, last, hits)


def test_clients_and_works(store: Store) -> None:
    cid = sc.add_client(store, "Rights Ltd", "counsel@rights.example", T0)
    assert sc.add_client(store, "Rights Ltd", None, T0 + 1) == cid
    w1 = sc.add_work(store, "Rights Ltd", "Film", "PA-1", "/ref/film", T0)
    w2 = sc.add_work(store, "Other Co", "Film", None, None, T0)  # creates the client
    assert [c.name for c in sc.client_rows(store)] == ["Rights Ltd", "Other Co"]
    assert sc.client_rows(store)[0].contact == "counsel@rights.example"
    assert sc.get_work(store, w1) == sc.get_work(store, str(w1))
    assert sc.get_work(store, w1).client == "Rights Ltd"
    assert sc.get_work(store, w1).registration == "PA-1"
    with pytest.raises(case_rows.CaseStoreError, match="ambiguous"):
        sc.get_work(store, "Film")
    with pytest.raises(case_rows.CaseStoreError, match="already has"):
        sc.add_work(store, cid, "Film", None, None, T0)
    with pytest.raises(case_rows.CaseStoreError, match="not found"):
        sc.get_work(store, "No such")
    assert [w.id for w in sc.work_rows(store)] == [w1, w2]


def test_links_checks_and_the_work_of_a_torrent(store: Store) -> None:
    w1 = sc.add_work(store, "R", "One", None, None, T0)
    w2 = sc.add_work(store, "R", "Two", None, None, T0)
    link = sc.link_torrent(store, w1, SWARM_A.upper(), T0)
    assert sc.link_torrent(store, w1, SWARM_A, T0 + 5) == link
    assert sc.work_for_infohash(store, SWARM_A).id == w1  # type: ignore[union-attr]
    sc.set_torrent_check(store, link, "fake", 4, 0, "piece 0 differs", T0 + 9)
    (row,) = sc.work_torrents(store, infohash=SWARM_A)
    assert (row.status, row.checked_pieces, row.matched_pieces, row.checked_us) == ("fake", 4, 0, T0 + 9)
    assert sc.work_for_infohash(store, SWARM_A) is None  # a fake link names no work
    other = sc.link_torrent(store, w2, SWARM_A, T0)
    assert sc.work_for_infohash(store, SWARM_A).id == w2  # type: ignore[union-attr]
    sc.set_torrent_check(store, other, "confirmed", 4, 4, None, T0)
    assert sc.work_for_infohash(store, SWARM_B) is None
    with pytest.raises(case_rows.CaseStoreError):
        sc.set_torrent_check(store, link, "maybe", 0, 0, None, T0)
    with pytest.raises(case_rows.CaseStoreError):
        sc.set_torrent_check(store, 999, "fake", 0, 0, None, T0)
    with pytest.raises(case_rows.CaseStoreError):
        sc.link_torrent(store, 999, SWARM_A, T0)


def test_isp_directory(store: Store) -> None:
    a = sc.add_isp(store, "Loopnet", [64500, 64501], "abuse@loop.example", "1 Loop St", "DE", T0)
    sc.add_isp(store, "Alpha", [64502], None, None, None, T0)
    assert [i.name for i in sc.list_isps(store)] == ["Alpha", "Loopnet"]
    assert sc.isp_for_asn(store, 64501) == sc.get_isp(store, a) == sc.get_isp(store, "Loopnet")
    assert sc.get_isp(store, a).asns == (64500, 64501)
    assert sc.isp_for_asn(store, 1) is None
    with pytest.raises(case_rows.CaseStoreError, match="AS64500 already belongs to 'Loopnet'"):
        sc.add_isp(store, "Clash", [64500], None, None, None, T0)
    with pytest.raises(case_rows.CaseStoreError, match="already"):
        sc.add_isp(store, "Loopnet", [1], None, None, None, T0)
    with pytest.raises(case_rows.CaseStoreError, match="outside"):
        sc.add_isp(store, "Zero", [0], None, None, None, T0)
    with pytest.raises(case_rows.CaseStoreError, match="not in the directory"):
        sc.get_isp(store, "Nobody")


def test_upsert_is_stable_and_numbers_in_order(store: Store) -> None:
    isp_id = sc.add_isp(store, "Loopnet", [64500], None, None, None, T0)
    first = case_status.upsert_case(store, cand(), None, None, None, None, T0)
    second = case_status.upsert_case(store, cand("127.0.0.10"), None, isp_id, "Bavaria", "Munich", T0)
    assert (first.doe, second.doe) == ("DOE-000001", "DOE-000002")
    assert (first.status, first.hits, first.created_us) == ("candidate", 3, T0)
    again = case_status.upsert_case(store, cand(last=T0 + 3 * HOUR, hits=5), None, isp_id, "R", "C", T0 + 9)
    assert (again.id, again.doe, again.hits, again.last_hit_us) == (first.id, "DOE-000001", 5, T0 + 3 * HOUR)
    assert (again.isp_id, again.region, again.created_us) == (isp_id, "R", T0)
    assert len(case_status.list_cases(store)) == 2
    assert (
        case_status.get_case(store, "doe-000002")
        == case_status.get_case(store, second.id)
        == case_status.get_case(store, str(second.id))
    )
    assert [c.doe for c in case_status.list_cases(store, isp_id=isp_id)] == ["DOE-000001", "DOE-000002"]
    assert [e.actor for e in case_status.case_events(store, first.id)] == ["swarmscope"]
    with pytest.raises(case_rows.CaseStoreError):
        case_status.get_case(store, "DOE-999999")


def test_a_requested_case_keeps_what_the_isp_was_shown(store: Store) -> None:
    case = case_status.upsert_case(store, cand(), None, None, None, None, T0)
    case_status.set_case_status(store, case.id, "request", "alice", None, T0 + 1, rule=next_case_status)
    later = case_status.upsert_case(store, cand(last=T0 + 9 * HOUR, hits=9), None, None, None, None, T0 + 2)
    assert (later.hits, later.last_hit_us, later.status) == (3, T0 + 2 * HOUR, "requested")


def test_status_changes_follow_the_workflow_and_are_recorded(store: Store) -> None:
    case = case_status.upsert_case(store, cand(), None, None, None, None, T0)
    steps = [("request", "requested"), ("identify", "identified"), ("draft", "drafted")]
    steps += [("approve", "approved"), ("send", "sent"), ("pay", "paid")]
    for n, (event, status) in enumerate(steps, start=1):
        row = case_status.set_case_status(
            store, case.doe, event, "alice", "ok" if n == 4 else None, T0 + n, rule=next_case_status
        )
        assert (row.status, row.status_us) == (status, T0 + n)
    assert row.closed_us == T0 + 6  # paid closes
    events = case_status.case_events(store, case.id)
    assert [e.status for e in events] == ["candidate", *[s for _e, s in steps]]
    assert events[4].note == "approve: ok" and events[4].actor == "alice"
    closed = case_status.set_case_status(
        store, case.id, "close", "alice", None, T0 + 99, rule=next_case_status
    )
    assert closed.closed_us == T0 + 6 and closed.status == "closed"


def test_refused_moves_write_nothing(store: Store) -> None:
    case = case_status.upsert_case(store, cand(), None, None, None, None, T0)
    with pytest.raises(WorkflowError, match=r"'send'.*'candidate'"):
        case_status.set_case_status(store, case.id, "send", "alice", None, T0 + 1, rule=next_case_status)
    with pytest.raises(case_rows.CaseStoreError, match="actor"):
        case_status.set_case_status(store, case.id, "request", " ", None, T0 + 1, rule=next_case_status)
    assert case_status.get_case(store, case.id) == case
    assert len(case_status.case_events(store, case.id)) == 1


def test_events_are_append_only(store: Store) -> None:
    case = case_status.upsert_case(store, cand(), None, None, None, None, T0)
    with pytest.raises(sa.exc.SQLAlchemyError), store.engine.begin() as conn:
        conn.execute(sa.update(case_event).where(case_event.c.case_id == case.id).values(actor="mallory"))
    rid = case_status.add_request(store, sc.add_isp(store, "L", [1], None, None, None, T0), None, T0)
    with pytest.raises(sa.exc.SQLAlchemyError), store.engine.begin() as conn:
        conn.execute(sa.delete(disclosure_event).where(disclosure_event.c.request_id == rid))


def test_requests_dates_and_cases(store: Store) -> None:
    loop = sc.add_isp(store, "Loopnet", [64500], None, None, None, T0)
    other = sc.add_isp(store, "Other", [64501], None, None, None, T0)
    mine = case_status.upsert_case(store, cand(), None, loop, None, None, T0)
    theirs = case_status.upsert_case(store, cand("127.0.0.10"), None, other, None, None, T0)
    rid = case_status.add_request(store, loop, "Bavaria", T0 + 1, actor="alice")
    case_status.attach_cases(store, rid, [mine.id])
    with pytest.raises(case_rows.CaseStoreError, match="not the ISP"):
        case_status.attach_cases(store, rid, [theirs.id])
    assert [c.doe for c in case_status.list_cases(store, request_id=rid)] == [mine.doe]
    case_status.set_request_exhibit(store, rid, "AB" * 32)
    served = case_status.set_request_status(
        store, rid, "served", "alice", "by courier", T0 + 5, rule=next_request_status, at_us=T0 + 3
    )
    assert (served.status, served.status_us, served.exhibit_sha256, served.region) == (
        "served",
        T0 + 3,
        "ab" * 32,
        "Bavaria",
    )
    with pytest.raises(WorkflowError, match="'served' to 'drafted'"):
        case_status.set_request_status(store, rid, "drafted", "alice", None, T0 + 6, rule=next_request_status)
    case_status.set_request_status(store, rid, "complied", "bob", None, T0 + 7, rule=next_request_status)
    events = case_status.request_events(store, rid)
    assert [(e.status, e.at_us, e.actor) for e in events] == [
        ("drafted", T0 + 1, "alice"),
        ("served", T0 + 3, "alice"),
        ("complied", T0 + 7, "bob"),
    ]
    assert [r.id for r in case_status.request_rows(store, isp_id=loop)] == [rid]
    assert case_status.request_rows(store, isp_id=other) == []
    with pytest.raises(case_rows.CaseStoreError):
        case_status.add_request(store, 999, None, T0)
    with pytest.raises(case_rows.CaseStoreError):
        case_status.get_request(store, 999)


def test_cooperation_rate(store: Store) -> None:
    loop = sc.add_isp(store, "Loopnet", [64500], None, None, None, T0)
    sc.add_isp(store, "Quiet", [64501], None, None, None, T0)
    outcomes = ["complied", "partially_complied", "quashed", "contested", None]
    for outcome in outcomes:
        rid = case_status.add_request(store, loop, None, T0)
        case_status.set_request_status(store, rid, "served", "a", None, T0, rule=next_request_status)
        if outcome:
            case_status.set_request_status(store, rid, outcome, "a", None, T0, rule=next_request_status)
    case_status.add_request(store, loop, None, T0)
    coop = {c.name: c for c in case_status.cooperation(store)}
    assert coop["Loopnet"].counts == {
        "complied": 1,
        "partially_complied": 1,
        "quashed": 1,
        "contested": 1,
        "served": 1,
        "drafted": 1,
    }
    assert coop["Loopnet"].answered == 4
    assert coop["Loopnet"].rate == pytest.approx(1.5 / 4)
    assert (coop["Quiet"].counts, coop["Quiet"].answered, coop["Quiet"].rate) == ({}, 0, None)


def test_case_store_error_is_a_store_error() -> None:
    assert issubclass(case_rows.CaseStoreError, StoreError)
