"""Our Mainline DHT node: one UDP socket, iterative lookups, answers to other nodes, bounded loops.

Pure parts live in wire/ (:mod:`krpc`, :mod:`krpc_query`, :mod:`routing`, :mod:`dht_lookup`); this module
moves datagrams (read in batches by :mod:`swarmscope.net.dht_socket`; plain queries take the fast path of
:mod:`krpc_query`, everything else the general decoder; lookups run through :mod:`swarmscope.net.dht_drive`,
queries are answered by :mod:`swarmscope.net.dht_answer`), runs timers and enforces limits: a per-address
limit on the queries we answer, a node-wide byte budget on all that incoming traffic makes us send
(answers, error replies, verification pings) and a global budget of queries we send, so we are never a
flood source nor a reflector.
Peers found here are DHT listings (source ``dht``) and must still be probed: a listing is never evidence
by itself.

Sources: BEP 5 (KRPC, routing table, get_peers/announce_peer, tokens), BEP 32 (IPv6, ``want``),
BEP 33 (scrape), BEP 42 (``ip`` in replies), BEP 43 (read-only), BEP 51 (sample_infohashes);
interop-quirks DHT-04 (silently drop bad datagrams), DHT-07, DHT-08, DHT-09 (always send ``want``).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import replace

from swarmscope.errors import DecodeError
from swarmscope.net.clock import Clock
from swarmscope.net.dht_answer import VERSION, answer_bytes
from swarmscope.net.dht_bootstrap import resolve_bootstrap
from swarmscope.net.dht_drive import drive_lookup
from swarmscope.net.dht_limits import ANSWER_BURST_BYTES as ANSWER_BURST
from swarmscope.net.dht_limits import ANSWER_BYTES_PER_SECOND as ANSWER_RATE
from swarmscope.net.dht_limits import AnswerGate, TokenBucket, TokenIssuer
from swarmscope.net.dht_maintain import maintain
from swarmscope.net.dht_socket import DatagramSocket
from swarmscope.net.dht_store import PeerStore
from swarmscope.wire import bencode, krpc
from swarmscope.wire.dht_lookup import Lookup as LookupState
from swarmscope.wire.dht_lookup import LookupResult
from swarmscope.wire.krpc import KrpcError, Query, Response
from swarmscope.wire.krpc_query import FastQuery, parse_query
from swarmscope.wire.routing import RoutingTable
from swarmscope.wire.types import Endpoint

Address = tuple[str, int]
__all__ = ["DhtNode"]


class DhtNode:
    """A Mainline DHT node bound to one UDP address (IPv4 or IPv6).

    Args:
        bind: ``(host, port)`` to bind; port 0 picks one.
        bootstrap: ``(host, port)`` nodes to join through (tests: a local node; production: routers).
        node_id: our 20-byte id; random when None.
        read_only: BEP 43: send ``ro=1`` and answer no queries.
        alpha, k: lookup parallelism and bucket size (BEP 5); announces go to the ``k`` closest.
        lookup_width: how many closest nodes must answer before a lookup ends (≥ k; wider than BEP 5's
            8 because announcers with poor tables store their peers on nodes slightly off the true k).
        query_timeout: seconds to wait for one reply.
        lookup_timeout: wall-clock bound of one lookup, seconds.
        max_queries_per_lookup: query budget of one lookup.
        queries_per_second: global budget of queries we send (token bucket rate; burst = 2 s of it).
        answer_rate, answer_burst: per-IP limit on queries we answer (per second, burst).
        answer_bytes_per_second, answer_burst_bytes: node-wide budget on the bytes incoming traffic makes
            us send (answers, error replies, verification pings; never our own lookups), because source
            addresses can be forged past any per-IP memory. Default 8,000 B/s, burst 24,000 B:
            libtorrent's ``dht_upload_rate_limit`` and 3 s of burst, what most of the DHT already runs;
            ~25 get_peers answers or ~90 pings a second (16 nodes at one get_peers a second each are
            answered in full); ValueError unless finite and > 0.
        relookup_interval: seconds between lookups of each monitored infohash.
        token_secret: initial write-token secret; random when None.
        clock: monotonic seconds; random_bytes: randomness source (tests may pass deterministic ones).
        on_peers: called with ``(infohash, new peers)`` for monitored infohashes, from periodic lookups
            and from peers announcing to us; must not block.
    """

    def __init__(
        self,
        bind: Address = ("127.0.0.1", 0),
        bootstrap: Iterable[Address] = (),
        node_id: bytes | None = None,
        read_only: bool = False,
        *,
        alpha: int = 3,
        k: int = 8,
        lookup_width: int = 16,
        query_timeout: float = 2.0,
        lookup_timeout: float = 30.0,
        max_queries_per_lookup: int = 256,
        queries_per_second: float = 200.0,
        answer_rate: float = 20.0,
        answer_burst: float = 50.0,
        answer_bytes_per_second: float = ANSWER_RATE,
        answer_burst_bytes: float = ANSWER_BURST,
        relookup_interval: float = 300.0,
        token_secret: bytes | None = None,
        clock: Callable[[], float] = Clock.monotonic,
        random_bytes: Callable[[int], bytes] = os.urandom,
        on_peers: Callable[[bytes, list[Endpoint]], None] | None = None,
    ) -> None:
        self.bind, self.bootstrap, self.read_only = bind, list(bootstrap), read_only
        self.node_id = node_id or random_bytes(20)
        self.alpha, self.k, self.query_timeout, self.lookup_timeout = alpha, k, query_timeout, lookup_timeout
        self.lookup_width = max(k, lookup_width)
        self.max_queries_per_lookup, self.relookup_interval = max_queries_per_lookup, relookup_interval
        self._clock, self._random, self.on_peers = clock, random_bytes, on_peers
        now = clock()
        self.routing = RoutingTable(self.node_id, k, now)
        self.store = PeerStore()
        self._budget = TokenBucket(queries_per_second, max(1.0, 2 * queries_per_second), now)
        self.tokens = TokenIssuer(token_secret or random_bytes(20), now)
        self._pending: dict[tuple[bytes, Address], asyncio.Future[Response | KrpcError]] = {}
        self._tid = int.from_bytes(random_bytes(2), "big")
        self._transport: DatagramSocket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._verifying: set[Address] = set()
        self.monitored: dict[bytes, float] = {}
        self.results: dict[bytes, LookupResult] = {}
        self.stats = dict.fromkeys(
            ("received", "dropped_decode", "dropped_rate", "answered", "sent_queries", "timeouts",
             "errors_received", "socket_errors", "announces_stored", "budget_exhausted", "dropped_budget",
             "verify_over_budget"), 0
        )  # fmt: skip
        self._gate = AnswerGate(
            answer_rate, answer_burst, answer_bytes_per_second, answer_burst_bytes, now, self.stats
        )
        self._ping_size = len(krpc.encode_message(self._ping_query(b"\0\0")))  # tids are 2 bytes

    @property
    def v6(self) -> bool:
        """True when bound to an IPv6 address (BEP 32: then we follow ``nodes6``)."""
        return ":" in self.bind[0]

    @property
    def running(self) -> bool:
        """True from :meth:`start` until :meth:`stop` (the socket is open)."""
        return self._transport is not None

    @property
    def address(self) -> Address:
        """The bound ``(host, port)`` (after :meth:`start`)."""
        return self.bind if self._transport is None else self._transport.address

    async def start(self) -> None:
        """Bind the socket, join through the bootstrap nodes and start the maintenance loop."""
        family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self._transport = await DatagramSocket.bind(self.bind, family, self._datagram, self._socket_error)
        self.bootstrap = await resolve_bootstrap(self.bootstrap, self.v6)
        await self.find_node(self.node_id)
        self._spawn(maintain(self))

    def stop(self) -> None:
        """Cancel every task and close the socket (idempotent)."""
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _socket_error(self, exc: OSError) -> None:
        self.stats["socket_errors"] += 1  # a failed receive, or a datagram that could not be sent

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- outgoing queries -------------------------------------------------------------------------

    def _next_tid(self) -> bytes:
        self._tid = (self._tid + 1) & 0xFFFF
        return self._tid.to_bytes(2, "big")  # DHT-04: 2-byte tids, as libtorrent issues

    def _send(self, message: krpc.Message, address: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(krpc.encode_message(message), address)

    async def query(self, address: Address, query: Query) -> Response | KrpcError | None:
        """Send one query (its transaction id is replaced) and wait for the answer.

        Args:
            address: ``(host, port)`` of the node.
            query: the query; ``ro`` is set in read-only mode.

        Returns:
            The response or KRPC error, or None on timeout or when stopped.
        """
        if self._transport is None:
            return None
        if not await self._budget.acquire(self._clock):
            self.stats["budget_exhausted"] += 1
            return None
        tid = self._next_tid()
        key = (tid, address)
        future: asyncio.Future[Response | KrpcError] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        self._send(replace(query, transaction_id=tid, read_only=self.read_only, version=VERSION), address)
        self.stats["sent_queries"] += 1
        try:
            return await asyncio.wait_for(future, self.query_timeout)
        except TimeoutError:
            self.stats["timeouts"] += 1
            self.routing.observe_failure(address)
            return None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our caller was cancelled
            return None  # the node was stopped: the pending future was cancelled
        finally:
            self._pending.pop(key, None)

    def _query_for(self, method: bytes, target: bytes, scrape: bool = False) -> Query:
        want = (b"n6",) if self.v6 else (b"n4",)  # DHT-09: always send want
        if method == krpc.GET_PEERS:
            return Query(b"", method, self.node_id, info_hash=target, want=want, scrape=scrape)
        return Query(b"", method, self.node_id, target=target, want=want)

    def _drive(self, state: LookupState, query: Query) -> AsyncIterator[list[Endpoint]]:
        """Run a lookup state machine to its end or deadline, yielding new peers as they arrive."""
        return drive_lookup(state, query, self.query, self._clock, self.lookup_timeout)

    def _seeds(self, target: bytes) -> list[tuple[bytes | None, Address]]:
        seeds: list[tuple[bytes | None, Address]] = [
            (e.node_id, e.address) for e in self.routing.closest(target, self.lookup_width, self._clock())
        ]
        if len(seeds) < self.k:
            seeds += [(None, address) for address in self.bootstrap]
        return seeds

    def _new_state(self, target: bytes) -> LookupState:
        return LookupState(
            target, self._seeds(target), alpha=self.alpha, k=self.lookup_width,
            max_queries=self.max_queries_per_lookup, exclude=[self.address], use_v6=self.v6,
        )  # fmt: skip

    async def get_peers(self, info_hash: bytes, *, scrape: bool = False) -> AsyncIterator[list[Endpoint]]:
        """Iterative get_peers lookup, yielding each batch of newly found peers.

        Args:
            info_hash: 20-byte infohash (v2 swarms: the truncated SHA-256, BEP 52).
            scrape: ask for BEP 33 bloom filters.

        Source: BEP 5 "get_peers".
        """
        state = self._new_state(info_hash)
        async for peers in self._drive(state, self._query_for(krpc.GET_PEERS, info_hash, scrape)):
            yield peers
        self._remember(state.result())

    def _remember(self, result: LookupResult) -> LookupResult:
        """Keep the latest result per infohash (bounded: the oldest is forgotten past 10,000)."""
        self.results.pop(result.target, None)
        self.results[result.target] = result
        while len(self.results) > 10_000:
            del self.results[next(iter(self.results))]
        return result

    async def lookup(
        self, info_hash: bytes, *, scrape: bool = False, announce_port: int | None = None, seed: bool = False
    ) -> LookupResult:
        """Run a whole get_peers lookup; optionally announce to the closest nodes that gave tokens.

        Args:
            info_hash: 20-byte infohash.
            scrape: request BEP 33 bloom filters (estimates land in the result).
            announce_port: when set, announce_peer this TCP port to the ``k`` closest (BEP 5).
            seed: BEP 33 ``seed=1`` on the announce.

        Returns:
            The :class:`LookupResult` (peers are listings with source ``dht``).
        """
        state = self._new_state(info_hash)
        async for _ in self._drive(state, self._query_for(krpc.GET_PEERS, info_hash, scrape)):
            pass
        result = self._remember(state.result())
        if announce_port is not None:
            await self.announce(result, announce_port, seed=seed)
        return result

    async def find_node(self, target: bytes) -> LookupResult:
        """Iterative find_node lookup (bootstrap and bucket refresh); fills the routing table."""
        state = self._new_state(target)
        async for _ in self._drive(state, self._query_for(krpc.FIND_NODE, target)):
            pass
        return state.result()

    async def announce(self, result: LookupResult, port: int, *, seed: bool = False) -> int:
        """Send announce_peer to the closest nodes of a lookup with their tokens; returns acknowledgements.

        Source: BEP 5 "announce_peer"; interop-quirks DHT-08 (echo the token exactly, same IP).
        """
        targets = [ep for _, ep in result.closest if ep in result.tokens][: self.k]
        queries = [
            Query(b"", krpc.ANNOUNCE_PEER, self.node_id, info_hash=result.target, token=result.tokens[ep],
                  port=port, seed=seed)
            for ep in targets
        ]  # fmt: skip
        replies = await asyncio.gather(
            *(self.query((ep.host, ep.port), q) for ep, q in zip(targets, queries, strict=True))
        )
        return sum(isinstance(reply, Response) for reply in replies)

    def _ping_query(self, tid: bytes) -> Query:
        return Query(tid, krpc.PING, self.node_id, read_only=self.read_only, version=VERSION)

    async def ping(self, address: Address) -> bytes | None:
        """Ping a node; returns its node id, or None when it did not answer."""
        reply = await self.query(address, self._ping_query(b""))
        return reply.node_id if isinstance(reply, Response) else None

    async def sample_infohashes(self, address: Address, target: bytes) -> Response | None:
        """BEP 51 sample_infohashes to one node (an option: indexing, not needed for monitoring)."""
        reply = await self.query(address, self._query_for(krpc.SAMPLE_INFOHASHES, target))
        return reply if isinstance(reply, Response) else None

    def monitor(self, info_hash: bytes) -> None:
        """Re-run a get_peers lookup for ``info_hash`` every ``relookup_interval`` seconds."""
        self.monitored.setdefault(info_hash, float("-inf"))

    def _discovered(self, info_hash: bytes, peers: list[Endpoint]) -> None:
        """Hand new peers of a monitored infohash to ``on_peers`` (DHT listings: source ``dht``)."""
        if self.on_peers is not None and info_hash in self.monitored and peers:
            self.on_peers(info_hash, peers)

    def unmonitor(self, info_hash: bytes) -> None:
        """Stop periodic lookups of ``info_hash``."""
        self.monitored.pop(info_hash, None)

    # ---- incoming datagrams -----------------------------------------------------------------------

    def _datagram(self, data: bytes, address: Address) -> None:
        self.stats["received"] += 1
        top = bencode.decode_canonical(data, krpc.MAX_VALUES)  # decoded once, within KRPC's value cap
        if not self.read_only:  # the common case first: a plain query, read without objects
            fast = parse_query(top, data)
            if fast is not None:
                self._incoming_query(fast, address)
                return
        try:
            message = krpc.decode_message(data, from_v6=self.v6, top=top)
        except DecodeError:
            self.stats["dropped_decode"] += 1  # DHT-04: drop silently, never amplify
            return
        if isinstance(message, Query):
            self._incoming_query(message, address)
            return
        future = self._pending.get((message.transaction_id, address))
        if future is None or future.done():
            return  # unknown or late tid (DHT-04)
        if isinstance(message, Response):
            self.routing.observe_response(message.node_id, address, self._clock())
        else:
            self.stats["errors_received"] += 1
        future.set_result(message)

    def _incoming_query(self, query: Query | FastQuery, address: Address) -> None:
        if self.read_only:
            return  # BEP 43: read-only nodes answer no queries
        now = self._clock()
        if not self._gate.admit(address[0], now):  # its source's limit, then the node-wide byte budget
            return
        self.routing.observe_query(query.node_id, now)
        try:
            reply = answer_bytes(self, query, address, now)
        except DecodeError:  # a source address that is no IP literal: nothing to write back
            self.stats["dropped_decode"] += 1
            return
        if self._transport is not None:
            self._transport.sendto(reply, address)
        self._gate.budget.spend(len(reply))
        self.stats["answered"] += 1
        if not query.read_only and self.routing.get(query.node_id) is None:  # DHT-07: never add ro nodes
            self._verify(address, now)

    def _verify(self, address: Address, now: float) -> None:
        """Ping a node that queried us so a reply can enter it into the routing table (bounded: 16 at
        once, and its bytes come out of the answer budget, as the query that triggered it)."""
        if len(self._verifying) >= 16 or address in self._verifying:
            return
        if not self._gate.verify(self._ping_size, now):
            return
        self._verifying.add(address)

        async def run() -> None:
            try:
                await self.ping(address)
            finally:
                self._verifying.discard(address)

        self._spawn(run())
