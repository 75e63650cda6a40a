"""Thresholds: verified hits → case candidates, with the reasons an address is excluded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.cases.thresholds import (
    Candidate,
    Hit,
    ThresholdPolicy,
    candidates,
    evaluate,
    policy_warnings,
)
from swarmscope.evidence.bundle.vantage import corroborated, independent_pairs

IH = "aa" * 20
MIN = 60 * 10**6
T0 = 1_780_000_000 * 10**6
POLICY = ThresholdPolicy()


def hits_at(
    *minutes: float, ip: str = "127.0.0.9", port: int = 6881, flagged: tuple[int, ...] = ()
) -> list[Hit]:
    return [
        Hit(ip, port, IH, T0 + int(m * MIN), T0 + int(m * MIN) + 5 * 10**6, i in flagged)
        for i, m in enumerate(minutes)
    ]


def codes(c: Candidate) -> set[str]:
    return {
        r.split(":")[0] if not r.startswith("flagged:") else ":".join(r.split(":")[:2])
        for r in c.reasons_excluded
    }


def test_two_hits_in_ten_minutes_is_not_a_candidate() -> None:
    """The court case of README "Thresholds": two sightings ten minutes apart."""
    (verdict,) = evaluate(hits_at(0, 10), POLICY, {})
    assert codes(verdict) == {"too_few_hits", "span_too_short"}
    assert candidates(hits_at(0, 10), POLICY, {}) == []


def test_three_hits_over_59_minutes_is_not() -> None:
    (verdict,) = evaluate(hits_at(0, 30, 59), POLICY, {})
    assert codes(verdict) == {"span_too_short"}
    assert "59.0 min" in verdict.reasons_excluded[0]


def test_three_hits_over_61_minutes_is() -> None:
    (c,) = candidates(hits_at(0, 30, 61), POLICY, {})
    assert (c.ip, c.infohash, c.port, c.hits) == ("127.0.0.9", IH, 6881, 3)
    assert (c.first_hit_us, c.last_hit_us, c.span_us) == (T0, T0 + 61 * MIN, 61 * MIN)


def test_exactly_one_hour_passes() -> None:
    assert candidates(hits_at(0, 30, 60), POLICY, {})


def test_order_of_hits_does_not_matter() -> None:
    assert candidates(list(reversed(hits_at(0, 30, 61))), POLICY, {}) == candidates(
        hits_at(0, 30, 61), POLICY, {}
    )


def test_a_clock_flagged_hit_excludes_the_address() -> None:
    (verdict,) = evaluate(hits_at(0, 30, 61, 90, flagged=(1,)), POLICY, {})
    assert codes(verdict) == {"clock_flagged"}
    assert not verdict.is_candidate


@pytest.mark.parametrize("flag", ["hosting", "vpn", "tor"])
def test_flagged_addresses_are_excluded_unless_allowed(flag: str) -> None:
    flags = {"127.0.0.9": frozenset({flag})}
    (verdict,) = evaluate(hits_at(0, 30, 61), POLICY, flags)
    assert codes(verdict) == {f"flagged:{flag}"}
    assert candidates(hits_at(0, 30, 61), ThresholdPolicy(allow_flags=frozenset({flag})), flags)


def test_allowing_one_flag_does_not_allow_another() -> None:
    flags = {"127.0.0.9": frozenset({"hosting", "vpn"})}
    (verdict,) = evaluate(hits_at(0, 30, 61), ThresholdPolicy(allow_flags=frozenset({"hosting"})), flags)
    assert codes(verdict) == {"flagged:vpn"}


def test_flags_of_another_ip_do_not_matter() -> None:
    assert candidates(hits_at(0, 30, 61), POLICY, {"127.0.0.8": frozenset({"tor"})})


def test_three_ports_of_one_ip_are_three_groups_not_one_candidate() -> None:
    """Carrier-grade NAT: one IP, three ports may be three subscribers; hits are never pooled."""
    hits = hits_at(0, port=50001) + hits_at(30, port=50002) + hits_at(61, port=50003)
    assert candidates(hits, POLICY, {}) == []
    verdicts = evaluate(hits, POLICY, {})
    assert [(v.port, v.hits, v.other_ports) for v in verdicts] == [
        (50001, 1, (50002, 50003)),
        (50002, 1, (50001, 50003)),
        (50003, 1, (50001, 50002)),
    ]
    assert all(codes(v) == {"too_few_hits", "span_too_short"} for v in verdicts)
    assert "also seen on ports 50002, 50003" in verdicts[0].notes[0]


def test_a_candidate_counts_only_its_own_port_and_names_the_others() -> None:
    hits = hits_at(0, 30, 61, port=6881) + hits_at(10, 20, port=51413)
    (c,) = candidates(hits, POLICY, {})
    assert (c.port, c.hits, c.first_hit_us, c.last_hit_us, c.other_ports) == (
        6881,
        3,
        T0,
        T0 + 61 * MIN,
        (51413,),
    )
    assert c.is_candidate and c.notes[0].startswith("also_seen_on_ports: 127.0.0.9 also seen on ports 51413")
    (alone,) = candidates(hits_at(0, 30, 61), POLICY, {})
    assert alone.other_ports == () and alone.notes == ()


def test_a_clock_flagged_hit_on_another_port_does_not_exclude() -> None:
    hits = hits_at(0, 30, 61) + hits_at(5, port=6882, flagged=(0,))
    assert [c.port for c in candidates(hits, POLICY, {})] == [6881]


def test_policy_description_and_warnings() -> None:
    assert POLICY.describe() == "min_hits=3, min_span=60.0 min, allow_flags=none"
    assert policy_warnings(POLICY) == ()
    assert policy_warnings(ThresholdPolicy(min_hits=5, min_span_us=2 * 60 * MIN)) == ()
    weak = ThresholdPolicy(min_hits=1, min_span_us=0, allow_flags=frozenset({"hosting", "tor"}))
    assert weak.describe() == (
        "min_hits=1, min_span=0.0 min, allow_flags=hosting,tor "
        "(below the defaults: min_hits, min_span; opt-in: hosting,tor)"
    )
    warnings = policy_warnings(weak)
    assert len(warnings) == 4
    assert "min hits 1 is below the defaults a court-tested policy uses" in warnings[0]
    assert "min span 0.0 min is below the defaults" in warnings[1]
    assert "flagged hosting are admitted" in warnings[2] and "flagged tor" in warnings[3]


def test_groups_per_ip_port_and_infohash() -> None:
    hits = hits_at(0, 30, 61) + hits_at(0, 61, ip="127.0.0.10")
    hits += [Hit("127.0.0.9", 6881, "bb" * 20, T0, T0, False)]
    verdicts = evaluate(hits, POLICY, {})
    assert {(v.ip, v.infohash, v.is_candidate) for v in verdicts} == {
        ("127.0.0.9", IH, True),
        ("127.0.0.10", IH, False),
        ("127.0.0.9", "bb" * 20, False),
    }


def test_configurable_policy() -> None:
    assert candidates(hits_at(0, 10), ThresholdPolicy(min_hits=2, min_span_us=10 * MIN), {})
    with pytest.raises(ValueError):
        ThresholdPolicy(min_hits=0)
    with pytest.raises(ValueError):
        ThresholdPolicy(min_span_us=-1)


HIT = st.builds(
    Hit,
    ip=st.sampled_from(["127.0.0.2", "127.0.0.3", "::1"]),
    port=st.sampled_from([6881, 6882, 51413]),
    infohash=st.sampled_from([IH, "bb" * 20]),
    at_us=st.integers(T0, T0 + 4 * 60 * MIN),
    ended_us=st.just(T0),
    clock_flagged=st.booleans(),
)
FLAGS = st.dictionaries(
    st.sampled_from(["127.0.0.2", "127.0.0.3", "::1"]),
    st.frozensets(st.sampled_from(["hosting", "vpn", "tor"])),
)


@settings(max_examples=300)
@given(before=st.lists(HIT, max_size=12), more=st.lists(HIT, max_size=6), flags=FLAGS)
def test_adding_hits_never_removes_a_candidate_unless_flagged(
    before: list[Hit], more: list[Hit], flags: dict[str, frozenset[str]]
) -> None:
    was = {(c.ip, c.port, c.infohash) for c in candidates(before, POLICY, flags)}
    now = {(c.ip, c.port, c.infohash) for c in candidates(before + more, POLICY, flags)}
    flagged_added = {(h.ip, h.port, h.infohash) for h in more if h.clock_flagged}
    assert was - now <= flagged_added


@settings(max_examples=200)
@given(hits=st.lists(HIT, max_size=15), flags=FLAGS)
def test_every_candidate_meets_the_policy(hits: list[Hit], flags: dict[str, frozenset[str]]) -> None:
    for c in candidates(hits, POLICY, flags):
        group = [h for h in hits if (h.ip, h.port, h.infohash) == (c.ip, c.port, c.infohash)]
        assert len(group) == c.hits >= 3  # every counted hit came from this one address AND port
        assert c.span_us >= POLICY.min_span_us
        assert not any(h.clock_flagged for h in group) and not flags.get(c.ip)
        assert (c.first_hit_us, c.last_hit_us) == (min(h.at_us for h in group), max(h.at_us for h in group))


@settings(max_examples=200)
@given(hits=st.lists(HIT, max_size=15), flags=FLAGS)
def test_every_verdict_is_one_address_and_port_and_names_the_other_ports(
    hits: list[Hit], flags: dict[str, frozenset[str]]
) -> None:
    verdicts = evaluate(hits, POLICY, flags)
    assert sum(v.hits for v in verdicts) == len(hits)
    assert len({(v.ip, v.port, v.infohash) for v in verdicts}) == len(verdicts)
    for v in verdicts:
        ports = {h.port for h in hits if (h.ip, h.infohash) == (v.ip, v.infohash)}
        assert v.other_ports == tuple(sorted(ports - {v.port}))
        assert bool(v.notes) == bool(v.other_ports)


def test_min_vantages_counts_distinct_nodes_and_is_recorded() -> None:
    hits = [
        Hit("127.0.0.2", 6881, "aa" * 20, T0 + m * 1_800_000_000, T0, node=n) for m, n in enumerate("abab")
    ]
    one_node = [Hit(h.ip, h.port, h.infohash, h.at_us, h.ended_us, node="a") for h in hits]
    policy = ThresholdPolicy(min_vantages=2)
    (seen,) = evaluate(hits, policy, {})
    assert seen.is_candidate and seen.corroborated and seen.vantages == ("a", "b")
    (alone,) = evaluate(one_node, policy, {})
    assert alone.reasons_excluded == ("too_few_vantages: seen from 1 node(s), 2 required",)
    assert not alone.corroborated and evaluate(one_node, ThresholdPolicy(), {})[0].is_candidate
    assert policy.describe() == "min_hits=3, min_span=60.0 min, allow_flags=none, min_vantages=2"
    assert ThresholdPolicy().describe() == "min_hits=3, min_span=60.0 min, allow_flags=none"
    with pytest.raises(ValueError, match="min_vantages"):
        ThresholdPolicy(min_vantages=0)


def test_three_vantages_need_three_pairwise_independent_hits() -> None:
    """One node on three networks beside two more nodes on one network of theirs: three node keys and three
    vantages, but at most two hits differ pairwise in both (A on X, Y, Z; B and C on X)."""
    seen = [
        ("a", "198.51.100.0/24"),
        ("a", "203.0.113.0/24"),
        ("a", "192.0.2.0/24"),
        ("b", "198.51.100.0/24"),
    ]
    seen.append(("c", "198.51.100.0/24"))
    hits = [
        Hit("127.0.0.2", 6881, "aa" * 20, T0 + m * 1_800_000_000, T0, node=n, vantage=v)
        for m, (n, v) in enumerate(seen)
    ]
    (alone,) = evaluate(hits, ThresholdPolicy(min_vantages=3), {})
    assert alone.reasons_excluded == (
        "too_few_vantages: seen from 3 node(s) on 3 vantage point(s), but only 2 of them pairwise distinct"
        " in both node and vantage, 3 required",
    )
    assert evaluate(hits, ThresholdPolicy(min_vantages=2), {})[0].is_candidate
    moved = [
        *hits,
        Hit("127.0.0.2", 6881, "aa" * 20, T0 + 9 * 1_800_000_000, T0, node="c", vantage="10.9.0.0/24"),
    ]
    assert evaluate(moved, ThresholdPolicy(min_vantages=3), {})[0].is_candidate  # a-Y, b-X, c-new


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("XYZ")), max_size=8))
def test_two_independent_pairs_is_the_corroboration_rule(pairs: list[tuple[str, str]]) -> None:
    """For two named vantages the matching agrees with :func:`corroborated` (two keys AND two vantages)."""
    assert (independent_pairs(pairs) >= 2) == corroborated([n for n, _ in pairs], [v for _, v in pairs])
