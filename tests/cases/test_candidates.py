"""Candidates from a real store: sealed verified observations, clock samples, attributions → cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.cases.candidates import build_cases, evaluate_store, load_hits
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.records import Tier
from swarmscope.store import cases as sc
from swarmscope.store.database import Store
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
    assert sc.list_cases(store) == []


def test_clock_flagged_hit_excludes_with_the_run_threshold(store: Store) -> None:
    # Good at 0, 150 ms off at 20, good again at 40: a hit at minute 30 is in the window.
    samples = [sample(0, 1), sample(20, 150), sample(40, 1), sample(200, 1)]
    seal(store, [*samples, hit("127.0.0.2", 0), hit("127.0.0.2", 30), hit("127.0.0.2", 70)])
    assert [h.clock_flagged for h in load_hits(store)] == [False, True, False]
    assert verdict_of(store, "127.0.0.2") == ("clock_flagged",)
    # A looser threshold (override) clears the window.
    assert verdict_of(store, "127.0.0.2", clock_threshold_us=200_000) == ()


def test_run_settings_threshold_is_used(store: Store) -> None:
    samples = [sample(0, 1), sample(20, 150), sample(40, 1)]
    seal(store, [*samples, *(hit("127.0.0.2", m) for m in (0, 30, 70))], settings={"clock_threshold_ms": 500})
    assert not any(h.clock_flagged for h in load_hits(store))


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
    assert len(sc.list_cases(store)) == 2


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
