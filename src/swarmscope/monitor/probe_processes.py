"""The coordinator's side of a node with several probe processes (``swarmscope monitor --probe-processes N``).

The process the user started is the coordinator and shard 0 (:mod:`swarmscope.monitor.shards`): it owns
discovery (tracker announces, the DHT node, BEP 9 metadata of magnets), the inbound listener, the run's
start and end in the store, and the node's one evidence writer process
(:class:`~swarmscope.monitor.writer_process.WriterProcess`). :class:`ProbeProcesses`, its lead router,
starts N - 1 probe processes (:mod:`swarmscope.monitor.probe_main`, this interpreter and these sources,
each its own event loop on its own core) and then:

* hands each lead the coordinator's discovery found to the shard of its IP address (its sighting is
  recorded by the coordinator, where it was found); PEX leads a probe process finds for another shard come
  back here and are handed on the same way;
* relays each probe process's writer requests, unopened bytes, to the one writer process, and its reply
  back: every process's records go through one chain, each batch sealed once with the node key
  (:mod:`swarmscope.monitor.writer_frames`); a sealed batch is acknowledged to the ``on_committed`` of the
  coordinator (the commit log) as its own are;
* at the end, stops them (each commits what is pending) and folds their counters into its own.

Inbound connections are accepted by the coordinator whatever their address's shard (they are not planned
probes; the coordinator records them like any other process records its observations).

Crash safety is the writer process's and each ``LedgerWriter``'s: a probe process killed with ``kill -9``
loses its probes in flight and the records not yet acknowledged, never a committed batch; a new one takes
its shard (up to :data:`MAX_RESTARTS` times a run; then, or when none can start, the coordinator probes
the shard itself) and is handed the shard's leads again, so its peers are probed again (one warning
line): each lead once, at most ``PlanPolicy.max_peers_per_swarm`` per swarm, the newest
(:mod:`swarmscope.monitor.lead_copy`). A writer killed mid-commit fails the request it was in; the probe
process keeps those records and asks (``find``) whether they landed before committing them again. A
coordinator killed with ``kill -9`` closes every pipe: each probe process stops (its requests fail at
once, what was not acknowledged is lost), the writer finishes the commit it is in and exits.

A fleet node (``fleet``: ``swarmscope node --probe-processes N``) starts its probe processes with no swarm
and hands them, in the order its lease rounds decide (:mod:`swarmscope.monitor.probe_frames`), each
swarm it leases (its metainfo), each swarm it drops, each change of its lease tokens and each reference
copy it loads; a replacement process is handed all of the current ones before the shard's leads. Each
probe process fences its own commits by the latest tokens it was handed: a batch it made for a swarm
whose lease the node lost carries the old token, and the database refuses it
(:mod:`swarmscope.store.fleet.fencing`); the relay tells ``on_fenced`` (the node drops the swarm, as
when its own batch is refused). A swarm handed off (dropped, its queued records kept) counts in
:meth:`ProbeProcesses.pending_swarms` until every probe process it was dropped in and that still runs
answered that it has nothing of it left to commit (``F``); the node keeps its lease until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor import probe_frames as pf
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.lead_copy import LeadCopy
from swarmscope.monitor.shards import config_to_json, shard_of
from swarmscope.monitor.targets import Target
from swarmscope.monitor.writer_process import STOP_SECONDS, WriterProcess, spawn_child
from swarmscope.store.fleet.fencing import Fence, FencingRefused

MAX_PROBE_PROCESSES = 64
MAX_RESTARTS = 3  # replacements of one shard's probe process per run (a crash loop ends there)


@dataclass(slots=True)
class _Child:
    """One probe process: its shard, process, frame pipe and the thread that serves it."""

    shard: int
    proc: subprocess.Popen[bytes]
    pipe: pf.FramePipe
    thread: threading.Thread | None = None
    lost_leads: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    draining: dict[str, int] = field(default_factory=dict)  # swarm -> its last drop not answered (``F``)


class ProbeProcesses:
    """The coordinator's lead router and relay (module docstring).

    Args:
        count: probe processes in all, the coordinator included (2 .. :data:`MAX_PROBE_PROCESSES`).
        writer: the node's writer process (the coordinator's own ledger too). db: the store (the probe
        processes open it read-only, for datasets and RFC 3161 tokens). origins: the targets as the user gave
        them. config: the run's settings. on_warning: one line per event. on_committed: each sealed
        batch a probe process committed, once its COMMIT returned. fleet: a fleet node's probe processes
        (module docstring). on_fenced: the swarms whose lease fencing refused a probe process's batch.

    ``config.max_backlog_bytes`` is divided among the ``count`` processes (the coordinator's own share too:
    build this router before the coordinator's monitor), so ``--max-backlog`` bounds the node's backlog.
    """

    def __init__(
        self,
        count: int,
        writer: WriterProcess,
        db: str,
        origins: list[str],
        config: MonitorConfig,
        on_warning: Callable[[str], None] = lambda _msg: None,
        on_committed: Callable[[SealedBatch], None] = lambda _sealed: None,
        *,
        fleet: bool = False,
        on_fenced: Callable[[Mapping[str, int | None]], None] = lambda _swarms: None,
    ) -> None:
        if not 2 <= count <= MAX_PROBE_PROCESSES:
            raise ValueError(f"probe processes: {count} is not in 2..{MAX_PROBE_PROCESSES}")
        config.max_backlog_bytes //= count  # one bound for the node: each process keeps its share of it
        self.count, self.writer, self.db, self.origins, self.config = count, writer, db, origins, config
        self.on_warning, self.on_committed = on_warning, on_committed
        self.children: dict[int, _Child] = {}
        self.started = 0  # probe processes started (more than count - 1: one died and was replaced)
        self.restarts: dict[int, int] = {}
        self._leads: dict[int, LeadCopy] = {}  # shard -> the leads handed to it (each once, bounded)
        self._hello: dict[str, Any] = {}
        self.abandoned: set[int] = set()  # shards without a process: the coordinator probes them itself
        self._monitor: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.fleet, self.on_fenced = fleet, on_fenced
        self._targets: dict[str, bytes] = {}  # a fleet node's swarms: infohash -> metainfo bytes
        self._lease: bytes | None = None  # the latest ``K`` body
        self._references: list[tuple[str, bytes]] = []  # (swarm, ``R`` body)
        self.probed: set[str] = set()  # the swarms the probe processes probe (infohash hex)
        self._drops = 0  # ``D`` frames numbered (an ``F`` answers one of them)

    @property
    def pids(self) -> list[int]:
        """The probe processes' process ids (running or not)."""
        return [child.proc.pid for child in self.children.values()]

    @property
    def shards(self) -> int:
        """The node's probe processes, the coordinator included."""
        return self.count

    def mine(self, ip: str) -> bool:
        """Whether the coordinator (shard 0) probes ``ip``."""
        return shard_of(ip, self.count) == 0

    def forward(self, swarm: str, peers: list[tuple[str, int]], source: str, via: str = "") -> None:
        """Hand each peer to its shard's process (shard 0: the coordinator's own plan), with ``via``, the
        PEX peer that named them (``"ip:port"`` or ``""``: its quota holds in each process). A swarm the
        probe processes do not probe (a magnet whose metainfo arrived after they started, in a plain run)
        stays with the coordinator, whatever the shard."""
        shards: dict[int, list[tuple[str, int]]] = {}
        for ip, port in peers:
            shards.setdefault(shard_of(ip, self.count), []).append((ip, port))
        for shard, group in shards.items():
            if shard == 0 or shard in self.abandoned or swarm not in self.probed:
                self._monitor.planned(swarm, group, source, via)
                continue
            self._copy(shard).add(swarm, group, source, via)
            child = self.children.get(shard)
            try:
                if child is None or child.done.is_set():
                    raise OSError("ended")
                child.pipe.send(pf.LEADS, pf.leads(swarm, group, source, via))
            except (OSError, ValueError):
                if child is not None:
                    child.lost_leads += len(group)

    def _copy(self, shard: int) -> LeadCopy:
        """The leads handed to ``shard`` so far (:mod:`~swarmscope.monitor.lead_copy`)."""
        if shard not in self._leads:
            self._leads[shard] = LeadCopy(self.config.plan.max_peers_per_swarm)
        return self._leads[shard]

    async def start(self, monitor: Any) -> None:
        """Start the probe processes of ``monitor``'s run (recorded already: ``monitor.run_id``); a shard
        whose process cannot start is probed by the coordinator (one warning line)."""
        self._monitor, self._loop = monitor, asyncio.get_running_loop()
        self.probed = {swarm for swarm, target in monitor.targets.items() if target.meta is not None}
        uvloop = type(self._loop).__module__.split(".")[0] == "uvloop"
        self._hello = hello = {
            "db": self.db,
            "run": monitor.run_id,
            "shards": self.count,
            "targets": self.origins,
            "config": config_to_json(self.config).decode(),
            "loop": "uvloop" if uvloop else "asyncio",
            "fleet": self.fleet,
        }
        for shard in range(1, self.count):
            try:
                child = self.children[shard] = await asyncio.to_thread(self._spawn, hello | {"shard": shard})
            except (OSError, ValueError) as exc:
                self._abandon(shard, f"probe process {shard} could not start ({exc})")
            else:
                self._replay(child)

    def add_target(self, target: Target) -> None:
        """A fleet node's swarm (its metainfo known): probed by every probe process from now on."""
        assert target.meta is not None
        self._targets[target.swarm] = target.meta.raw
        self.probed.add(target.swarm)
        self._broadcast(pf.ADD, target.meta.raw)

    def remove_target(self, swarm: str) -> None:
        """A fleet node's swarm is dropped: every probe process stops probing it (what it queued for it
        stays, unless :meth:`discard_queued`, and the swarm is in :meth:`pending_swarms` until each running
        process answers it drained it); its leads are forgotten (a replacement is not handed them)."""
        self.probed.discard(swarm)
        if self._targets.pop(swarm, None) is None:
            return
        for leads in self._leads.values():
            leads.drop(swarm)
        self._references = [(s, body) for s, body in self._references if s != swarm]
        self._drops += 1
        for child in self.children.values():
            if not child.done.is_set():
                child.draining[swarm] = self._drops
        self._broadcast(pf.DROP, pf.drop(swarm, self._drops))

    def discard_queued(self, swarm: str) -> None:
        """A fleet node's swarm whose lease was lost: every probe process drops its queued records (so
        nothing of it is waited for: :meth:`pending_swarms`)."""
        for child in self.children.values():
            child.draining.pop(swarm, None)
        self._broadcast(pf.DISCARD, swarm.encode("ascii"))

    def pending_swarms(self) -> set[str]:
        """On the event loop: the swarms dropped (:meth:`remove_target`) that a running probe process has
        not answered yet with ``F``: its records of them may still be queued or in a commit under way. A
        process that ended (died, replaced, its shard abandoned) is not waited for: what it had not
        committed is lost with it (module docstring)."""
        pending: set[str] = set()
        for child in self.children.values():
            if not child.done.is_set():
                pending |= child.draining.keys()
        return pending

    def _drained(self, child: _Child, body: bytes) -> None:
        """On the event loop: ``child`` answered a drop (``F``); an answer to an earlier drop of the swarm
        than its last, or a malformed one, is ignored."""
        with contextlib.suppress(SwarmscopeError):
            swarm, number = pf.read_drop(body)
            if child.draining.get(swarm) == number:
                del child.draining[swarm]

    def lease_state(self, fence: Fence, fleet: Iterable[str]) -> None:
        """The node's lease tokens now (each probe process fences its later commits by them) and the
        fleet's addresses."""
        self._lease = pf.lease_state(fence, fleet)
        self._broadcast(pf.LEASES, self._lease)

    def reference(self, swarm: str, path: str) -> None:
        """This node's reference copy of a work ``swarm`` carries: loaded by every probe process too."""
        body = pf.reference(swarm, path)
        self._references.append((swarm, body))
        self._broadcast(pf.REFERENCE, body)

    def _broadcast(self, channel: bytes, body: bytes) -> None:
        """On the event loop: one frame to every running probe process (one that ended gets it again,
        with the rest of the state, when it is replaced: :meth:`_replay`)."""
        for child in list(self.children.values()):
            if not child.done.is_set():
                with contextlib.suppress(OSError, ValueError):
                    child.pipe.send(channel, body)

    def _replay(self, child: _Child) -> None:
        """On the event loop: hand a new probe process the current lease state, swarms and reference
        copies (a fleet node's), then every lead of its shard so far."""
        state = [(pf.LEASES, self._lease)] if self._lease is not None else []
        state += [(pf.ADD, raw) for raw in self._targets.values()]
        state += [(pf.REFERENCE, body) for _swarm, body in self._references]
        groups = self._handed(child.shard, self._copy(child.shard)).items()
        state += [(pf.LEADS, pf.leads(swarm, peers, source, via)) for (swarm, source, via), peers in groups]
        try:
            for channel, body in state:
                child.pipe.send(channel, body)
        except (OSError, ValueError):  # it ended already: its reader thread replaces it
            pass

    def _abandon(self, shard: int, why: str) -> None:
        """On the event loop: the coordinator takes ``shard`` over, with every lead handed to it so far."""
        self.abandoned.add(shard)
        self.on_warning(f"{why}; the coordinator probes its shard")
        for (swarm, source, via), peers in self._handed(shard, self._leads.pop(shard, LeadCopy(1))).items():
            self._monitor.planned(swarm, peers, source, via)

    def _handed(self, shard: int, copy: LeadCopy) -> dict[tuple[str, str, str], list[tuple[str, int]]]:
        """The leads to hand whoever takes ``shard`` over: ``copy``'s, and every verified peer of the shard
        the live counters know that ``copy`` no longer holds (a flood of leads pushed it out)."""
        groups = copy.groups()
        for swarm in self.probed:
            stats = self._monitor.stats.get(swarm)
            for ip, port, source in stats.verified_leads() if stats is not None else ():
                if shard_of(ip, self.count) == shard and not copy.holds(swarm, (ip, port)):
                    groups.setdefault((swarm, source, ""), []).append((ip, port))
        return groups

    def _spawn(self, hello: dict[str, Any]) -> _Child:
        proc = _popen()
        assert proc.stdin is not None and proc.stdout is not None
        child = _Child(int(hello["shard"]), proc, pf.FramePipe(proc.stdout, proc.stdin))
        child.pipe.send(pf.HELLO, json.dumps(hello).encode())
        child.thread = threading.Thread(target=self._serve, args=(child,), daemon=True)
        child.thread.start()
        self.started += 1
        return child

    def _serve(self, child: _Child) -> None:
        """One probe process's frames until it ends: relay its writer requests, route its leads, take its
        counters."""
        while True:
            try:
                item = child.pipe.read()
            except SwarmscopeError:
                item = None
            if item is None:
                break
            channel, body = item
            if channel == pf.WRITER:
                self._relay(child, body)
            elif channel == pf.LEADS:
                self._on_loop(self.forward, *pf.read_leads(body))
            elif channel == pf.STATS:
                self._on_loop(self._merge, pf.read_json(body))
            elif channel == pf.DRAINED:
                self._on_loop(self._drained, child, body)
        child.pipe.close()  # its reader thread ends, then the process
        status = child.proc.wait()
        child.done.set()
        if not self._stopping:
            self._replace(child, status)
        elif status != 0:
            self._on_loop(self.on_warning, f"probe process {child.shard} ended with status {status}")

    def _replace(self, child: _Child, status: int) -> None:
        """A probe process died mid-run: what it committed stays; a new one takes its shard and is handed
        every lead of the shard again (its probes in flight and unacknowledged records are lost, so those
        peers are probed again)."""
        shard, done = child.shard, self.restarts.get(child.shard, 0)
        ended = f"probe process {shard} (pid {child.proc.pid}) ended with status {status}"
        if done >= MAX_RESTARTS:
            self._on_loop(self._abandon, shard, f"{ended}, replaced {done} times already")
            return
        self.restarts[shard] = done + 1
        self._on_loop(self.on_warning, f"{ended}; its committed batches stay, a new one takes its shard")
        try:
            new = self.children[shard] = self._spawn(self._hello | {"shard": shard})
            self._on_loop(self._replay, new)
        except (OSError, ValueError) as exc:
            self._on_loop(self._abandon, shard, f"probe process {shard} could not be replaced ({exc})")

    def _relay(self, child: _Child, body: bytes) -> None:
        reply = self.writer.relay(body)
        with contextlib.suppress(frames.WriterRefused, SwarmscopeError):
            try:
                sealed = frames.read_reply(reply)
            except FencingRefused as exc:  # the node drops these swarms, as for its own refused batch
                self._on_loop(self.on_fenced, exc.refused())
                raise
            if sealed is not None:
                self._on_loop(self.on_committed, sealed)
        with contextlib.suppress(OSError, ValueError):  # it died: what committed stays committed
            child.pipe.send(pf.WRITER, reply)

    def _merge(self, counters: dict[str, Any]) -> None:
        for swarm, snap in counters.items():
            stats = self._monitor.stats.get(swarm)
            if stats is not None:
                stats.merge(snap)

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            self._loop.call_soon_threadsafe(fn, *args)

    async def stop(self) -> None:
        """Stop every probe process (each commits what is pending, then exits) and take its counters."""
        self._stopping = True
        for child in self.children.values():
            with contextlib.suppress(OSError, ValueError):
                child.pipe.send(pf.STOP, b"")
        await asyncio.to_thread(self._wait_all)
        lost = sum(child.lost_leads for child in self.children.values())
        if lost:
            self.on_warning(f"{lost} leads were not handed to their probe process: it had ended")

    def _wait_all(self) -> None:
        for child in list(self.children.values()):
            if not child.done.wait(STOP_SECONDS):
                child.proc.kill()
            if child.thread is not None:
                child.thread.join(STOP_SECONDS)


def _popen() -> subprocess.Popen[bytes]:
    """A probe process: this package's probe_main (Ctrl-C reaches the coordinator, which stops it after
    its last commit)."""
    return spawn_child("swarmscope.monitor.probe_main")
