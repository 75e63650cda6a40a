"""Candidates from a real store: sealed verified observations, clock samples, attributions → cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.candidates import build_cases, evaluate_store, load_hits, recorded_policy
from swarmscope.cases.case_state import status_problem
from swarmscope.cases.request_state import seal_request_link
from swarmscope.cases.thresholds import Candidate, ThresholdPolicy
from swarmscope.cases.workflow import next_case_status
from swarmscope.errors import InputError
from swarmscope.evidence.records import Tier
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from swarmscope.store.legal.schema import legal_case
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.cases.evidence import IH, OTHER_IH, T0, attributed, fresh_store, hit, sample, seal

POLICY = ThresholdPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def linked(store: Store, infohash: str = IH, status: str = "linked") -> int:
    work = sc.add_work(store, "Rights Ltd", f"Work {infohash[:4]}", None, None, T0)
    link = sc.link_torrent(store, work, infohash, T0)
    if status != "linked":
        sc.set_torrent_check(store, link, status, 4, 4 if status == "confirmed" else 0, None, T0)
    return work


def verdict_of(store: Store, ip: str, **kw: object) -> tuple[str, ...]:
    verdicts, _ = evaluate_store(store, POLICY, **kw)  # type: ignore[arg-type]
    (found,) = [v for v in verdicts if v.ip == ip]
    return tuple(r.split(":")[0] for r in found.reasons_excluded)


def test_only_verified_observations_are_hits(store: Store) -> None:
    records = [hit("127.0.0.2", m) for m in (0, 30, 70)]
    records += [
        hit("127.0.0.3", m, tier=t)
        for m, t in ((0, Tier.LISTED), (30, Tier.CONNECTED), (70, Tier.HAS_PIECES))
    ]
    records += [hit("127.0.0.3", 80)]
    seal(store, records)
    hits = load_hits(store)
    assert sorted({h.ip for h in hits}) == ["127.0.0.2", "127.0.0.3"]
    assert len([h for h in hits if h.ip == "127.0.0.3"]) == 1
    assert verdict_of(store, "127.0.0.3") == ("too_few_hits", "span_too_short")
    assert verdict_of(store, "127.0.0.2") == ()


def test_two_hits_in_ten_minutes_make_no_case(store: Store) -> None:
    seal(store, [hit("127.0.0.2", 0), hit("127.0.0.2", 10)])
    linked(store)
    report = build_cases(store, POLICY, T0)
    assert report.created == [] and [v.ip for v in report.excluded] == ["127.0.0.2"]
    assert case_status.list_cases(store) == []


def test_clock_flagged_hit_excludes_with_the_run_threshold(store: Store) -> None:
    # Good at 0, 150 ms off at 20, good again at 40: a hit at minute 30 is in the window.
    samples = [sample(0, 1), sample(20, 150), sample(40, 1), sample(200, 1)]
    seal(store, [*samples, hit("127.0.0.2", 0), hit("127.0.0.2", 30), hit("127.0.0.2", 70)])
    assert [h.clock_flagged for h in load_hits(store)] == [False, True, False]
    assert verdict_of(store, "127.0.0.2") == ("clock_flagged",)
    # The override may only tighten the sealed 100 ms: a looser one is refused, nothing is built.
    linked(store)
    with pytest.raises(InputError, match="looser than the 100 ms sealed in the run settings"):
        load_hits(store, clock_threshold_us=200_000)
    with pytest.raises(InputError, match="may only be made stricter"):
        build_cases(store, POLICY, T0, clock_threshold_us=200_000)
    assert case_status.list_cases(store) == []
    assert verdict_of(store, "127.0.0.2", clock_threshold_us=100_000) == ("clock_flagged",)


def test_run_settings_threshold_is_used_and_may_be_tightened(store: Store) -> None:
    samples = [sample(0, 1), sample(20, 150), sample(40, 1)]
    seal(store, [*samples, *(hit("127.0.0.2", m) for m in (0, 30, 70))], settings={"clock_threshold_ms": 500})
    assert not any(h.clock_flagged for h in load_hits(store))
    assert [h.clock_flagged for h in load_hits(store, clock_threshold_us=100_000)] == [False, True, False]
    with pytest.raises(InputError, match="looser than the 500 ms"):
        load_hits(store, clock_threshold_us=600_000)


def test_the_override_is_checked_against_every_run_of_the_node(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)], settings={"clock_threshold_ms": 500})
    seal(
        store,
        [hit("127.0.0.3", 1, infohash=OTHER_IH)],
        settings={"clock_threshold_ms": 50},
        swarms=(OTHER_IH,),
    )
    # One clock judgement per node, as export makes it: the strictest policy sealed by any of the node's
    # runs (50 ms) applies to every hit, whichever swarm is judged.
    with pytest.raises(InputError, match="50 ms sealed"):
        load_hits(store, infohash=IH, clock_threshold_us=400_000)
    with pytest.raises(InputError, match="50 ms sealed"):
        load_hits(store, clock_threshold_us=400_000)
    assert len(load_hits(store, infohash=IH, clock_threshold_us=40_000)) == 3


def test_commercial_anchor_runs_keep_their_sealed_strict_threshold(store: Store) -> None:
    samples = [sample(0, 1), sample(20, 60), sample(40, 1)]  # 60 ms: fine at 100, flagged at 40
    settings = {"clock_threshold_ms": 100, "clock_policy": "commercial-anchor"}
    seal(store, [*samples, *(hit("127.0.0.2", m) for m in (0, 30, 70))], settings=settings)
    assert [h.clock_flagged for h in load_hits(store)][1] is True
    with pytest.raises(InputError, match="looser than the 40 ms"):
        load_hits(store, clock_threshold_us=100_000)


def test_a_run_without_clock_samples_is_unmeasured_and_flags_nothing(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)], settings={})
    assert not any(h.clock_flagged for h in load_hits(store))


def test_hosting_flag_at_hit_time_excludes_unless_allowed(store: Store) -> None:
    records: list[object] = [attributed("127.0.0.2", -1, 64500, ("hosting",))]
    records += [hit("127.0.0.2", m) for m in (0, 30, 70)]
    # An attribution after every hit does not apply to them.
    records += [attributed("127.0.0.3", 500, 64500, ("tor",)), *(hit("127.0.0.3", m) for m in (0, 30, 70))]
    seal(store, records)
    assert verdict_of(store, "127.0.0.2") == ("flagged",)
    assert verdict_of(store, "127.0.0.3") == ()
    verdicts, _ = evaluate_store(store, ThresholdPolicy(allow_flags=frozenset({"hosting"})))
    assert all(v.is_candidate for v in verdicts)


def test_build_assigns_isp_work_region_and_is_stable(store: Store) -> None:
    loop = sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    records: list[object] = [attributed("127.0.0.2", 0, 64500, region="Bavaria", city="Munich")]
    records += [hit("127.0.0.2", m) for m in (0, 30, 70)]
    records += [hit("127.0.0.4", m) for m in (5, 35, 75)]  # no attribution: no ISP
    seal(store, records)
    work = linked(store, status="confirmed")
    report = build_cases(store, POLICY, T0 + 1)
    by_ip = {c.ip: c for c in report.created}
    assert [c.doe for c in report.created] == ["DOE-000001", "DOE-000002"]
    case = by_ip["127.0.0.2"]
    assert (case.isp_id, case.work_id, case.region, case.city, case.hits) == (
        loop,
        work,
        "Bavaria",
        "Munich",
        3,
    )
    assert (case.first_hit_us, case.last_hit_us, case.port, case.status) == (
        T0,
        T0 + 70 * 60 * 10**6,
        6881,
        "candidate",
    )
    assert by_ip["127.0.0.4"].isp_id is None
    again = build_cases(store, POLICY, T0 + 2)
    assert again.created == [] and sorted(c.doe for c in again.refreshed) == ["DOE-000001", "DOE-000002"]
    assert len(case_status.list_cases(store)) == 2


def test_more_hits_later_refresh_the_same_case(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    linked(store)
    (first,) = build_cases(store, POLICY, T0).created
    seal(store, [hit("127.0.0.2", 200)], swarms=())
    (again,) = build_cases(store, POLICY, T0 + 1).refreshed
    assert (again.doe, again.hits, again.last_hit_us) == (first.doe, 4, T0 + 200 * 60 * 10**6)


@pytest.mark.parametrize(
    ("status", "require_confirmed", "why"),
    [(None, False, "no_work"), ("fake", False, "fake_torrent"), ("linked", True, "unconfirmed")],
)
def test_no_case_without_a_usable_work(
    store: Store, status: str | None, require_confirmed: bool, why: str
) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    if status is not None:
        linked(store, status=status)
    report = build_cases(store, POLICY, T0, require_confirmed=require_confirmed)
    assert report.created == [] and [w.split(":")[0] for _c, w in report.skipped] == [why]


def test_per_swarm_filter(store: Store) -> None:
    seal(
        store,
        [hit("127.0.0.2", m, infohash=i) for m in (0, 30, 70) for i in (IH, OTHER_IH)],
        swarms=(IH, OTHER_IH),
    )
    linked(store, IH)
    linked(store, OTHER_IH)
    assert [c.infohash for c in build_cases(store, POLICY, T0, infohash=OTHER_IH).created] == [OTHER_IH]


def notes_of(store: Store, doe: str) -> list[str]:
    return [e.note or "" for e in case_status.case_events(store, doe)]


def test_cgnat_three_ports_make_no_case_and_one_port_is_its_own_case(store: Store) -> None:
    """One IP, three ports, one hit each: three subscribers perhaps, never one candidate (review H5)."""
    records = [hit("127.0.0.2", m, port=p) for m, p in ((0, 50001), (30, 50002), (70, 50003))]
    records += [hit("127.0.0.3", m) for m in (0, 30, 70)] + [hit("127.0.0.3", 40, port=51413)]
    seal(store, records)
    linked(store)
    report = build_cases(store, POLICY, T0)
    assert [(c.ip, c.port, c.hits) for c in report.created] == [("127.0.0.3", 6881, 3)]
    assert sorted((v.ip, v.port) for v in report.excluded) == [
        ("127.0.0.2", 50001), ("127.0.0.2", 50002), ("127.0.0.2", 50003), ("127.0.0.3", 51413)
    ]  # fmt: skip
    (doe,) = [c.doe for c in report.created]
    assert report.notes[doe][0].startswith("also_seen_on_ports: 127.0.0.3 also seen on ports 51413")
    assert any("also seen on ports 51413" in n for n in notes_of(store, doe))


def test_the_policy_is_recorded_when_a_case_is_created_and_refreshed(store: Store) -> None:
    seal(store, [sample(-1, 5), *(hit("127.0.0.2", m) for m in (0, 30, 70))])  # a measured clock
    linked(store)
    (case,) = build_cases(store, POLICY, T0, actor="counsel").created
    events = case_status.case_events(store, case.doe)
    assert [e.status for e in events] == ["candidate", "candidate"] and events[-1].actor == "counsel"
    assert (
        "build: passed the thresholds: 3 verified hit(s) from 127.0.0.2:6881 over 70.0 min" in events[-1].note
    )
    assert recorded_policy(e.note for e in events) == (
        "min_hits=3, min_span=60.0 min, allow_flags=none, "
        "clock_threshold=100 ms (as sealed in the run settings)"
    )
    weak = ThresholdPolicy(min_hits=2, min_span_us=60 * 10**6, allow_flags=frozenset({"vpn"}))
    report = build_cases(store, weak, T0 + 1, clock_threshold_us=50_000)
    assert [c.doe for c in report.refreshed] == [case.doe]
    assert recorded_policy(notes_of(store, case.doe)) == (
        "min_hits=2, min_span=1.0 min, allow_flags=vpn "
        "(below the defaults: min_hits, min_span; opt-in: vpn), "
        "clock_threshold=50 ms (tightened; stricter than the sealed run settings)"
    )
    note = notes_of(store, case.doe)[-1]
    assert note.startswith("build: still passes: 3 verified hit(s)")
    assert "policy: min_hits=2, min_span=1.0 min, allow_flags=vpn (below the defaults" in note
    assert note.endswith("clock_threshold=50 ms (tightened; stricter than the sealed run settings)")


def test_a_candidate_that_no_longer_passes_is_withdrawn_and_leaves_the_open_cases(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)] + [hit("127.0.0.3", m) for m in (0, 10)])
    linked(store)
    loose = ThresholdPolicy(min_hits=2, min_span_us=5 * 60 * 10**6)
    assert sorted(c.ip for c in build_cases(store, loose, T0).created) == ["127.0.0.2", "127.0.0.3"]
    report = build_cases(store, POLICY, T0 + 5, actor="counsel")
    ((gone, reasons),) = report.withdrawn
    assert gone.ip == "127.0.0.3" and gone.status == "withdrawn" and gone.closed_us == T0 + 5
    assert [r.split(":")[0] for r in reasons] == ["too_few_hits", "span_too_short"]
    last = case_status.case_events(store, gone.doe)[-1]
    assert (last.status, last.actor) == ("withdrawn", "counsel")
    assert last.note.startswith("withdraw: no longer passes: too_few_hits: 2 verified hit(s), 3 required")
    assert "policy: min_hits=3, min_span=60.0 min" in last.note
    assert [c.ip for c in case_status.list_cases(store, status="candidate")] == ["127.0.0.2"]
    # Passing again under the loose policy does not reopen it.
    again = build_cases(store, loose, T0 + 6)
    assert again.created == [] and {c.doe: c.status for c in again.refreshed}[gone.doe] == "withdrawn"
    assert case_status.get_case(store, gone.doe).status == "withdrawn"


def test_a_build_of_another_swarm_leaves_the_cases_of_this_one(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    linked(store)
    build_cases(store, POLICY, T0)
    report = build_cases(store, ThresholdPolicy(min_hits=9), T0 + 1, infohash=OTHER_IH)
    assert report.withdrawn == [] and case_status.list_cases(store)[0].status == "candidate"


def test_a_case_past_candidate_is_only_reported(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    linked(store)
    (case,) = build_cases(store, POLICY, T0).created
    case_status.set_case_status(store, case.id, "request", "counsel", None, T0 + 1, rule=next_case_status)
    report = build_cases(store, ThresholdPolicy(min_hits=4), T0 + 2)
    assert report.withdrawn == []
    assert [(c.doe, c.status, r[0].split(":")[0]) for c, r in report.failing_later] == [
        (case.doe, "requested", "too_few_hits")
    ]
    assert case_status.get_case(store, case.id).status == "requested"


def test_a_fake_torrent_withdraws_its_candidates(store: Store) -> None:
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    work = linked(store)
    build_cases(store, POLICY, T0)
    (link,) = sc.work_torrents(store, work_id=work)
    sc.set_torrent_check(store, link.id, "fake", 4, 0, None, T0 + 1)
    ((gone, reasons),) = build_cases(store, POLICY, T0 + 2).withdrawn
    assert reasons[0].startswith("fake_torrent") and gone.status == "withdrawn"


def test_a_case_counted_across_ports_is_corrected_or_reported(store: Store) -> None:
    """A case built when hits were pooled per IP: its counts now come from its own port only."""
    seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)] + [hit("127.0.0.2", 90, port=6882)])
    linked(store)
    pooled = Candidate("127.0.0.2", IH, 6881, T0, T0 + 90 * 60 * 10**6, 4)
    case_status.upsert_case(store, pooled, None, None, None, None, T0)
    (case,) = build_cases(store, POLICY, T0 + 1).refreshed
    assert (case.hits, case.last_hit_us) == (3, T0 + 70 * 60 * 10**6) and case.work_id is not None
    # The same case past candidate is left as it is but reported.
    other = Candidate("127.0.0.4", IH, 6881, T0, T0 + 90 * 60 * 10**6, 4)
    seal(store, [hit("127.0.0.4", m) for m in (0, 30, 70)] + [hit("127.0.0.4", 90, port=6882)], swarms=())
    row = case_status.upsert_case(store, other, None, None, None, None, T0)
    case_status.set_case_status(store, row.id, "request", "counsel", None, T0 + 1, rule=next_case_status)
    report = build_cases(store, POLICY, T0 + 2)
    ((later, reasons),) = report.failing_later
    assert later.doe == row.doe and reasons[0].startswith("overstated: the case counts 4 verified hits, 3")


def test_two_ports_with_the_same_first_hit_get_one_case_and_a_skip(store: Store) -> None:
    records = [hit("127.0.0.2", m, port=p) for m in (0, 30, 70) for p in (6881, 6882)]
    seal(store, records)
    linked(store)
    report = build_cases(store, POLICY, T0)
    assert [(c.port, c.hits) for c in report.created] == [(6881, 3)]
    ((skipped, why),) = report.skipped
    assert skipped.port == 6882 and why.startswith("same_first_hit: case DOE-000001")
    assert build_cases(store, POLICY, T0 + 1).withdrawn == []


def test_cases_from_a_run_without_ntp_samples_say_the_clock_was_never_measured(store: Store) -> None:
    unmeasured = seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
    seal(store, [sample(99, 5), *(hit("127.0.0.3", m) for m in (100, 130, 170))], swarms=())
    linked(store)
    report = build_cases(store, POLICY, T0)
    assert sorted(c.ip for c in report.created) == ["127.0.0.2", "127.0.0.3"]
    never = f"clock never measured (no NTP sample) in monitor run(s) {unmeasured}: its hits were not checked"
    assert report.policy_note.endswith(never), report.policy_note
    for case in report.created:
        assert recorded_policy(notes_of(store, case.doe)) == report.policy_note


def test_a_peer_seen_from_two_nodes_is_corroborated_and_min_vantages_needs_them(tmp_path: Path) -> None:
    db = str(tmp_path / "fleet.db")
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    with (
        open_store(db, node_key=keys[0], now_us=T0) as one,
        open_store(db, node_key=keys[1], now_us=T0) as two,
    ):
        seal(  # two vantages: two distinct source addresses (sealed bind_ip; on loopback, one address each)
            one,
            [hit("127.0.0.2", m) for m in (0, 30, 70)] + [hit("127.0.0.3", m) for m in (0, 30, 70)],
            settings={"clock_threshold_ms": 100.0, "bind_ip": "127.0.4.1"},
        )
        seal(  # only .2 seen from the second node
            two, [hit("127.0.0.2", m + 1) for m in (0, 30, 70)], settings={"bind_ip": "127.0.4.5"}
        )
        fingerprints = [key_fingerprint(public_key_raw(k)) for k in keys]
        trust = EvidenceTrust(frozenset(fingerprints), T0 + 10**13)
        strict = ThresholdPolicy(min_vantages=2)
        verdicts, _ = evaluate_store(one, strict, trust=trust)
        by_ip = {v.ip: v for v in verdicts}
        assert by_ip["127.0.0.2"].vantages == tuple(sorted(fingerprints))
        assert by_ip["127.0.0.2"].corroborated and by_ip["127.0.0.2"].is_candidate
        assert by_ip["127.0.0.3"].vantages == (fingerprints[0],) and not by_ip["127.0.0.3"].corroborated
        assert by_ip["127.0.0.3"].reasons_excluded == ("too_few_vantages: seen from 1 node(s), 2 required",)
        single, _ = evaluate_store(one, POLICY, trust=trust)  # the default: one vantage is enough
        assert all(v.is_candidate for v in single)


@pytest.mark.parametrize(
    ("bind_one", "bind_two"),
    [
        ("127.0.4.1", "127.0.4.1"),
        (None, None),
        ("192.0.2.10", "192.0.2.200"),
        ("2001:db8:1:1::1", "2001:db8:1:2::1"),
    ],
)
def test_two_nodes_on_one_source_address_or_network_are_one_vantage(
    tmp_path: Path, bind_one: str | None, bind_two: str | None
) -> None:
    db = str(tmp_path / "fleet.db")
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    with (
        open_store(db, node_key=keys[0], now_us=T0) as one,
        open_store(db, node_key=keys[1], now_us=T0) as two,
    ):
        for store, bind, shift in ((one, bind_one, 0), (two, bind_two, 1)):
            settings = {"clock_threshold_ms": 100.0} | ({} if bind is None else {"bind_ip": bind})
            seal(store, [hit("127.0.0.2", m + shift) for m in (0, 30, 70)], settings=settings)
        trust = EvidenceTrust(frozenset(key_fingerprint(public_key_raw(k)) for k in keys), T0 + 10**13)
        (verdict,) = evaluate_store(one, ThresholdPolicy(min_vantages=2), trust=trust)[0]
        assert len(verdict.vantages) == 2 and len(verdict.networks) == 1 and not verdict.corroborated
        assert verdict.reasons_excluded == (
            "too_few_vantages: seen from 2 node(s) on 1 vantage point(s) (distinct source networks),"
            " 2 required",
        )


def test_a_candidate_named_in_a_sealed_request_is_reported_not_withdrawn(store: Store) -> None:
    """A candidate named in a disclosure request (its link sealed) that no longer passes is not withdrawn
    by the build (which runs without the signing key): an unsealed withdrawal would read as "status
    altered". It stays a candidate, reported for counsel, and its status agrees with its sealed history."""
    isp = sc.add_isp(store, "Loopback Telecom", [64500], "abuse@isp.test", "1 ISP Way", "DE", T0)
    seal(store, [attributed("127.0.0.2", 0, 64500), *(hit("127.0.0.2", m) for m in (0, 30, 70))])
    linked(store)
    (case,) = build_cases(store, POLICY, T0).created
    rid = case_status.add_request(store, isp, None, T0, actor="counsel")
    case_status.attach_cases(store, rid, [case.id])
    seal_request_link(store, case, rid, T0 + 1)
    report = build_cases(store, ThresholdPolicy(min_hits=4), T0 + 2)
    assert report.withdrawn == []
    ((later, reasons),) = report.failing_later
    assert (later.doe, later.status) == (case.doe, "candidate") and reasons[0].startswith("too_few_hits")
    assert reasons[-1].startswith("sealed_events: a sealed decision names this candidate")
    history = workflow_history(store, store_trust(store, None))
    assert status_problem(history, case_status.get_case(store, case.id)) is None


def test_the_case_after_doe_999999_is_doe_1000000_then_1000001(store: Store) -> None:
    """DOE numbers are compared as numbers: a text maximum would pick DOE-999999 again after DOE-1000000
    and the next case would collide with it."""
    first = case_status.upsert_case(
        store, Candidate("127.0.0.2", IH, 6881, T0, T0 + 1, 3), None, None, None, None, T0
    )
    with store.engine.begin() as conn:
        conn.execute(sa.update(legal_case).where(legal_case.c.id == first.id).values(doe="DOE-999999"))
    second = case_status.upsert_case(
        store, Candidate("127.0.0.3", IH, 6881, T0, T0 + 1, 3), None, None, None, None, T0
    )
    third = case_status.upsert_case(
        store, Candidate("127.0.0.4", IH, 6881, T0, T0 + 1, 3), None, None, None, None, T0
    )
    assert (second.doe, third.doe) == ("DOE-1000000", "DOE-1000001")
