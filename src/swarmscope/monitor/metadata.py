"""Turn a magnet into a torrent: ask candidate peers for the metadata until one serves a verified copy.

Each candidate is driven by a pure :class:`~swarmscope.evidence.probe.metadata_fetch.MetadataFetch` through
``net.peer_conn.probe``, a few in parallel. The first copy that hashes to the magnet's infohash(es) wins;
the other fetches are stopped. Every attempt, including peers that served metadata that does not match,
is returned as an Observation for the evidence store.

Sources: BEP 9 (magnet → metadata), BEP 52 (v2 / hybrid infohashes); interop PW-12.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from swarmscope import __version__
from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.metadata_fetch import MetadataFetch, MetadataPolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation, Source
from swarmscope.net.clock import Clock
from swarmscope.net.mse_conn import EncryptionPolicy, probe_with_encryption
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.wire import bencode
from swarmscope.wire.magnet import Magnet
from swarmscope.wire.metainfo import Metainfo, parse_metainfo

if TYPE_CHECKING:
    from swarmscope.net.dht_node import DhtNode  # annotations only: the caller made the node

Candidate = tuple[str, int]
Tap = Callable[[Any], Any]  # net.capture_tap.CaptureTap: wraps a run, returns the recording wrapper
DEFAULT_POLICY = MetadataPolicy()
MAX_CANDIDATES = 500  # peers tried for one magnet before giving up (bounds the loop in count)


def lead_queue() -> asyncio.Queue[tuple[str, int]]:
    """A magnet's leads waiting for a metadata fetch, (ip, port) each: at most :data:`MAX_CANDIDATES`
    (a tracker repeats its list at every announce; a lead that finds the queue full is offered again by
    the next announce)."""
    return asyncio.Queue(MAX_CANDIDATES)


@dataclass(frozen=True)
class MetadataOutcome:
    """The result of fetching a magnet's metadata.

    Args:
        info: the verified raw info dict bytes, or None when no peer served a matching copy.
        meta: the Metainfo built from ``info`` (with the magnet's trackers), or None (no info, or the info
            dict hashes correctly but is not a valid torrent).
        observations: one per peer tried, in completion order.
        served_by: the (ip, port) whose copy was verified, or None.
    """

    info: bytes | None
    meta: Metainfo | None
    observations: list[Observation] = field(default_factory=list)
    served_by: Candidate | None = None


def metainfo_from_info(info: bytes, trackers: Iterable[str] = ()) -> Metainfo:
    """Wrap raw info-dict bytes in a torrent file and parse it, keeping the raw span (META-01).

    Args:
        info: the bencoded info dict exactly as verified. trackers: announce URLs (one tier each, BEP 12).

    Returns:
        The :class:`Metainfo`; its infohashes are hashes of ``info`` itself.

    Raises:
        DecodeError: the info dict is not a valid torrent info dict.

    Source: BEP 3 (metainfo), BEP 9 ("the metadata is the info dictionary"), BEP 12.
    """
    urls = list(dict.fromkeys(trackers))
    head = b""
    if urls:  # keys in sorted order: announce < announce-list < info
        head = b"8:announce" + bencode.encode(urls[0].encode())
        head += b"13:announce-list" + bencode.encode([[u.encode()] for u in urls])
    return parse_metainfo(b"d" + head + b"4:info" + info + b"e")


async def dht_candidates(
    node: DhtNode, magnet: Magnet, *, lookups: int = 3, interval: float = 10.0
) -> AsyncIterator[Candidate]:
    """Peers for a magnet from iterative DHT ``get_peers`` lookups, each address once.

    Args:
        node: a started :class:`DhtNode`. magnet: the magnet (looked up by its 20-byte wire infohash).
        lookups: how many lookups at most (bounds the iterator). interval: seconds between lookups.

    Yields:
        (ip, port) of every new peer, as soon as a lookup batch names it.

    Source: BEP 5 "get_peers"; BEP 52 (truncated v2 infohash on the DHT).
    """
    seen: set[Candidate] = set()
    for round_ in range(max(1, lookups)):
        if round_:
            await asyncio.sleep(interval)
        async for batch in node.get_peers(magnet.wire_infohash):
            for ep in batch:
                if (ep.host, ep.port) not in seen and ep.port:
                    seen.add((ep.host, ep.port))
                    yield ep.host, ep.port


async def tracker_candidates(client: TrackerClient, magnet: Magnet, *, port: int) -> AsyncIterator[Candidate]:
    """Peers for a magnet from one announce to each of its ``tr`` trackers (size unknown: ``left`` = -1).

    Args:
        client: the tracker client (carries our peer id). magnet: its trackers and wire infohash.
        port: the TCP port we announce (where we accept inbound peers).

    Yields:
        (ip, port) of every listed peer, each address once; tracker faults yield nothing.

    Source: BEP 3 "announce", BEP 15, BEP 9 ("tr").
    """
    seen: set[Candidate] = set()
    request = client.make_request(magnet.wire_infohash, port=port, left=-1)
    for url in magnet.trackers:
        outcome = await client.announce(url, request)
        for peer in outcome.response.peers if outcome.ok and outcome.response else ():
            key = (peer.endpoint.host, peer.endpoint.port)
            if key not in seen and key[1]:
                seen.add(key)
                yield key


async def _candidates(
    magnet: Magnet, given: AsyncIterable[Candidate] | Iterable[Candidate]
) -> AsyncIterator[Candidate]:
    """The magnet's own ``x.pe`` peers first, then the caller's, each address once."""
    seen: set[Candidate] = set()
    for ep in magnet.peers:
        key = (ep.host, ep.port)
        if key not in seen:
            seen.add(key)
            yield key
    if isinstance(given, AsyncIterable):
        async for ip, port in given:
            if (ip, port) not in seen:
                seen.add((ip, port))
                yield ip, port
    else:
        for ip, port in given:
            if (ip, port) not in seen:
                seen.add((ip, port))
                yield ip, port


async def _pump(source: AsyncIterator[Candidate], queue: asyncio.Queue[Candidate | None]) -> None:
    """Move candidates into the queue (at most MAX_CANDIDATES); None marks the end of the leads.

    An exception from the caller's iterator ends the leads too, then propagates (raised by
    :func:`fetch_metadata` after every fetch stopped).
    """
    count = 0
    try:
        async for cand in source:
            await queue.put(cand)
            count += 1
            if count >= MAX_CANDIDATES:
                break
    except Exception:
        await queue.put(None)
        raise
    await queue.put(None)


class _Search:
    """The fetches of one magnet: at most ``parallel`` peers at once, first verified copy wins.

    Each peer may take several attempts (plaintext and MSE, per the encryption policy); every attempt is
    a fresh :class:`MetadataFetch` and leaves one observation.
    """

    def __init__(
        self,
        magnet: Magnet,
        clock: Clock,
        peer_id: bytes,
        *,
        bind_ip: str | None,
        source_of: Callable[[Candidate], str],
        policy: MetadataPolicy,
        encryption: EncryptionPolicy,
        tap: Tap | None = None,
    ) -> None:
        self.magnet, self.clock, self.peer_id = magnet, clock, peer_id
        self.bind_ip, self.source_of, self.policy, self.encryption = bind_ip, source_of, policy, encryption
        self.tap = tap
        # per running task: the fetches it made, and the capture tap around each (same order)
        self.running: dict[asyncio.Task[list[Observation]], tuple[list[MetadataFetch], list[Any]]] = {}
        self.observations: list[Observation] = []

    def _new_fetch(self, cand: Candidate, made: list[MetadataFetch]) -> MetadataFetch:
        magnet = self.magnet
        fetch = MetadataFetch(
            swarm=magnet.swarm_id.hex,
            v1=magnet.v1.raw if magnet.v1 else None,
            v2=magnet.v2.raw if magnet.v2 else None,
            peer_id=self.peer_id,
            ip=cand[0],
            port=cand[1],
            source=self.source_of(cand),
            started_us=self.clock.now_us(),
            policy=self.policy,
            client=f"swarmscope/{__version__}".encode(),
        )
        made.append(fetch)
        return fetch

    def start(self, cand: Candidate) -> None:
        """Begin fetching from ``cand`` (one or two attempts, see :func:`probe_with_encryption`)."""
        made: list[MetadataFetch] = []
        # probe_with_encryption is annotated for ProbeRun; it only uses the driver interface (ProbeDriven)
        # and ``session.infohash``, both of which MetadataFetch has.
        factory = cast(Callable[[], ProbeRun], lambda: self._new_fetch(cand, made))
        tapped: list[Any] = []

        def tap(run: Any) -> Any:
            assert self.tap is not None
            wrapped = self.tap(run)
            tapped.append(wrapped)
            return wrapped

        coro = probe_with_encryption(
            factory,
            self.encryption,
            clock=self.clock,
            bind_ip=self.bind_ip,
            tap=tap if self.tap is not None else None,
        )
        self.running[asyncio.create_task(coro)] = (made, tapped)

    async def run(self, queue: asyncio.Queue[Candidate | None], parallel: int) -> MetadataFetch | None:
        """Keep ``parallel`` peers busy until one serves verified metadata or the candidates run out."""
        getter: asyncio.Task[Candidate | None] | None = None
        exhausted = False
        try:
            while True:
                if not exhausted and getter is None and len(self.running) < parallel:
                    getter = asyncio.create_task(queue.get())
                if getter is None and not self.running:
                    return None
                waiting: set[asyncio.Future[Any]] = set(self.running)
                if getter is not None:
                    waiting.add(getter)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter is not None and getter in done:
                    cand, getter = getter.result(), None
                    if cand is None:
                        exhausted = True
                    else:
                        self.start(cand)
                for task in [t for t in self.running if t in done]:
                    made, _ = self.running.pop(task)
                    self.observations.extend(task.result())
                    winner = next((f for f in made if f.result is not None), None)
                    if winner is not None:
                        return winner
        finally:
            if getter is not None:
                getter.cancel()

    async def stop(self) -> None:
        """Stop the fetches still running and record how far each attempt got."""
        for task in self.running:
            task.cancel()
        for task, (made, tapped) in self.running.items():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # the tap around a fetch (when there is one) adds its capture hash and reports the capture
            drivers = [*tapped, *made[len(tapped) :]]
            self.observations.extend(d.observation() for d in drivers)
        self.running.clear()


async def fetch_metadata(
    magnet: Magnet,
    candidates: AsyncIterable[Candidate] | Iterable[Candidate],
    *,
    clock: Clock,
    peer_id: bytes,
    bind_ip: str | None = None,
    parallel: int = 4,
    timeout: float = 60.0,
    source: str = Source.MANUAL.value,
    policy: MetadataPolicy = DEFAULT_POLICY,
    encryption: EncryptionPolicy = EncryptionPolicy.DISABLE,
    tap: Tap | None = None,
    source_of: Callable[[Candidate], str] | None = None,
) -> MetadataOutcome:
    """Fetch the info dict of ``magnet`` from candidate peers and verify it against its infohash(es).

    Args:
        magnet: the parsed magnet (v1, v2 or hybrid; a hybrid's copy must match both hashes).
        candidates: (ip, port) pairs, a list or an async iterator (e.g. fed by the DHT); the magnet's
            ``x.pe`` peers are tried first. clock: evidence clock. peer_id: our 20-byte peer id.
        bind_ip: local source address. parallel: fetches at once. timeout: seconds for the whole fetch.
        source: the Source value recorded on the observations. policy: per-peer limits.
        source_of: the Source value of each candidate, given to its fetch before the fetch starts (so
            the record and its capture header agree); None: ``source`` for every candidate.
        encryption: MSE/PE use per peer (``net.mse_conn.EncryptionPolicy``; each attempt is observed).
        tap: wraps each attempt's run (``net.capture_tap.CaptureTap``: wire capture).

    Returns:
        :class:`MetadataOutcome`; no verified copy within ``timeout`` (or candidates exhausted) gives
        ``info=None``. Network failures are in the observations, never raised.

    Raises:
        Whatever the caller's ``candidates`` iterator raised (after every fetch was stopped).

    Source: BEP 9, BEP 52; interop PW-12 (a reject is not final; other peers are asked meanwhile).
    """
    queue: asyncio.Queue[Candidate | None] = asyncio.Queue(maxsize=max(1, parallel))
    pump = asyncio.create_task(_pump(_candidates(magnet, candidates), queue))
    search = _Search(
        magnet,
        clock,
        peer_id,
        bind_ip=bind_ip,
        source_of=source_of or (lambda _candidate: source),
        policy=policy,
        encryption=encryption,
        tap=tap,
    )
    winner: MetadataFetch | None = None
    try:
        async with asyncio.timeout(timeout):
            winner = await search.run(queue, max(1, parallel))
    except TimeoutError:
        pass
    finally:
        await search.stop()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump  # re-raises an exception of the caller's candidate iterator
    if winner is None or winner.result is None:
        return MetadataOutcome(None, None, search.observations)
    try:
        meta: Metainfo | None = metainfo_from_info(winner.result, magnet.trackers)
    except DecodeError:
        meta = None
    return MetadataOutcome(winner.result, meta, search.observations, (winner.ip, winner.port))
