"""Iterative Kademlia lookup (get_peers / find_node) as a pure state machine.

The caller asks :meth:`Lookup.next_queries` for the nodes to query (at most ``alpha`` in flight), sends
them, and feeds back :meth:`Lookup.on_response` or :meth:`Lookup.on_failure`. The lookup ends when the
``k`` closest live candidates have all answered, or when the query budget is spent. Tokens of answering
nodes are kept for a later ``announce_peer`` to the ``k`` closest (BEP 5 "get_peers" / "announce_peer").

Bounds: at most ``max_queries`` queries and ``max_candidates`` remembered candidates per lookup, and at most
``MAX_VALUES_PER_REPLY`` peers from one reply: a real node sends what fits a datagram under the path MTU
(libtorrent at most 100), while one hostile 64 KiB reply could name 8,000 addresses for us to dial.
One node per host per lookup: a node learnt from a reply is dropped when the lookup already holds one at
the same IPv4 address (or the same IPv6 /64), so a reply naming 1,000 ports of one victim IP costs that
victim one query, not ``max_queries``. libtorrent's ``dht_restrict_search_ips`` (on by default) keeps one
per IPv4 /24; we keep one per address, as test farms on loopback put many honest nodes in one /24. Seeds
(routing table, bootstrap) are exempt, as libtorrent exempts its initial nodes, but occupy their host.

Sources: BEP 5 "Routing Table" / "get_peers"; BEP 32 (``nodes6``); BEP 33 (bloom filters); interop-quirks
DHT-08 (tokens echoed exactly, bound to our IP), DHT-09 (a reply without nodes is an empty result).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from swarmscope.wire.dht_scrape import bloom_estimate, bloom_union
from swarmscope.wire.krpc import Response
from swarmscope.wire.types import Endpoint, host_key

ALPHA = 3  # BEP 5 leaves α open; Kademlia uses 3
K = 8  # BEP 5: bucket size, also the number of closest nodes to announce to
MAX_QUERIES = 256
MAX_CANDIDATES = 512
MAX_VALUES_PER_REPLY = 100  # peers taken from one reply (libtorrent's dht_max_peers_reply; we send 50)
UNKNOWN = -1  # distance of a bootstrap node whose id is not known yet: queried first


class CandidateState(enum.Enum):
    """Where one candidate node stands in the lookup."""

    NEW = "new"
    IN_FLIGHT = "in_flight"
    RESPONDED = "responded"
    FAILED = "failed"


@dataclass(slots=True)
class Candidate:
    """A node considered by the lookup; ``distance`` is XOR to the target, or UNKNOWN."""

    address: tuple[str, int]
    node_id: bytes | None
    distance: int
    state: CandidateState = CandidateState.NEW
    token: bytes | None = None


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What a finished lookup found.

    ``peers`` are DHT ``values`` in discovery order (deduplicated, port 0 dropped): listings, never
    evidence by themselves. ``closest`` are the ``k`` closest nodes that answered, ``tokens`` their
    write tokens by address. ``seeds_estimate``/``peers_estimate`` are BEP 33 counts when scraped.
    """

    target: bytes
    peers: tuple[Endpoint, ...]
    nodes_contacted: int
    nodes_responded: int
    closest: tuple[tuple[bytes, Endpoint], ...]
    tokens: dict[Endpoint, bytes] = field(default_factory=dict)
    seeds_estimate: float | None = None
    peers_estimate: float | None = None
    exhausted: bool = False


class Lookup:
    """One iterative lookup towards ``target``.

    Args:
        target: 20-byte infohash (get_peers) or node id (find_node).
        seeds: ``(node id or None, (host, port))`` to start from: closest routing-table entries and/or
            bootstrap nodes (id unknown).
        alpha: queries in flight at once.
        k: how many closest answering nodes end the lookup.
        max_queries: query budget.
        max_candidates: candidate list bound (farthest unqueried ones are dropped).
        exclude: addresses never to query (our own socket).
        use_v6: follow ``nodes6`` instead of ``nodes``.

    Source: BEP 5 "Routing Table" (iterative lookup), BEP 32.
    """

    def __init__(
        self,
        target: bytes,
        seeds: Iterable[tuple[bytes | None, tuple[str, int]]],
        *,
        alpha: int = ALPHA,
        k: int = K,
        max_queries: int = MAX_QUERIES,
        max_candidates: int = MAX_CANDIDATES,
        exclude: Iterable[tuple[str, int]] = (),
        use_v6: bool = False,
    ) -> None:
        self.target = target
        self._goal = int.from_bytes(target, "big")
        self.alpha, self.k, self.max_queries, self.max_candidates = alpha, k, max_queries, max_candidates
        self.use_v6 = use_v6
        self._exclude = set(exclude)
        self._candidates: dict[tuple[str, int], Candidate] = {}
        self._hosts: set[str] = set()  # host_key of each candidate held (queried ones are never dropped)
        self._peers: dict[Endpoint, None] = {}
        self._bloom_seeds: list[bytes] = []
        self._bloom_peers: list[bytes] = []
        self.queries_sent = 0
        self.responses = 0
        self._add(seeds, seeds=True)

    def _distance(self, node_id: bytes | None) -> int:
        return UNKNOWN if node_id is None else int.from_bytes(node_id, "big") ^ self._goal

    def _add(self, nodes: Iterable[tuple[bytes | None, tuple[str, int]]], *, seeds: bool = False) -> None:
        for node_id, address in nodes:
            if address in self._candidates or address in self._exclude or address[1] == 0:
                continue
            host = host_key(address[0])
            if host in self._hosts and not seeds:
                continue  # one node per host per lookup (see the module docstring)
            self._hosts.add(host)
            self._candidates[address] = Candidate(address, node_id, self._distance(node_id))
        if len(self._candidates) > self.max_candidates:
            fresh = sorted(
                (c for c in self._candidates.values() if c.state is CandidateState.NEW),
                key=lambda c: c.distance,
            )
            for c in fresh[self.max_candidates - len(self._candidates) :]:
                del self._candidates[c.address]
                self._hosts.discard(host_key(c.address[0]))

    def _ranked(self) -> list[Candidate]:
        """Live candidates (not failed), closest first."""
        live = [c for c in self._candidates.values() if c.state is not CandidateState.FAILED]
        return sorted(live, key=lambda c: c.distance)

    @property
    def in_flight(self) -> int:
        """Queries sent and not yet answered or failed."""
        return sum(c.state is CandidateState.IN_FLIGHT for c in self._candidates.values())

    def next_queries(self) -> list[tuple[str, int]]:
        """Addresses to query now (each marked in flight); empty when nothing may be sent yet.

        Returns:
            Up to ``alpha - in_flight`` addresses among the ``k`` closest live candidates, within budget.
        """
        free = min(self.alpha - self.in_flight, self.max_queries - self.queries_sent)
        out: list[tuple[str, int]] = []
        for c in self._ranked()[: self.k]:
            if len(out) >= free:
                break
            if c.state is CandidateState.NEW:
                c.state = CandidateState.IN_FLIGHT
                out.append(c.address)
        self.queries_sent += len(out)
        return out

    def on_response(self, address: tuple[str, int], response: Response) -> list[Endpoint]:
        """Feed a response from ``address``.

        Args:
            address: where the response came from (must be a candidate in flight; others are ignored).
            response: the decoded response.

        Returns:
            Peers (``values``, the first ``MAX_VALUES_PER_REPLY``) not seen before in this lookup.
        """
        c = self._candidates.get(address)
        if c is None or c.state is not CandidateState.IN_FLIGHT:
            return []
        c.state, c.node_id, c.token = CandidateState.RESPONDED, response.node_id, response.token
        c.distance = self._distance(response.node_id)
        self.responses += 1
        nodes = response.nodes6 if self.use_v6 else response.nodes
        self._add((node_id, (ep.host, ep.port)) for node_id, ep in nodes)
        if response.bloom_seeds is not None:
            self._bloom_seeds.append(response.bloom_seeds)
        if response.bloom_peers is not None:
            self._bloom_peers.append(response.bloom_peers)
        named = response.values[:MAX_VALUES_PER_REPLY]
        new = [p for p in named if p.port != 0 and p not in self._peers]
        self._peers.update(dict.fromkeys(new))
        return new

    def on_failure(self, address: tuple[str, int]) -> None:
        """Feed a timeout or KRPC error from a queried ``address``."""
        c = self._candidates.get(address)
        if c is not None and c.state is CandidateState.IN_FLIGHT:
            c.state = CandidateState.FAILED

    @property
    def exhausted(self) -> bool:
        """True when the query budget is spent."""
        return self.queries_sent >= self.max_queries

    @property
    def done(self) -> bool:
        """True when nothing is in flight and no more query is useful or allowed."""
        if self.in_flight:
            return False
        if self.exhausted:
            return True
        return all(c.state is not CandidateState.NEW for c in self._ranked()[: self.k])

    def result(self) -> LookupResult:
        """Summarise the lookup so far (may be called before :attr:`done`)."""
        answered = [c for c in self._ranked() if c.state is CandidateState.RESPONDED and c.node_id]
        closest = answered[: self.k]
        return LookupResult(
            target=self.target,
            peers=tuple(self._peers),
            nodes_contacted=self.queries_sent,
            nodes_responded=self.responses,
            closest=tuple((c.node_id or b"", Endpoint(*c.address)) for c in closest),
            tokens={Endpoint(*c.address): c.token for c in closest if c.token is not None},
            seeds_estimate=bloom_estimate(bloom_union(self._bloom_seeds)) if self._bloom_seeds else None,
            peers_estimate=bloom_estimate(bloom_union(self._bloom_peers)) if self._bloom_peers else None,
            exhausted=self.exhausted,
        )
