"""Stage timers for the Hurt Locker benchmark: where the monitor's time goes per committed peer.

``install()`` wraps a fixed list of functions of the evidence path (module attribute or class method) with two
timers per call: wall clock (``time.perf_counter_ns``) and the calling thread's CPU time
(``time.thread_time_ns``, which leaves out waiting for the GIL and for a CPU other processes hold). Nested
stages are inclusive (``Store.commit_evidence`` contains the canonical encoding, the chain, the seal and the
inserts). It is a benchmark aid: the wrappers cost about 1-2 µs per call (thread_time is a system call), so a
run with stages is not the headline run.
Nothing in ``src/`` is changed; the patch lives only in the benchmark's own process.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

# stage name -> (module, attribute path). Event-loop thread first, then the writer thread's.
LOOP_STAGES: dict[str, tuple[str, str]] = {
    "probe: ProbeRun.connected (handshake out)": ("swarmscope.evidence.probe.run", "ProbeRun.connected"),
    "probe: ProbeRun.received (parse, block, SHA-1)": ("swarmscope.evidence.probe.run", "ProbeRun.received"),
    "probe: ProbeRun.observation (record build)": ("swarmscope.evidence.probe.run", "ProbeRun.observation"),
    "capture: CaptureRecorder.event": ("swarmscope.evidence.capture.recording", "CaptureRecorder.event"),
    "capture: CaptureRecorder.finish (encode, SHA-256)": (
        "swarmscope.evidence.capture.recording",
        "CaptureRecorder.finish",
    ),
    "capture: lift_blocks (SHA-256 of each block)": ("swarmscope.evidence.capture.recording", "lift_blocks"),
    "capture: encode_rows (bencode + zlib)": ("swarmscope.evidence.capture.recording", "encode_rows"),
    "capture: zlib.compress (any caller)": ("zlib", "compress"),
    "capture: capture_header (per probe)": ("swarmscope.net.capture_tap", "capture_header"),
    "probe: ProbeRun.__init__": ("swarmscope.evidence.probe.run", "ProbeRun.__init__"),
    "writer: LedgerWriter.add (queue)": ("swarmscope.monitor.ledger_writer", "LedgerWriter.add"),
}
WRITER_STAGES: dict[str, tuple[str, str]] = {
    "writer: Store.commit_evidence (one transaction)": ("swarmscope.store.database", "Store.commit_evidence"),
    "writer: canonical encode": ("swarmscope.store.ledger.commit", "canonical_bytes"),
    "writer: chain append (SHA-256 x2)": ("swarmscope.store.ledger.commit", "append"),
    "writer: seal (Ed25519 sign)": ("swarmscope.store.ledger.commit", "seal_batch"),
    "writer: lock chain head": ("swarmscope.store.ledger.commit", "lock_head"),
    "writer: insert_records (row build + executemany)": ("swarmscope.store.ledger.writer", "insert_records"),
    "writer: store_content (SHA-256 check + inserts)": ("swarmscope.store.ledger.commit", "store_content"),
    "writer: content SHA-256 check": ("swarmscope.store.ledger.commit", "_content_rows"),
}
INSERT_STAGE = ("swarmscope.store.ledger.writer", "insert_many")  # split per table


class Totals:
    """Thread-safe sums: stage -> [wall nanoseconds, thread CPU nanoseconds, calls]."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sums: dict[str, list[int]] = {}

    def add(self, stage: str, wall_ns: int, cpu_ns: int) -> None:
        with self.lock:
            cell = self.sums.setdefault(stage, [0, 0, 0])
            cell[0] += wall_ns
            cell[1] += cpu_ns
            cell[2] += 1

    def per_peer(self, peers: int) -> dict[str, dict[str, float]]:
        """stage -> {cpu_us_per_peer, wall_us_per_peer, calls_per_peer, cpu_s}."""
        n = max(peers, 1)
        return {
            stage: {
                "cpu_us_per_peer": round(cpu / 1000 / n, 2),
                "wall_us_per_peer": round(wall / 1000 / n, 2),
                "calls_per_peer": round(calls / n, 3),
                "cpu_s": round(cpu / 1e9, 3),
            }
            for stage, (wall, cpu, calls) in self.sums.items()
        }


def _timed(fn: Callable[..., Any], stage: str, totals: Totals) -> Callable[..., Any]:
    wall, cpu = time.perf_counter_ns, time.thread_time_ns

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = wall(), cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            totals.add(stage, wall() - t0, cpu() - c0)

    return wrapper


def _insert_timed(fn: Callable[..., Any], totals: Totals) -> Callable[..., Any]:
    wall, cpu = time.perf_counter_ns, time.thread_time_ns

    @functools.wraps(fn)
    def wrapper(conn: Any, table: Any, rows: Any, *rest: Any) -> Any:
        t0, c0 = wall(), cpu()
        try:
            return fn(conn, table, rows, *rest)
        finally:
            totals.add(f"writer: executemany {table.name}", wall() - t0, cpu() - c0)

    return wrapper


def _patch(module: str, path: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    setattr(owner, name, make(getattr(owner, name)))


def install() -> Totals:
    """Wrap every stage once (this process only); returns the sums the wrappers fill."""
    totals = Totals()
    for stage, (module, path) in {**LOOP_STAGES, **WRITER_STAGES}.items():
        _patch(module, path, lambda fn, stage=stage: _timed(fn, stage, totals))
    _patch(*INSERT_STAGE, lambda fn: _insert_timed(fn, totals))
    return totals
