"""Kademlia routing table (BEP 5 "Routing Table"): states, splits, capacity, closest, DHT-07."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.wire.routing import (
    GOOD_FOR,
    InsertOutcome,
    NodeEntry,
    NodeState,
    RoutingTable,
    distance,
    node_state,
    random_id_in,
)

OWN = bytes(20)


def nid(first: int, rest: int = 0) -> bytes:
    return bytes([first]) + rest.to_bytes(19, "big")


def addr(i: int) -> tuple[str, int]:
    return (f"127.0.{i // 250}.{i % 250 + 1}", 6881)


def test_distance_is_xor() -> None:
    assert distance(nid(0x80), OWN) == 1 << 159
    assert distance(nid(0xFF), nid(0xFF)) == 0


def test_node_states_per_bep5() -> None:
    entry = NodeEntry(nid(1), "127.0.0.1", 1, last_response=100.0)
    assert node_state(entry, 100.0 + GOOD_FOR - 1) is NodeState.GOOD
    assert node_state(entry, 100.0 + GOOD_FOR) is NodeState.QUESTIONABLE
    entry.last_query = 100.0 + GOOD_FOR  # it queried us after having answered once: good again
    assert node_state(entry, 100.0 + GOOD_FOR + 1) is NodeState.GOOD
    entry.failures = 2
    assert node_state(entry, 100.0 + GOOD_FOR + 1) is NodeState.BAD


def test_far_bucket_holds_k_then_reports_full() -> None:
    table = RoutingTable(OWN, k=8)
    outcomes = [table.observe_response(nid(0x80, i), addr(i), 0.0) for i in range(9)]
    assert outcomes[:8] == [InsertOutcome.ADDED] * 8
    assert outcomes[8] is InsertOutcome.BUCKET_FULL  # the 0x80.. half does not hold our id: no split
    assert len(table) == 8


def test_bucket_holding_own_id_splits() -> None:
    table = RoutingTable(OWN, k=2)
    for i, first in enumerate([0x80, 0x81, 0x01, 0x02]):
        assert table.observe_response(nid(first), addr(i), 0.0) is InsertOutcome.ADDED
    assert len(table.buckets) >= 2 and len(table) == 4


def test_bad_node_replaced_and_questionable_offered_for_ping() -> None:
    table = RoutingTable(OWN, k=2)
    table.observe_response(nid(0x80, 1), addr(1), 0.0)
    table.observe_response(nid(0x80, 2), addr(2), 0.0)
    assert table.observe_response(nid(0x80, 3), addr(3), GOOD_FOR + 1) is InsertOutcome.BUCKET_FULL
    bucket = table.bucket_for(nid(0x80, 3))
    assert [e.node_id for e in table.questionable_in(bucket, GOOD_FOR + 1)] == [nid(0x80, 1), nid(0x80, 2)]
    table.observe_failure(addr(1))
    table.observe_failure(addr(1))
    assert table.observe_response(nid(0x80, 3), addr(3), GOOD_FOR + 2) is InsertOutcome.REPLACED_BAD
    assert table.get(nid(0x80, 1)) is None and table.get(nid(0x80, 3)) is not None


def test_dht07_id_change_on_same_endpoint_replaces_entry() -> None:
    table = RoutingTable(OWN)
    table.observe_response(nid(0x40), addr(1), 0.0)
    assert table.observe_response(nid(0x41), addr(1), 1.0) is InsertOutcome.ID_CHANGED
    assert table.get(nid(0x40)) is None and len(table) == 1


def test_same_id_from_another_address_rejected_and_own_id_rejected() -> None:
    table = RoutingTable(OWN)
    table.observe_response(nid(0x40), addr(1), 0.0)
    assert table.observe_response(nid(0x40), addr(2), 1.0) is InsertOutcome.REJECTED
    assert table.observe_response(OWN, addr(3), 1.0) is InsertOutcome.REJECTED
    assert table.observe_response(b"short", addr(4), 1.0) is InsertOutcome.REJECTED


def test_observe_query_keeps_known_node_good_and_ignores_unknown() -> None:
    table = RoutingTable(OWN)
    table.observe_response(nid(0x40), addr(1), 0.0)
    table.observe_query(nid(0x40), GOOD_FOR)
    table.observe_query(nid(0x41), GOOD_FOR)
    entry = table.get(nid(0x40))
    assert entry is not None and node_state(entry, GOOD_FOR + 1) is NodeState.GOOD
    assert table.get(nid(0x41)) is None


def test_stale_buckets_and_random_id_in_range() -> None:
    table = RoutingTable(OWN, now=0.0)
    assert table.stale_buckets(10.0) == []
    stale = table.stale_buckets(GOOD_FOR)
    assert len(stale) == 1
    target = random_id_in(stale[0], b"\xff" * 20)
    assert stale[0].covers(int.from_bytes(target, "big"))


@settings(max_examples=60, deadline=None)
@given(
    own=st.binary(min_size=20, max_size=20),
    ids=st.lists(st.binary(min_size=20, max_size=20), max_size=200),
    target=st.binary(min_size=20, max_size=20),
    n=st.integers(1, 40),
)
def test_properties_capacity_ranges_and_closest(own: bytes, ids: list[bytes], target: bytes, n: int) -> None:
    table = RoutingTable(own, k=8)
    for i, node_id in enumerate(ids):
        table.observe_response(node_id, addr(i), float(i))
    buckets = table.buckets
    assert buckets[0].low == 0 and buckets[-1].high == 1 << 160
    assert all(a.high == b.low for a, b in itertools.pairwise(buckets))
    assert all(len(b.entries) <= 8 for b in buckets)
    for b in buckets:
        assert all(b.covers(int.from_bytes(i, "big")) for i in b.entries)
    closest = table.closest(target, n)
    everything = sorted(table.entries(), key=lambda e: distance(e.node_id, target))
    assert [e.node_id for e in closest] == [e.node_id for e in everything[:n]]
    assert own not in {e.node_id for e in table.entries()}


def test_table_near_own_id_is_dense() -> None:
    """Random ids fill far buckets only to k, while splitting keeps room near our id."""
    rng = random.Random(1)
    table = RoutingTable(OWN, k=8)
    for i in range(2000):
        table.observe_response(rng.randbytes(20), addr(i), 0.0)
    assert len(table.buckets) > 5
    assert len(table) <= 8 * len(table.buckets)
    assert len(table.bucket_for(nid(0x80)).entries) == 8


@settings(max_examples=60, deadline=None)
@given(
    own=st.binary(min_size=20, max_size=20),
    ids=st.lists(st.binary(min_size=20, max_size=20), max_size=120),
    failing=st.sets(st.integers(0, 119), max_size=40),
    gone=st.sets(st.integers(0, 119), max_size=20),
    target=st.binary(min_size=20, max_size=20),
    n=st.integers(0, 20),
)
def test_properties_lookup_by_id_and_closest_without_bad_nodes(
    own: bytes, ids: list[bytes], failing: set[int], gone: set[int], target: bytes, n: int
) -> None:
    table = RoutingTable(own, k=8)
    for i, node_id in enumerate(ids):
        table.observe_response(node_id, addr(i), 0.0)
        table.closest_contacts(node_id, 8)  # fills the buckets' caches, which every change must reset
    before = [e.contact for e in table.closest(target, n, 1.0)]
    assert table.closest_contacts(target, n) == before
    for i in sorted(failing):
        table.observe_failure(addr(i))
        table.observe_failure(addr(i))  # BAD after two failures in a row (BEP 5)
    for i in sorted(gone):
        if i < len(ids):
            table.remove(ids[i])
    assert all(table.get(e.node_id) is e for e in table.entries())  # the id index follows the buckets
    assert all(table.get(node_id) is None for node_id in set(ids) - {e.node_id for e in table.entries()})
    live = sorted((e for e in table.entries() if e.failures < 2), key=lambda e: distance(e.node_id, target))
    assert [e.node_id for e in table.closest(target, n, 1.0)] == [e.node_id for e in live[:n]]
    assert table.closest_contacts(target, n) == [e.contact for e in live[:n]]  # compact node info, BEP 5
    for i in [i for i in sorted(failing) if i < len(ids)][:3]:  # a BAD node answering again is live again
        table.observe_response(ids[i], addr(i), 2.0)
    live = sorted((e for e in table.entries() if e.failures < 2), key=lambda e: distance(e.node_id, target))
    assert table.closest_contacts(target, n) == [e.contact for e in live[:n]]


def test_cached_contacts_follow_failures_removals_and_answers() -> None:
    """The compact node info kept per bucket for answers changes with the bucket (BEP 5 "good" nodes)."""
    table = RoutingTable(OWN, k=8)  # OWN is all zeros: ids with the top bit set share one bucket
    far = [bytes([0x80 + i]) + bytes(19) for i in range(8)]
    for i, node_id in enumerate(far):
        table.observe_response(node_id, addr(i), 0.0)
    target = far[0]

    def ranked() -> list[bytes]:
        return [c[:20] for c in table.closest_contacts(target, 4)]

    assert ranked() == far[:4]
    table.observe_failure(addr(1))
    assert ranked() == far[:4]  # one failure: questionable, still answered with
    table.observe_failure(addr(1))
    assert ranked() == [far[0], far[2], far[3], far[4]]  # BAD after two failures in a row
    table.remove(far[2])
    assert ranked() == [far[0], far[3], far[4], far[5]]
    table.observe_response(far[1], addr(1), 1.0)
    assert ranked() == [far[0], far[1], far[3], far[4]]  # it answered again
    assert table.closest_contacts(target, 4)[0] == far[0] + bytes(
        [127, 0, 0, 1, 0x1A, 0xE1]
    )  # 127.0.0.1:6881
