"""A probe process of a node: ``python -m swarmscope.monitor.probe_main``, started by the coordinator.

``swarmscope monitor --probe-processes N`` starts N - 1 of these beside the coordinator
(:mod:`swarmscope.monitor.probe_processes`). Each runs its own event loop (uvloop when the coordinator
runs on it) and a :class:`~swarmscope.monitor.crawler.Monitor` of the coordinator's run (``joined_run``:
no run, swarm row or discovery channel of its own, no tracker announce) that probes its shard of the peers
(:mod:`swarmscope.monitor.shards`): the probes, their captures, observations, attributions and PEX
sightings, and the records' canonical bytes are made here, on this process's core.

Frames (:mod:`swarmscope.monitor.probe_frames`) on standard input and output: the hello, then leads to
plan (``L``) and the writer's replies (``W``) in; the writer requests of this process's
:class:`~swarmscope.monitor.ledger_writer.LedgerWriter` (``W``, one at a time), PEX leads of other shards
(``L``) and, at the end, its counters (``S``) out. A batch is evidence once the writer's reply came back
(the ``LedgerWriter``'s acknowledgement, unchanged): a failed or unanswered request keeps its records here
and the next round first asks (``find``) whether it landed. ``X`` or the end of input stops it: it
commits what is pending, sends its counters and exits (after ``kill -9`` of the coordinator the requests
fail at once, and what was not acknowledged is reported lost on standard error).

A fleet node's probe process (hello ``fleet: true``) runs a
:class:`~swarmscope.monitor.fleet_monitor.FleetMonitor` with no swarm: the coordinator hands it each
swarm the node leases (``A``), each it drops (``D``: its probes stop; ``Q`` when its lease was lost: its
queued records are dropped too), the node's lease tokens (``K``) and reference copies (``R``). It answers
each drop with ``F`` once its ledger writer has none of that swarm's records queued or in a commit under
way (polled on its event loop every :data:`DRAIN_POLL_SECONDS`, at most :data:`DRAIN_SECONDS`): the node
releases a handed-off swarm's lease only then, as it waits for its own writer. Every
commit request carries the latest tokens (:class:`PipeLedger`'s ``fence``), so the writer process seals
it fenced and the database refuses the batch of a swarm whose lease the node no longer holds; the refusal
comes back as on a one-process node (the ``LedgerWriter`` drops that swarm's records).

Standard output carries only frames (anything printed goes to standard error); SIGINT is ignored (the
coordinator stops its probe processes after Ctrl-C).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor import probe_frames as pf
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.shards import config_from_json, shard_of
from swarmscope.monitor.targets import Target, load_target, target_from_metainfo
from swarmscope.monitor.writer_process import WriterProcessError, collecting_less
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.fencing import Fence

READER_JOIN_SECONDS = 30.0  # how long the exit waits for the coordinator to close this process's input
DRAIN_POLL_SECONDS = 0.2  # how often a dropped swarm's pending records are looked at (``F``)
DRAIN_SECONDS = 600.0  # then ``F`` is sent all the same (one warning): a lease is not held forever


class PipeLedger:
    """The evidence ledger of a probe process: each request goes to the coordinator as a ``W`` frame, which
    relays it to the node's writer process; the reply comes back through :meth:`replied`.

    ``store``: this process's own connection (read-only for evidence), for RFC 3161 tokens, which extend no
    chain. ``fence``: a fleet node's latest lease tokens (``K`` frames), sent with every commit; None for
    a plain monitor.
    """

    def __init__(self, pipe: pf.FramePipe, store: Store) -> None:
        self.pipe, self.store = pipe, store
        self.fence: Fence | None = None
        self._replies: collections.deque[bytes | None] = collections.deque()
        self._ready = threading.Condition()
        self._ask_lock = threading.Lock()  # one request in flight (the LedgerWriter's, in its worker thread)
        self.closed = False

    def replied(self, body: bytes | None) -> None:
        """A reply arrived (None: the coordinator is gone; every request from now on fails at once)."""
        with self._ready:
            if body is None:
                self.closed = True
            self._replies.append(body)
            self._ready.notify()

    def commit_evidence(
        self,
        run_id: int,
        *,
        records: Sequence[EvidenceRecord],
        captures: Mapping[bytes, bytes] | None = None,
        blobs: Mapping[bytes, bytes] | None = None,
        reference_pieces: Sequence[tuple[str, int, bytes]] = (),
        sealed_at_us: int,
        clock: dict[str, Any] | None = None,
    ) -> SealedBatch | None:
        """``Store.commit_evidence`` in the writer process, fenced by :attr:`fence` when set.

        Raises:
            WriterProcessError: refused, or in doubt. FencingRefused, NodeReplaced: a fleet node's batch
                refused by fencing (nothing committed).
        """
        fence = self.fence  # read once: the tokens the request carries
        body = frames.commit_request(
            run_id, records, captures, blobs, reference_pieces, sealed_at_us, clock, fence
        )
        return self._ask(body)

    def committed_batch(self, records: Sequence[EvidenceRecord], sealed_at_us: int) -> SealedBatch | None:
        """``Store.committed_batch`` in the writer process. Raises as :meth:`commit_evidence`."""
        return self._ask(frames.find_request(records, sealed_at_us))

    def add_timestamp_token(self, batch: SealedBatch, tsa_url: str, token: bytes, added_us: int) -> int:
        """Store an RFC 3161 token through this process's own connection."""
        return self.store.add_timestamp_token(batch, tsa_url, token, added_us)

    def _ask(self, body: bytes) -> SealedBatch | None:
        with self._ask_lock:
            if self.closed:
                raise WriterProcessError("the coordinator ended: nothing more can be committed")
            try:
                self.pipe.send(pf.WRITER, body)
            except (OSError, ValueError) as exc:
                raise WriterProcessError(f"the coordinator ended ({exc})") from None
            with self._ready:
                self._ready.wait_for(lambda: bool(self._replies))
                reply = self._replies.popleft()
        if reply is None:
            raise WriterProcessError("the coordinator ended before it answered: the batch is in doubt")
        try:
            return frames.read_reply(reply)
        except frames.WriterRefused as exc:
            raise WriterProcessError(str(exc)) from None


class ShardLink:
    """The lead router of a probe process: its shard's peers are planned here, others go back to the
    coordinator (``L``), which hands them to their shard."""

    def __init__(self, pipe: pf.FramePipe, shard: int, shards: int) -> None:
        self.pipe, self.shard, self.shards = pipe, shard, shards

    def mine(self, ip: str) -> bool:
        """Whether this shard probes ``ip``."""
        return shard_of(ip, self.shards) == self.shard

    def forward(self, swarm: str, peers: list[tuple[str, int]], source: str, via: str = "") -> None:
        """Hand other shards' peers, named by ``via`` (PEX: ``"ip:port"``, else ``""``), to the
        coordinator (dropped when it is gone: the run is ending)."""
        with contextlib.suppress(OSError, ValueError):
            self.pipe.send(pf.LEADS, pf.leads(swarm, peers, source, via))

    async def start(self, monitor: Any) -> None:
        """Nothing to start: the coordinator started this process."""

    async def stop(self) -> None:
        """Nothing to stop."""


def read_frames(pipe: pf.FramePipe, ledger: PipeLedger, deliver: Callable[..., None]) -> None:
    """The reader thread: replies to the ledger, leads and the stop to the event loop (``deliver(fn,
    *args)`` runs ``fn`` there); at the end of input the ledger is closed and the monitor stopped."""
    while True:
        try:
            item = pipe.read()
        except SwarmscopeError:  # a malformed frame: the coordinator is broken, stop as if it ended
            item = None
        if item is None:
            ledger.replied(None)
            deliver(None)
            return
        channel, body = item
        if channel == pf.WRITER:
            ledger.replied(body)
        elif channel == pf.LEADS:
            deliver("leads", *pf.read_leads(body))
        elif channel == pf.STOP:
            deliver(None)
        elif channel in FLEET_CHANNELS:
            deliver(FLEET_CHANNELS[channel], body)


FLEET_CHANNELS = {
    pf.ADD: "add", pf.DROP: "drop", pf.DISCARD: "discard", pf.LEASES: "leases", pf.REFERENCE: "reference"
}  # fmt: skip


def shard_targets(origins: list[str]) -> list[Target]:
    """The swarms a probe process probes: those with metainfo (a magnet still without it stays with the
    coordinator, which fetches it), with no tracker of their own (the coordinator announces)."""
    targets = [load_target(origin) for origin in origins]
    for target in targets:
        target.trackers = []
    return [t for t in targets if t.meta is not None]


async def run_shard(pipe: pf.FramePipe, hello: dict[str, Any], store: Store) -> threading.Thread:
    """Probe this shard until stopped; then send the counters. Returns the reader thread (it ends when
    the coordinator closes this process's input, once it read this one's last frame)."""
    config = config_from_json(hello["config"].encode())
    config.listen, config.dht = False, False  # the coordinator owns discovery and inbound peers
    ledger = PipeLedger(pipe, store)
    shard = int(hello["shard"])
    monitor = _monitor(hello, store, config, ledger, ShardLink(pipe, shard, int(hello["shards"])))
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    fleet = FleetState(monitor, ledger) if isinstance(monitor, FleetMonitor) else None
    if fleet is not None:  # a fleet node's commits are always fenced: no token yet, no swarm record sealed
        ledger.fence = Fence()

    def on_loop(what: str | None, *args: Any) -> None:
        if what is None:
            stop.set()
        elif what != "leads":
            if fleet is not None:
                fleet.handle(what, args[0])
        elif args[0] in monitor.targets:
            monitor.planned(*args)

    def deliver(*args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            loop.call_soon_threadsafe(on_loop, *args)

    reader = threading.Thread(target=read_frames, args=(pipe, ledger, deliver), daemon=True)
    reader.start()
    await monitor.run(stop)
    counters = {swarm: stats.snapshot() for swarm, stats in monitor.stats.items()}
    with contextlib.suppress(OSError, ValueError):
        pipe.send(pf.STATS, json.dumps(counters).encode())
    return reader


def _monitor(
    hello: dict[str, Any], store: Store, config: Any, ledger: PipeLedger, link: ShardLink
) -> Monitor:
    """The probe process's monitor in the coordinator's run: a fleet node's starts with no swarm."""
    shard, run = int(hello["shard"]), int(hello["run"])
    if hello.get("fleet"):
        return FleetMonitor(
            store, config, Clock(), _warner(shard), ledger=ledger, router=link, joined_run=run
        )
    targets = shard_targets(hello["targets"])
    return Monitor(
        targets, store, config, on_warning=_warner(shard), leads_from_caller=True, ledger=ledger,
        router=link, joined_run=run,
    )  # fmt: skip


class FleetState:
    """A fleet node's probe process: the swarms, lease tokens and reference copies the coordinator hands
    it (module docstring), applied on the event loop in the order they came."""

    def __init__(self, monitor: FleetMonitor, ledger: PipeLedger) -> None:
        self.monitor, self.ledger = monitor, ledger
        self._tasks: set[asyncio.Task[Any]] = set()

    def handle(self, what: str, body: bytes) -> None:
        """Apply one ``A``/``D``/``Q``/``K``/``R`` body (a malformed one is one warning line)."""
        try:
            if what == "add":
                self.monitor.add_shard_target(target_from_metainfo(body, "fleet swarm"))
            elif what == "drop":
                swarm, _number = pf.read_drop(body)
                self.monitor.remove_target(swarm)
                self._spawn(self._drained(swarm, body))
            elif what == "discard":
                self.monitor.discard_queued(body.decode("ascii"))
            elif what == "leases":
                self.ledger.fence, self.monitor.fleet_addresses = pf.read_lease_state(body)
            elif what == "reference":
                self._spawn(self._reference(*pf.read_reference(body)))
        except (SwarmscopeError, UnicodeDecodeError) as exc:
            self.monitor.on_warning(f"coordinator frame {what} refused: {exc}")

    async def _drained(self, swarm: str, body: bytes) -> None:
        """Answer the drop ``body`` of ``swarm`` with ``F`` once this process's ledger writer has none of
        its records queued or in a commit under way (``LedgerWriter.pending_swarms``), or after
        :data:`DRAIN_SECONDS` (one warning line: once the node released the lease, a later batch of them
        is refused by fencing). A process that stops sends nothing more (its stop commits what is
        pending, then the node releases every lease)."""
        for _ in range(math.ceil(DRAIN_SECONDS / DRAIN_POLL_SECONDS)):
            writer = self.monitor.evidence.writer
            if self.monitor.stopping or writer is None or swarm not in writer.pending_swarms():
                break
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        else:
            self.monitor.on_warning(
                f"records of {swarm} still not committed {DRAIN_SECONDS:g} s after it was dropped: its lease "
                "may be released now (a later batch of them is refused by fencing once another node holds it)"
            )
        if not self.monitor.stopping:
            with contextlib.suppress(OSError, ValueError):
                self.ledger.pipe.send(pf.DRAINED, body)

    async def _reference(self, swarm: str, path: str) -> None:
        target = self.monitor.targets.get(swarm)
        if target is None or target.meta is None:
            return
        try:
            await self.monitor.evidence.load_reference(swarm, target.meta, path)
        except SwarmscopeError as exc:
            self.monitor.on_warning(f"reference copy {path} unusable for {swarm}: {exc}")

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _warner(shard: int) -> Callable[[str], None]:
    seen: set[str] = set()

    def warn(message: str) -> None:
        if message not in seen:
            seen.add(message)
            print(f"warning: probe process {shard}: {message}", file=sys.stderr, flush=True)

    return warn


def serve(pipe: pf.FramePipe) -> int:
    """Read the hello, open the store (read-only for evidence), probe until stopped; the exit status."""
    first = pipe.read()
    if first is None or first[0] != pf.HELLO:
        return 1
    try:
        hello = pf.read_json(first[1])
        store = open_store(str(hello["db"]), create=False)
    except (SwarmscopeError, KeyError) as exc:
        print(f"error: probe process: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        with (
            collecting_less(),
            asyncio.Runner(loop_factory=_loop_factory(hello.get("loop") == "uvloop")) as runner,
        ):
            reader = runner.run(run_shard(pipe, hello, store))
    finally:
        store.close()
        pipe.close()  # the coordinator reads the end, then closes our input: the reader thread ends
    reader.join(READER_JOIN_SECONDS)
    return 0


def _loop_factory(uvloop_wanted: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when the coordinator runs on uvloop (the same engine in every probe process)."""
    if not uvloop_wanted:
        return None
    import uvloop

    return uvloop.new_event_loop


def main() -> int:
    """Frames on stdin/stdout; fd 1 is moved aside so that no stray print can corrupt a frame."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(pf.FramePipe(sys.stdin.buffer, out))


if __name__ == "__main__":
    sys.exit(main())
