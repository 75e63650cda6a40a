"""The node's evidence writer in its own process: the ledger port of a monitor whose commits run elsewhere.

:class:`WriterProcess` is an :class:`~swarmscope.store.ports.EvidenceLedger` for the
:class:`~swarmscope.monitor.ledger_writer.LedgerWriter`: ``commit_evidence`` and ``committed_batch`` are sent
as frames (:mod:`swarmscope.monitor.writer_frames`) to a child process (:mod:`swarmscope.monitor.writer_main`,
the same interpreter and the same swarmscope sources) that holds its own connection to the store and the
node key, links the chain, seals each batch with Ed25519 and commits. The event loop's process keeps the
probes, the captures and the records' canonical bytes; the writer's CPU (row building, SQLite, the seal,
the COMMIT's fsync wait) runs on another core and no longer holds the loop's GIL (docs/performance.md).

Acknowledgement and crash safety are the ``LedgerWriter``'s, unchanged: a batch is evidence once the child
answered that its COMMIT returned. A child that dies (``kill -9``, out of memory) makes the request in
flight fail like a store that refused; the ``LedgerWriter`` keeps the records and first asks (the next
child, started on the next request) whether that batch committed after all, so nothing is chained twice
or lost. A monitor killed with ``kill -9`` closes the pipe: the child finishes the commit it is in and exits.
RFC 3161 tokens are written by the monitor's own store (they extend no chain).

On a fleet node ``fence`` gives the node's current lease tokens at each commit (as the in-process
``FencedStore`` reads them): they travel with the request and the child seals a fenced batch; a refusal by
fencing or by a newer process under the node's name comes back as ``FencingRefused`` / ``NodeReplaced``
(:mod:`swarmscope.monitor.writer_frames`), which the ``LedgerWriter`` handles as on a one-process node.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import swarmscope
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.seal import SealedBatch, private_key_pem
from swarmscope.monitor import writer_frames as frames
from swarmscope.store.fleet.fencing import Fence, FencingRefused
from swarmscope.store.ports import EvidenceLedger

STOP_SECONDS = 60.0  # how long close() waits for the child to finish its last commit before killing it
# CPython's cyclic collector thresholds in the monitor's processes (its defaults: 700, 10, 10). The first
# is net allocations between two young collections: a probe allocates hundreds of short-lived objects
# (its run, capture events, records, asyncio handles), so at 700 the collector ran several times per probe
# and walked the young objects each time; at 50,000 it runs about once per hundred probes.
GC_THRESHOLDS = (50_000, 50, 100)


class WriterProcessError(SwarmscopeError):
    """The writer process cannot be started, died, or refused a request (the message says which)."""


class WriterProcess:
    """The ledger port backed by a writer child process (started on first use, restarted after it died).

    Args:
        db: the store's URL or SQLite path (the child opens it; it must exist). key: the node's signing
        key (handed to the child over the pipe, never in a file or its arguments). witness: the chain-head
        witness file the child keeps up to date (``Store.witness``), or None. local: the monitor's own
        store, for RFC 3161 tokens. on_warning: one line when a child is found dead between requests (a
        request it dies in fails, and the ``LedgerWriter`` says so). fence: a fleet node's lease tokens,
        read at each commit (None: an unfenced monitor).
    """

    def __init__(
        self,
        db: str,
        key: Ed25519PrivateKey,
        witness: Path | None,
        local: EvidenceLedger,
        on_warning: Callable[[str], None] = lambda _msg: None,
        fence: Callable[[], Fence] | None = None,
    ) -> None:
        self.db, self.key, self.witness, self.local = db, key, witness, local
        self.on_warning, self.fence = on_warning, fence
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one request at a time (the LedgerWriter's thread, close())
        self.started = 0  # children started (more than 1: one died and was replaced)

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first request or after it died)."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the child now (it opens the store), rather than at the first commit.

        Raises:
            WriterProcessError: it could not start or open the store (its one line).
        """
        with self._lock:
            self._ensure()

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
        """``Store.commit_evidence`` in the child; returns once its COMMIT returned.

        Raises:
            WriterProcessError: the child refused (nothing committed) or died (the batch is in doubt).
            FencingRefused, NodeReplaced: a fleet node's batch refused by fencing (nothing committed).
        """
        fence = None if self.fence is None else self.fence()
        body = frames.commit_request(
            run_id, records, captures, blobs, reference_pieces, sealed_at_us, clock, fence
        )
        try:
            return self._ask(body)
        except FencingRefused as exc:  # judged against the node's tokens now (leased again meanwhile?)
            if self.fence is None or (judged := exc.judged_against(self.fence().tokens)) is exc:
                raise
            raise judged from exc

    def committed_batch(self, records: Sequence[EvidenceRecord], sealed_at_us: int) -> SealedBatch | None:
        """``Store.committed_batch`` in the child (a new one when the last died). Raises as commit."""
        return self._ask(frames.find_request(records, sealed_at_us))

    def add_timestamp_token(self, batch: SealedBatch, tsa_url: str, token: bytes, added_us: int) -> int:
        """Store an RFC 3161 token through the monitor's own store (it seals nothing)."""
        return self.local.add_timestamp_token(batch, tsa_url, token, added_us)

    def close(self) -> None:
        """End the child: close its input (it exits after its last answer), wait, kill it if it hangs."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        _close(proc.stdin)
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close(proc.stdout)

    def relay(self, body: bytes) -> bytes:
        """Send a request body another process made (a probe process's commit or find,
        :mod:`~swarmscope.monitor.writer_frames`) unopened; the writer's reply body, or an error reply
        when the writer could not start or died during the request (the batch is then in doubt)."""
        try:
            return self._exchange(body)
        except WriterProcessError as exc:
            return frames.error_reply(str(exc))

    def _ask(self, body: bytes) -> SealedBatch | None:
        reply = self._exchange(body)
        try:
            return frames.read_reply(reply)
        except frames.WriterRefused as exc:
            raise WriterProcessError(str(exc)) from None

    def _exchange(self, body: bytes) -> bytes:
        with self._lock:
            proc = self._ensure()
            try:
                return _exchange(proc, body)
            except (OSError, ValueError, SwarmscopeError) as exc:
                self._reap(proc)
                message = f"evidence writer process ended ({exc}); a new one takes over"
                raise WriterProcessError(message) from None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            dead = self._proc
            self._reap(dead)
            self.on_warning(
                f"evidence writer process {dead.pid} ended with status {dead.returncode}; "
                "a new one takes over"
            )
        proc = _spawn()
        self.started += 1
        witness = "" if self.witness is None else str(self.witness)
        hello = frames.hello(self.db, private_key_pem(self.key), witness)
        try:
            reply = _exchange(proc, hello)
            frames.read_reply(reply)
        except (OSError, ValueError, SwarmscopeError, frames.WriterRefused) as exc:
            self._reap(proc)
            raise WriterProcessError(f"evidence writer process did not start: {exc}") from None
        self._proc = proc
        return proc

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """Forget a dead (or broken) child: kill it if it still runs, wait for it, close its pipes."""
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        _close(proc.stdin)
        _close(proc.stdout)
        if self._proc is proc:
            self._proc = None


def _spawn() -> subprocess.Popen[bytes]:
    """The child: this package's writer_main (a terminal's Ctrl-C reaches only the monitor, which commits
    what is pending and then closes the pipe)."""
    return spawn_child("swarmscope.monitor.writer_main")


def spawn_child(module: str) -> subprocess.Popen[bytes]:
    """``module`` of this package run by this interpreter (``python -m``, through
    :mod:`swarmscope.monitor.child_main`: the collector off during start-up), this package's source first on
    its path, stdin and stdout piped, in its own session: a terminal's Ctrl-C reaches only the parent,
    which ends the child itself (the writer process, the probe processes)."""
    src = str(Path(swarmscope.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "swarmscope.monitor.child_main", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
        start_new_session=True,
    )


@contextlib.contextmanager
def collecting_less() -> Iterator[None]:
    """Tune the cyclic garbage collector while a process of the monitor runs (the coordinator, a probe
    process, the writer): what start-up loaded (modules, the store, the targets) moves to the permanent
    generation (``gc.freeze``: not traversed by collections), and collections run at
    :data:`GC_THRESHOLDS`, the collector on (a child starts with it off:
    :mod:`swarmscope.monitor.child_main`); all three are undone on exit (the monitor command also runs inside
    other processes: tests, the demo). Reference counting frees every object as before; only garbage in
    reference cycles waits longer (at most the first threshold's worth of allocations). Evidence is
    unchanged."""
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()
    try:
        yield
    finally:
        if not enabled:
            gc.disable()
        gc.set_threshold(*before)
        gc.unfreeze()


def _exchange(proc: subprocess.Popen[bytes], body: bytes) -> bytes:
    """Send one frame, read the one reply. Raises OSError (broken pipe), DecodeError, or EOFError-like
    :class:`WriterProcessError` when the child's output ends first."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(frames.frame(body))
    proc.stdin.flush()
    header = proc.stdout.read(frames.HEADER.size)
    if len(header) < frames.HEADER.size:
        raise WriterProcessError(f"no answer, status {proc.wait()}")
    length = frames.frame_length(header)
    reply = proc.stdout.read(length)
    if len(reply) < length:
        raise WriterProcessError(f"answer cut short, status {proc.wait()}")
    return reply


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()
