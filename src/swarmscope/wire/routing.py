"""Kademlia routing table of the Mainline DHT: 160-bit ids, k-buckets, XOR distance, node states.

Pure: every method takes ``now`` (seconds on a monotonic clock chosen by the caller); nothing here sends
a packet. The table only *decides* — which node to ping, which bucket to refresh — and the caller acts.

Rules (BEP 5 "Routing Table"): a node is *good* if it answered one of our queries within the last 15
minutes, or answered once and sent us a query within the last 15 minutes; after 15 minutes of silence it
is *questionable*; after failing several queries in a row it is *bad*. A full bucket takes a new node only
by replacing a bad one, or by splitting when the bucket's range holds our own node id. Nodes that change
id on the same endpoint replace their old entry (interop-quirks DHT-07).
"""

from __future__ import annotations

import bisect
import enum
import heapq
from dataclasses import dataclass, field

from swarmscope.wire.compact import encode_nodes_v4, encode_nodes_v6
from swarmscope.wire.types import Endpoint

ID_BITS = 160  # BEP 5: node ids and infohashes are 160-bit
ID_LEN = 20
K = 8  # BEP 5: bucket capacity
GOOD_FOR = 15 * 60.0  # BEP 5: seconds a node stays good without activity
BAD_AFTER_FAILURES = 2  # BEP 5: "fails to respond to multiple queries in a row"
REFRESH_AFTER = 15 * 60.0  # BEP 5: refresh a bucket not changed for 15 minutes


class NodeState(enum.Enum):
    """BEP 5 node quality."""

    GOOD = "good"
    QUESTIONABLE = "questionable"
    BAD = "bad"


class InsertOutcome(enum.Enum):
    """What :meth:`RoutingTable.observe_response` did with a node."""

    ADDED = "added"
    UPDATED = "updated"
    REPLACED_BAD = "replaced_bad"
    ID_CHANGED = "id_changed"
    BUCKET_FULL = "bucket_full"
    REJECTED = "rejected"


@dataclass(slots=True)
class NodeEntry:
    """One contact: node id, address, last reply and last query times (seconds), consecutive failures."""

    node_id: bytes
    host: str
    port: int
    last_response: float
    last_query: float = float("-inf")
    failures: int = 0
    key: int = field(init=False, repr=False, compare=False)
    endpoint: Endpoint = field(init=False, repr=False, compare=False)
    _contact: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = int.from_bytes(self.node_id, "big")
        self.endpoint = Endpoint(self.host, self.port)

    @property
    def contact(self) -> bytes:
        """Compact node info: node id + compact address, 26 bytes (IPv4) or 38 (IPv6), made once.

        Raises:
            ValueError: the node id is not 20 bytes or the host not an IP literal (our misuse).

        Source: BEP 5 "Contact Encoding"; BEP 32 (IPv6).
        """
        if self._contact is None:
            encode = encode_nodes_v6 if self.endpoint.is_v6 else encode_nodes_v4
            self._contact = encode([(self.node_id, self.endpoint)])
        return self._contact

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)


def distance(a: bytes, b: bytes) -> int:
    """XOR distance of two 20-byte ids as an integer (BEP 5 "distance metric")."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def node_state(entry: NodeEntry, now: float) -> NodeState:
    """Classify a node per BEP 5 "Routing Table".

    Args:
        entry: the contact.
        now: current time, seconds (same clock as the entry's times).

    Returns:
        GOOD, QUESTIONABLE or BAD.
    """
    if entry.failures >= BAD_AFTER_FAILURES:
        return NodeState.BAD
    if now - max(entry.last_response, entry.last_query) < GOOD_FOR:
        return NodeState.GOOD
    return NodeState.QUESTIONABLE


@dataclass(slots=True)
class Bucket:
    """Ids in ``[low, high)``; at most ``k`` entries, keyed by node id; ``changed`` = last change time.

    ``live`` caches the ids (as ints) and the compact node info of the entries that are not BAD, for
    answers; the table resets it to None whenever an entry of the bucket is added, removed, fails or answers.
    """

    low: int
    high: int
    entries: dict[bytes, NodeEntry]
    changed: float
    live: tuple[list[int], list[bytes]] | None = field(default=None, repr=False, compare=False)

    def covers(self, value: int) -> bool:
        """True when ``value`` falls in the bucket's range."""
        return self.low <= value < self.high


def random_id_in(bucket: Bucket, random20: bytes) -> bytes:
    """An id inside ``bucket``'s range, chosen by the caller's 20 random bytes (for a refresh lookup).

    Source: BEP 5 "Routing Table" (refresh picks a random id in the bucket's range).
    """
    width = bucket.high - bucket.low
    return (bucket.low + int.from_bytes(random20, "big") % width).to_bytes(ID_LEN, "big")


class RoutingTable:
    """The k-bucket routing table of one DHT node.

    Args:
        own_id: our 20-byte node id.
        k: bucket capacity (BEP 5: 8).
        now: creation time, seconds.

    Raises:
        ValueError: ``own_id`` is not 20 bytes (our misuse).

    Source: BEP 5 "Routing Table".
    """

    def __init__(self, own_id: bytes, k: int = K, now: float = 0.0) -> None:
        if len(own_id) != ID_LEN:
            raise ValueError("routing: own id must be 20 bytes")
        self.own_id = own_id
        self._own = int.from_bytes(own_id, "big")
        self.k = k
        self.buckets: list[Bucket] = [Bucket(0, 1 << ID_BITS, {}, now)]
        self._highs = [1 << ID_BITS]  # each bucket's ``high``, in order (for bisect)
        self._by_address: dict[tuple[str, int], bytes] = {}
        self._by_id: dict[bytes, NodeEntry] = {}  # every entry of every bucket, by node id

    def __len__(self) -> int:
        return len(self._by_address)

    def bucket_for(self, node_id: bytes) -> Bucket:
        """The bucket whose range holds ``node_id``."""
        # buckets are sorted and contiguous: the first whose high exceeds the value holds it
        return self.buckets[bisect.bisect_right(self._highs, int.from_bytes(node_id, "big"))]

    def get(self, node_id: bytes) -> NodeEntry | None:
        """The entry for ``node_id``, if present."""
        return self._by_id.get(node_id)

    def observe_response(self, node_id: bytes, address: tuple[str, int], now: float) -> InsertOutcome:
        """Record that ``node_id`` at ``address`` answered one of our queries; insert it if it fits.

        Args:
            node_id: the 20-byte id from the response.
            address: ``(host, port)`` the response came from.
            now: seconds.

        Returns:
            The outcome; on BUCKET_FULL the caller may ping :meth:`questionable_in` and retry later.
        """
        if len(node_id) != ID_LEN or node_id == self.own_id:
            return InsertOutcome.REJECTED
        changed = False
        old_id = self._by_address.get(address)
        if old_id is not None and old_id != node_id:  # DHT-07: same endpoint, new id
            self.remove(old_id)
            changed = True
        entry = self.get(node_id)
        if entry is not None:
            if entry.address != address:
                return InsertOutcome.REJECTED  # keep the verified address; a second one may be spoofed
            entry.last_response, entry.failures = now, 0
            bucket = self.bucket_for(node_id)
            bucket.changed, bucket.live = now, None
            return InsertOutcome.UPDATED
        outcome = self._insert(NodeEntry(node_id, address[0], address[1], now), now)
        return InsertOutcome.ID_CHANGED if changed and outcome is InsertOutcome.ADDED else outcome

    def _insert(self, entry: NodeEntry, now: float) -> InsertOutcome:
        for _ in range(ID_BITS):  # bounded: each split halves the bucket holding our id
            bucket = self.bucket_for(entry.node_id)
            if len(bucket.entries) < self.k:
                self._put(bucket, entry, now)
                return InsertOutcome.ADDED
            bad = [e for e in bucket.entries.values() if node_state(e, now) is NodeState.BAD]
            if bad:
                self.remove(bad[0].node_id)
                self._put(bucket, entry, now)
                return InsertOutcome.REPLACED_BAD
            if not bucket.covers(self._own) or bucket.high - bucket.low <= 1:
                return InsertOutcome.BUCKET_FULL
            self._split(bucket)
        return InsertOutcome.BUCKET_FULL

    def _put(self, bucket: Bucket, entry: NodeEntry, now: float) -> None:
        bucket.entries[entry.node_id] = entry
        bucket.changed, bucket.live = now, None
        self._by_address[entry.address] = entry.node_id
        self._by_id[entry.node_id] = entry

    def _split(self, bucket: Bucket) -> None:
        mid = (bucket.low + bucket.high) // 2
        low = Bucket(bucket.low, mid, {}, bucket.changed)
        high = Bucket(mid, bucket.high, {}, bucket.changed)
        for node_id, entry in bucket.entries.items():
            (low if int.from_bytes(node_id, "big") < mid else high).entries[node_id] = entry
        index = self.buckets.index(bucket)
        self.buckets[index : index + 1] = [low, high]
        self._highs[index : index + 1] = [mid, bucket.high]

    def observe_query(self, node_id: bytes, now: float) -> None:
        """Record that a known node sent us a query (keeps it good); unknown nodes are not inserted.

        Source: BEP 5 "Routing Table" (good = responded once and queried us within 15 minutes).
        """
        entry = self.get(node_id) if len(node_id) == ID_LEN else None
        if entry is not None:
            entry.last_query = now

    def observe_failure(self, address: tuple[str, int]) -> NodeState | None:
        """Record that the node at ``address`` did not answer; returns its new state, None if unknown."""
        node_id = self._by_address.get(address)
        if node_id is None:
            return None
        entry = self.get(node_id)
        if entry is None:
            return None
        entry.failures += 1
        self.bucket_for(node_id).live = None
        return NodeState.BAD if entry.failures >= BAD_AFTER_FAILURES else NodeState.QUESTIONABLE

    def remove(self, node_id: bytes) -> None:
        """Forget a node (no-op when absent)."""
        bucket = self.bucket_for(node_id)
        entry = bucket.entries.pop(node_id, None)
        if entry is not None:
            bucket.live = None
            self._by_address.pop(entry.address, None)
            del self._by_id[node_id]

    def closest(self, target: bytes, n: int = K, now: float | None = None) -> list[NodeEntry]:
        """The ``n`` known nodes closest to ``target`` by XOR distance, bad nodes excluded when ``now``.

        Args:
            target: 20-byte id or infohash.
            n: how many.
            now: when given, BAD nodes are skipped.

        Returns:
            Entries sorted by increasing distance.
        """
        goal = int.from_bytes(target, "big")
        limit = BAD_AFTER_FAILURES if now is not None else 1 << 30  # BAD depends on failures only
        # Buckets are disjoint aligned ranges, so their XOR-distance ranges are disjoint and ordered:
        # visit buckets by their smallest distance and stop once n entries are collected. The bucket
        # holding the target comes first (every id in it is closer than any id outside it).
        home = [e for e in self.bucket_for(target).entries.values() if e.failures < limit]
        if len(home) >= n:
            return heapq.nsmallest(n, home, key=lambda e: e.key ^ goal)
        order = sorted(self.buckets, key=lambda b: (b.low ^ goal) & ~(b.high - b.low - 1))
        found: list[NodeEntry] = []
        for bucket in order:
            if len(found) >= n:
                break
            live = [e for e in bucket.entries.values() if e.failures < limit]
            found += heapq.nsmallest(n - len(found), live, key=lambda e: e.key ^ goal)
        return found

    def closest_contacts(self, target: bytes, n: int = K) -> list[bytes]:
        """Compact node info of the ``n`` closest nodes that are not BAD, closest first (for answers).

        The same nodes in the same order as :meth:`closest` with a time (BAD depends on failures only);
        served from the target's bucket's cached ``live`` list when that bucket holds ``n`` of them.

        Source: BEP 5 "find_node" / "get_peers" (the K closest good nodes, compact node info).
        """
        bucket = self.bucket_for(target)
        live = bucket.live
        if live is None:
            nodes = [e for e in bucket.entries.values() if e.failures < BAD_AFTER_FAILURES]
            live = bucket.live = ([e.key for e in nodes], [e.contact for e in nodes])
        if len(live[0]) < n:
            return [e.contact for e in self.closest(target, n, 0.0)]
        goal = int.from_bytes(target, "big")
        # (distance, contact) pairs made and ranked in C: distances are distinct, contacts never compared
        best = sorted(zip(map(goal.__xor__, live[0]), live[1], strict=True))[:n]
        if not best:
            return []
        _, contacts = zip(*best, strict=True)  # the (distances, contacts) columns
        return list(contacts)

    def questionable_in(self, bucket: Bucket, now: float) -> list[NodeEntry]:
        """Questionable nodes of a bucket, least recently seen first (candidates to ping)."""
        found = [e for e in bucket.entries.values() if node_state(e, now) is NodeState.QUESTIONABLE]
        return sorted(found, key=lambda e: max(e.last_response, e.last_query))

    def stale_buckets(self, now: float, after: float = REFRESH_AFTER) -> list[Bucket]:
        """Buckets not changed for ``after`` seconds (to refresh with a find_node of a random id)."""
        return [b for b in self.buckets if now - b.changed >= after]

    def entries(self) -> list[NodeEntry]:
        """Every entry, bucket by bucket."""
        return [e for b in self.buckets for e in b.entries.values()]
