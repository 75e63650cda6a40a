"""The monitor's single evidence writer: every record, capture and proof, committed and sealed in batches.

Records (observations, sightings, clock samples, the run's configuration) queue here as they happen; every
``flush_interval`` seconds, or as soon as ``flush_rows`` are pending, one call to ``Store.commit_evidence``
writes them with their wire captures, payload blobs and reference pieces, appends them to the hash chain and
seals the batch with the node's Ed25519 key, in one database transaction (README "Sealed ledger", "Crash
safety"). A batch that fails to commit stays queued and is retried; nothing is dropped.

After a batch is sealed, an optional RFC 3161 time-stamp authority is asked for a token over the batch
bytes; a failing authority is reported and monitoring goes on. A store that keeps refusing (a full disk:
SQLite ``SQLITE_FULL``; a PostgreSQL server restarting) gets one warning when commits start failing and
one when they succeed again, not one per retry; the records stay queued in memory meanwhile. A failed
commit rolled back as a whole, so nothing half-written is left; or it committed and only its answer was
lost (PostgreSQL restarted just after COMMIT), so before retrying the writer asks the store whether that
batch is there, and never chains the same records twice.

The queue is bounded while the store refuses: :meth:`LedgerWriter.backlog_full` turns True (one line) when
what waits, queued or in the commit under way, reaches ``max_backlog_bytes`` (captures, blobs, pieces and
``RECORD_BYTES`` a record) or ``max_backlog_records``: the monitor then starts no new probe. It turns False
(one line) below half of both. Nothing queued is dropped for it.

On a fleet node the store fences each batch by the node's lease tokens
(:mod:`swarmscope.store.fleet.fencing`). A batch refused by fencing was rolled back whole; the records of
the swarms it names (whose leases this node lost) are dropped, counted in ``fenced`` and reported in one
line, ``on_fenced`` is told which swarms, and the rest is committed in the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.capture.recording import Capture
from swarmscope.evidence.seal import SealedBatch, batch_bytes
from swarmscope.net.clock import Clock
from swarmscope.net.tsa_client import request_token
from swarmscope.store.fleet.fencing import FencingRefused, record_swarms
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.store.ports import EvidenceLedger

Warn = Callable[[str], None]
Committed = Callable[[SealedBatch], None]
Fenced = Callable[[Mapping[str, int | None]], None]  # swarm lost -> the token refused (None: none)
STOP_ATTEMPTS = 5  # commits tried after stop before the writer gives up and says how much was lost
MAX_BACKLOG_BYTES = 256 * 1024 * 1024  # queued bytes (captures, blobs, pieces, records) that pause probing
MAX_BACKLOG_RECORDS = 50_000  # queued records that pause probing (ten default early-commit batches)
RECORD_BYTES = 1024  # what one queued record counts for (an observation row is ≈ 800 B)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """A failed commit: its records (the head of the queue), how many reference pieces, its seal time."""

    records: list[EvidenceRecord]
    pieces: int
    sealed_at_us: int


class LedgerWriter:
    """Queues evidence and commits it in sealed batches from a worker thread (one writer, as SQLite wants).

    Args:
        store: the evidence ledger (a Store opened with a node key, ``store.ports.EvidenceLedger``).
        run_id: the monitor run.
        clock: the evidence clock (``sealed_at_us``). flush_interval: seconds between commits.
        flush_rows: pending records that trigger an early commit. latest_clock: the latest NTP measurement
        as a flat dict sealed with each batch (``net.ntp_clock.ClockWatch.latest``), or None; the host's
        boot clock (``Clock.boot_stamp``, :mod:`swarmscope.evidence.boot_clock`) is sealed beside it.
        tsa_url: RFC 3161 authority, or None. on_warning: messages. on_committed: called with each sealed
        batch after its transaction's COMMIT returned (the acknowledgement: its entries are durable).
        on_fenced: called with the swarms (infohash hex) whose records fencing refused (a fleet node).
        monotonic: seconds on a monotonic clock, for the age of the queue (:meth:`waiting_seconds`).
        max_backlog_bytes, max_backlog_records: the backlog bound (:meth:`backlog_full`).
    """

    def __init__(
        self,
        store: EvidenceLedger,
        run_id: int,
        clock: Clock,
        *,
        flush_interval: float = 0.5,
        flush_rows: int = 5000,
        latest_clock: Callable[[], dict[str, Any] | None] = lambda: None,
        tsa_url: str | None = None,
        on_warning: Warn = lambda _msg: None,
        on_committed: Committed = lambda _sealed: None,
        on_fenced: Fenced = lambda _swarms: None,
        monotonic: Callable[[], float] = time.monotonic,
        max_backlog_bytes: int = MAX_BACKLOG_BYTES,
        max_backlog_records: int = MAX_BACKLOG_RECORDS,
    ) -> None:
        self.store, self.run_id, self.clock = store, run_id, clock
        self.fenced = 0  # records dropped because fencing refused their swarm (its lease was lost)
        self.flush_interval, self.flush_rows = flush_interval, flush_rows
        self.latest_clock, self.tsa_url, self.on_warning = latest_clock, tsa_url, on_warning
        self.on_committed, self.on_fenced = on_committed, on_fenced
        self._records: list[EvidenceRecord] = []
        self._captures: dict[bytes, bytes] = {}
        self._blobs: dict[bytes, bytes] = {}
        self._pieces: list[tuple[str, int, bytes]] = []
        self._bytes = 0  # bytes of the queued captures, blobs and pieces (backlog())
        self._flush_now, self._stop = asyncio.Event(), asyncio.Event()
        self._stamping: set[asyncio.Task[None]] = set()
        self.batches = self.committed = 0
        self.commit_seconds_last = 0.0  # wall-clock duration of the last successful batch commit
        self.commit_seconds_total = 0.0  # ... of every successful batch commit of the run
        self.lost = 0  # records that could not be committed after stop (reported, never silent)
        self.replaced: NodeReplaced | None = None  # a newer process under this fleet node's name: final
        self._stop_attempts = self._failures = 0  # _failures: failed commits since the last success
        self._failing_since = 0.0  # time.monotonic() of the first of them
        self._in_doubt: _Attempt | None = None  # the last failed commit (it may have landed all the same)
        self._monotonic = monotonic
        self._queued_since: float | None = None  # monotonic() of the oldest queued record's add
        self._flushing_since: float | None = None  # ... of the oldest record of the commit under way
        self.max_backlog_bytes, self.max_backlog_records = max_backlog_bytes, max_backlog_records
        self._flushing: tuple[int, int] = (0, 0)  # (records, bytes) of the commit under way
        self._paused = False  # backlog_full() said True and the backlog has not drained to half since
        self._committing: set[str] = set()  # the swarms of the commit under way (pending_swarms())

    # --- producers (event loop thread) -----------------------------------------------------------------

    def add(self, record: EvidenceRecord, capture: Capture | None = None) -> None:
        """Queue one record, with the wire capture it references (and the blobs the capture lifts out)."""
        self._records.append(record)
        if self._queued_since is None:
            self._queued_since = self._monotonic()
        if capture is not None:
            self._hold({capture.sha256: capture.data}, capture.blobs)
        if len(self._records) >= self.flush_rows:
            self._flush_now.set()

    def add_capture(self, capture: Capture) -> None:
        """Queue a finished wire capture (it commits with or before the observation that names it)."""
        self._hold({capture.sha256: capture.data}, capture.blobs)

    def add_blobs(self, blobs: dict[bytes, bytes]) -> None:
        """Queue payload blocks (SHA-256 → bytes) an observation names; they commit with it or before it."""
        self._hold({}, blobs)

    def _hold(self, captures: dict[bytes, bytes], blobs: dict[bytes, bytes]) -> None:
        """Queue captures and blobs by SHA-256, counting the bytes of those not queued yet."""
        self._bytes += sum(len(v) for k, v in captures.items() if k not in self._captures)
        self._bytes += sum(len(v) for k, v in blobs.items() if k not in self._blobs)
        self._captures.update(captures)
        self._blobs.update(blobs)

    def add_reference_piece(self, infohash: str, piece: int, data: bytes) -> None:
        """Queue a whole piece verified against the metainfo that backs block proofs."""
        self._pieces.append((infohash, piece, data))
        self._bytes += len(data)

    @property
    def pending(self) -> int:
        """Records queued and not yet committed."""
        return len(self._records)

    def backlog(self) -> tuple[int, int]:
        """(records, bytes) waiting: queued, plus the commit under way (it is requeued if it fails)."""
        records, size = self._flushing
        return records + len(self._records), size + self._bytes + RECORD_BYTES * len(self._records)

    def backlog_full(self) -> bool:
        """True from when the backlog reaches a bound until it drains below half of both (one line each)."""
        records, size = self.backlog()
        if not self._paused and (records >= self.max_backlog_records or size >= self.max_backlog_bytes):
            self._paused = True
            mib, bound = size / 2**20, self.max_backlog_bytes / 2**20
            self.on_warning(
                f"evidence backlog full ({records} records, {mib:.1f} MiB not committed; bounds "
                f"{self.max_backlog_records} records, {bound:.0f} MiB): no new probe starts until the store "
                "takes them"
            )
        elif self._paused and 2 * records < self.max_backlog_records and 2 * size < self.max_backlog_bytes:
            self._paused = False
            self.on_warning(
                f"evidence backlog down to {records} records, {size / 2**20:.1f} MiB: probing resumes"
            )
        return self._paused

    def pending_swarms(self) -> set[str]:
        """The swarms (infohash hex) whose records are queued or in the commit under way."""
        return record_swarms(self._records) | self._committing

    def waiting_seconds(self) -> float:
        """Seconds the oldest record not committed yet has waited since it was queued (queued, or in a
        commit under way; 0.0 when nothing is pending): the writer's lag, whatever the commit pace."""
        since = [t for t in (self._flushing_since, self._queued_since) if t is not None]
        return max(0.0, self._monotonic() - min(since)) if since else 0.0

    def _forget_age_if_empty(self) -> None:
        if not self._records:
            self._queued_since = None

    # --- the writer task ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Commit every ``flush_interval`` until :meth:`stop`; then commit what is left and return."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self.flush()
            if self.replaced is not None:  # final: a newer process writes under this name now
                break
            if self._stop.is_set() and not self._records and not self._pieces:
                break
            if self._stop.is_set():
                self._stop_attempts += 1
                if self._stop_attempts >= STOP_ATTEMPTS:
                    self.lost = len(self._records)
                    self.on_warning(
                        f"{self.lost} records and {len(self._pieces)} reference pieces NOT committed after "
                        f"{STOP_ATTEMPTS} attempts"
                    )
                    break
                self._flush_now.set()
        if self._stamping:
            await asyncio.gather(*self._stamping, return_exceptions=True)

    def stop(self) -> None:
        """Ask the writer to commit everything pending and return (never cancelled mid-commit)."""
        self._stop.set()
        self._flush_now.set()

    async def flush(self) -> None:
        """Commit and seal what is queued; on failure everything stays queued for the next attempt.

        After a failed commit, the next round first asks the store whether it committed after all (an
        in-doubt commit: ``Store.committed_batch``); its records are committed again only when it did not.
        """
        if self._in_doubt is not None and not await self._settle_in_doubt():
            return
        if not self._records and not self._pieces:
            return
        records, captures, blobs, pieces = self._records, self._captures, self._blobs, self._pieces
        self._flushing = (len(records), self._bytes + RECORD_BYTES * len(records))
        self._committing = record_swarms(records)
        self._records, self._captures, self._blobs, self._pieces, self._bytes = [], {}, {}, [], 0
        self._flushing_since, self._queued_since = self._queued_since, None
        try:
            await self._commit(records, captures, blobs, pieces)
        finally:
            self._flushing_since, self._flushing, self._committing = None, (0, 0), set()
            self._forget_age_if_empty()

    async def _commit(
        self,
        records: list[EvidenceRecord],
        captures: dict[bytes, bytes],
        blobs: dict[bytes, bytes],
        pieces: list[tuple[str, int, bytes]],
    ) -> None:
        """One sealed commit of what :meth:`flush` took from the queue; put back on failure."""
        sealed_at_us = self.clock.now_us()
        boot = self.clock.boot_stamp()  # right after the wall clock: a later step shows against it
        clock = self.latest_clock()
        if boot is not None:
            clock = {**(clock or {}), **boot}
        began = time.perf_counter()
        try:
            sealed = await asyncio.to_thread(
                self.store.commit_evidence,
                self.run_id,
                records=records,
                captures=captures,
                blobs=blobs,
                reference_pieces=pieces,
                sealed_at_us=sealed_at_us,
                clock=clock,
            )
        except FencingRefused as exc:  # rolled back whole: drop the lost swarms' records, keep the rest
            self._requeue(records, captures, blobs, pieces)
            self._fenced_out(exc)
            return
        except NodeReplaced as exc:  # final, never retried: nothing more may be written under this name
            self.replaced = exc
            dropped = len(records) + self.discard_all()
            self.on_warning(f"{exc}; {dropped} queued records discarded")
            return
        except Exception as exc:  # the database refused: keep everything, say so once, retry next round
            self._requeue(records, captures, blobs, pieces)
            self._in_doubt = _Attempt(records, len(pieces), sealed_at_us) if records else None
            self._failed(exc, len(records))
            await asyncio.sleep(min(self.flush_interval, 1.0))
            return
        self.commit_seconds_last = time.perf_counter() - began
        self.commit_seconds_total += self.commit_seconds_last
        self._committed(sealed, len(records))

    def _requeue(
        self,
        records: list[EvidenceRecord],
        captures: dict[bytes, bytes],
        blobs: dict[bytes, bytes],
        pieces: list[tuple[str, int, bytes]],
    ) -> None:
        """Put a batch that was not committed back at the head of the queue (with its age)."""
        ages = [t for t in (self._flushing_since, self._queued_since) if t is not None]
        self._queued_since = min(ages) if ages else None
        self._flushing = (0, 0)  # counted in the queue again
        self._records[:0], self._pieces[:0] = records, pieces
        self._hold(captures, blobs)
        self._bytes += sum(len(piece[2]) for piece in pieces)

    def drop_swarms(self, swarms: frozenset[str]) -> int:
        """Drop the queued records of ``swarms`` (their lease is lost); returns how many (counted in
        ``fenced``). A commit already running is not touched: the database fences it."""
        kept = [r for r in self._records if not record_swarms([r]) & swarms]
        dropped, self._records = len(self._records) - len(kept), kept
        self._forget_age_if_empty()
        self.fenced += dropped
        return dropped

    def discard_all(self) -> int:
        """Drop everything queued (a fleet node replaced by a newer process under its name may write
        nothing more); returns how many records. A commit already running is refused by the database."""
        dropped = len(self._records)
        self._records, self._captures, self._blobs, self._pieces, self._bytes = [], {}, {}, [], 0
        self._forget_age_if_empty()
        return dropped

    def _fenced_out(self, exc: FencingRefused) -> None:
        """Drop the queued records of the swarms fencing refused; one line; tell ``on_fenced``."""
        dropped = self.drop_swarms(exc.swarms)
        lost = f"{dropped} records of {', '.join(sorted(exc.swarms))} dropped: their lease is no longer ours"
        self.on_warning(f"{exc}; {lost if exc.swarms else 'its records retry under the current tokens'}")
        self.on_fenced(exc.refused())

    async def _settle_in_doubt(self) -> bool:
        """Ask whether the last failed commit landed; False while the store cannot answer.

        Landed: its records (the head of the queue) are dropped from the queue and acknowledged.
        """
        attempt = self._in_doubt
        assert attempt is not None
        try:
            sealed = await asyncio.to_thread(
                self.store.committed_batch, attempt.records, attempt.sealed_at_us
            )
        except Exception as exc:  # still unreachable: the same outage, retried next round
            self._failed(exc, len(self._records))
            await asyncio.sleep(min(self.flush_interval, 1.0))
            return False
        self._in_doubt = None
        if sealed is not None:
            del self._records[: len(attempt.records)]
            self._bytes -= sum(len(piece[2]) for piece in self._pieces[: attempt.pieces])
            del self._pieces[: attempt.pieces]
            self._forget_age_if_empty()
            self._committed(sealed, len(attempt.records))
        return True

    def _committed(self, sealed: SealedBatch | None, count: int) -> None:
        """Count a committed batch, end an outage (one line), acknowledge it, ask for its time-stamp."""
        self.batches, self.committed = self.batches + 1, self.committed + count
        if self._failures:  # the run's total makes each outage's end a text of its own (shown once each)
            self.on_warning(
                f"evidence commits succeed again after {self._failures} failed attempts over "
                f"{time.monotonic() - self._failing_since:.1f} s; the kept records are committed "
                f"({self.committed} records committed in this run)"
            )
            self._failures = 0
        if sealed is not None:
            self.on_committed(sealed)
        if sealed is not None and self.tsa_url:  # the token is asked for off the commit path
            task = asyncio.create_task(self._timestamp(sealed))
            self._stamping.add(task)
            task.add_done_callback(self._stamping.discard)

    def _failed(self, exc: Exception, kept: int) -> None:
        """One line when commits start failing (full disk, database restart...), none per retry."""
        if not self._failures:
            self._failing_since = time.monotonic()
            self.on_warning(
                f"evidence commit failed after {self.committed} records committed in this run: {exc}; "
                f"{kept} records kept, retrying every {min(self.flush_interval, 1.0):g} s until the store "
                "takes them"
            )
        self._failures += 1

    async def _timestamp(self, sealed: SealedBatch) -> None:
        """Ask the RFC 3161 authority for a token over SHA-256 of the sealed batch bytes; store it."""
        assert self.tsa_url is not None
        digest = hashlib.sha256(batch_bytes(sealed.batch)).digest()
        try:
            token = await request_token(self.tsa_url, digest, nonce=secrets.randbits(63))
            await asyncio.to_thread(
                self.store.add_timestamp_token, sealed, self.tsa_url, token, self.clock.now_us()
            )
        except Exception as exc:  # the authority is optional: report, go on
            self.on_warning(f"RFC 3161 time-stamp for batch {sealed.batch.last_index} failed: {exc}")
