"""Iterative lookup state machine, driven against a simulated network of pure nodes (no I/O)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.wire.dht_lookup import Lookup
from swarmscope.wire.dht_scrape import BLOOM_BYTES, bloom_insert
from swarmscope.wire.krpc import Response
from swarmscope.wire.routing import distance
from swarmscope.wire.types import Endpoint


class Network:
    """N simulated nodes; each knows `known` random others plus its nearest neighbours in id space."""

    def __init__(self, size: int, seed: int, known: int = 12) -> None:
        rng = random.Random(seed)
        self.ids = [rng.randbytes(20) for _ in range(size)]
        self.addr = {i: (f"10.{i // 250}.{i % 250}.1", 6881) for i in range(size)}
        self.by_addr = {a: i for i, a in self.addr.items()}
        self.contacts: dict[int, list[int]] = {}
        for i in range(size):
            near = sorted(range(size), key=lambda j: distance(self.ids[i], self.ids[j]))[1:9]
            self.contacts[i] = sorted(set(near) | set(rng.sample(range(size), known)) - {i})
        self.values: dict[int, list[Endpoint]] = {}
        self.down: set[int] = set()
        self.queries = 0

    def closest(self, target: bytes, n: int = 8) -> list[int]:
        return sorted(range(len(self.ids)), key=lambda j: distance(self.ids[j], target))[:n]

    def answer(self, address: tuple[str, int], target: bytes) -> Response | None:
        self.queries += 1
        i = self.by_addr[address]
        if i in self.down:
            return None
        known = sorted(self.contacts[i], key=lambda j: distance(self.ids[j], target))[:8]
        nodes = tuple((self.ids[j], Endpoint(*self.addr[j])) for j in known)
        return Response(
            b"tt", self.ids[i], nodes=nodes, values=tuple(self.values.get(i, [])), token=b"tok%d" % i
        )


def run(lookup: Lookup, net: Network, target: bytes, max_rounds: int = 1000) -> int:
    """Drive the lookup; answer in-flight queries one at a time (out of order); returns max in flight."""
    rng = random.Random(0)
    flight: list[tuple[str, int]] = []
    peak = 0
    for _ in range(max_rounds):
        flight += lookup.next_queries()
        peak = max(peak, len(flight))
        if not flight:
            break
        address = flight.pop(rng.randrange(len(flight)))
        reply = net.answer(address, target)
        if reply is None:
            lookup.on_failure(address)
        else:
            lookup.on_response(address, reply)
    return peak


def test_finds_peers_stored_near_the_target_and_keeps_tokens() -> None:
    net = Network(300, seed=1)
    target = random.Random(9).randbytes(20)
    holders = net.closest(target, 8)
    for n, i in enumerate(holders):
        net.values[i] = [Endpoint("192.0.2.1", 1000 + n), Endpoint("192.0.2.9", 9)]
    lookup = Lookup(target, [(None, net.addr[0])], alpha=3, k=8)
    peak = run(lookup, net, target)
    assert lookup.done and peak <= 3
    result = lookup.result()
    assert {p.port for p in result.peers} == {9, *range(1000, 1008)}  # deduplicated
    assert [nid for nid, _ in result.closest] == [net.ids[i] for i in holders]
    assert result.tokens[Endpoint(*net.addr[holders[0]])] == b"tok%d" % holders[0]
    assert result.nodes_contacted < 100 and not result.exhausted


def test_failures_are_routed_around() -> None:
    net = Network(200, seed=2)
    target = random.Random(3).randbytes(20)
    holders = net.closest(target, 10)
    net.down = set(holders[:2])
    for i in holders[2:]:
        net.values[i] = [Endpoint("192.0.2.2", 2)]
    lookup = Lookup(target, [(net.ids[5], net.addr[5])])
    run(lookup, net, target)
    result = lookup.result()
    assert result.peers == (Endpoint("192.0.2.2", 2),)
    assert all(nid not in {net.ids[i] for i in net.down} for nid, _ in result.closest)


def test_query_budget_bounds_the_lookup() -> None:
    net = Network(200, seed=4)
    target = bytes(20)
    lookup = Lookup(target, [(None, net.addr[0])], max_queries=5)
    run(lookup, net, target)
    assert lookup.done and lookup.exhausted and net.queries == 5
    assert lookup.result().nodes_contacted == 5


def test_excluded_and_port_zero_addresses_never_queried_and_unknown_replies_ignored() -> None:
    lookup = Lookup(bytes(20), [(None, ("10.0.0.1", 1)), (None, ("10.0.0.2", 0)), (None, ("10.0.0.3", 3))],
                    exclude=[("10.0.0.3", 3)])  # fmt: skip
    assert lookup.next_queries() == [("10.0.0.1", 1)]
    assert (
        lookup.on_response(("10.9.9.9", 9), Response(b"t", b"x" * 20, values=(Endpoint("1.1.1.1", 1),))) == []
    )
    lookup.on_failure(("10.0.0.1", 1))
    assert lookup.done and lookup.result().peers == ()


def test_scrape_blooms_are_unioned() -> None:
    seeds, peers = bytearray(BLOOM_BYTES), bytearray(BLOOM_BYTES)
    for i in range(20):
        bloom_insert(seeds, f"10.0.0.{i}")
        bloom_insert(peers, f"10.0.1.{i}")
    lookup = Lookup(bytes(20), [(None, ("10.0.0.1", 1)), (None, ("10.0.0.2", 2))])
    for address in lookup.next_queries():
        lookup.on_response(address, Response(b"t", address[0].encode().ljust(20, b"."),
                                             bloom_seeds=bytes(seeds), bloom_peers=bytes(peers)))  # fmt: skip
    result = lookup.result()
    assert result.seeds_estimate is not None and 17 < result.seeds_estimate < 23
    assert result.peers_estimate is not None and 17 < result.peers_estimate < 23


def test_candidate_list_is_bounded() -> None:
    lookup = Lookup(bytes(20), [(None, ("10.0.0.1", 1))], max_candidates=50)
    lookup.next_queries()
    nodes = tuple(
        (random.Random(i).randbytes(20), Endpoint(f"10.1.{i // 250}.{i % 250}", 1)) for i in range(500)
    )
    lookup.on_response(("10.0.0.1", 1), Response(b"t", b"r" * 20, nodes=nodes))
    assert len(lookup._candidates) <= 50


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.integers(1, 6), down=st.integers(0, 60))
def test_always_terminates_within_budget(seed: int, alpha: int, down: int) -> None:
    net = Network(120, seed=seed % 7)
    net.down = set(random.Random(seed).sample(range(120), down))
    target = random.Random(seed).randbytes(20)
    lookup = Lookup(target, [(None, net.addr[seed % 120])], alpha=alpha, max_queries=120)
    peak = run(lookup, net, target)
    assert lookup.done and peak <= alpha and net.queries <= 120


def test_one_reply_names_at_most_100_peers() -> None:
    """A hostile reply naming 3,000 peers yields its first 100 (libtorrent sends at most 100)."""
    lookup = Lookup(bytes(20), [(None, ("10.0.0.1", 1))])
    assert lookup.next_queries() == [("10.0.0.1", 1)]
    values = tuple(Endpoint(f"10.1.{i // 250}.{i % 250}", 6881) for i in range(3_000))
    new = lookup.on_response(("10.0.0.1", 1), Response(b"t", b"x" * 20, values=values))
    assert new == list(values[:100])
    assert lookup.result().peers == values[:100]


def test_one_node_per_ip_per_lookup() -> None:
    """A reply naming 1,000 ports of one victim IP (ids closest to the target) costs the victim one query.

    libtorrent's dht_restrict_search_ips keeps one node per IPv4 /24 in a traversal; we keep one per IPv4
    address and one per IPv6 /64. The victim is also re-named by later replies: still one query.
    """
    target = bytes(20)
    lookup = Lookup(target, [(None, ("10.0.0.1", 1)), (None, ("10.0.0.2", 2))], max_queries=256)
    victim = tuple((bytes(19) + bytes([i % 256]), Endpoint("10.66.0.1", 1_000 + i)) for i in range(1_000))
    victim6 = tuple(
        (bytes(18) + i.to_bytes(2, "big"), Endpoint(f"2001:db8::{i + 1:x}", 7)) for i in range(50)
    )
    sent: list[tuple[str, int]] = []
    for _ in range(300):
        batch = lookup.next_queries()
        if not batch:
            break
        sent += batch
        for address in batch:
            lookup.on_response(address, Response(b"t", bytes([9]) * 20, nodes=victim))
    assert sum(host == "10.66.0.1" for host, _ in sent) == 1, sent
    v6 = Lookup(target, [(None, ("10.0.0.1", 1))], use_v6=True)
    v6.next_queries()
    v6.on_response(("10.0.0.1", 1), Response(b"t", bytes([9]) * 20, nodes6=victim6))
    assert [a for a in v6.next_queries() if a[0].startswith("2001:db8")] == [("2001:db8::1", 7)]


def test_seeds_on_one_ip_are_all_kept() -> None:
    """Routing-table and bootstrap seeds are exempt (libtorrent exempts its initial nodes)."""
    lookup = Lookup(bytes(20), [(None, ("10.0.0.1", 1)), (None, ("10.0.0.1", 2))])
    assert sorted(lookup.next_queries()) == [("10.0.0.1", 1), ("10.0.0.1", 2)]
