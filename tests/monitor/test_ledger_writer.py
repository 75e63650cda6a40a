"""The evidence writer when the store fails: one line per outage, the acknowledgement, in-doubt commits.

A store that refuses commits for a while (a full disk, a PostgreSQL restart) must cost one warning when
the failures start and one when commits succeed again, never one per retry, and lose nothing. A commit
whose COMMIT reached the database but whose answer was lost (the connection cut right after it: the
classic in-doubt commit) must not be committed a second time by the retry. ``on_committed`` is called
once per batch, only after its commit returned.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.seal import SealedBatch
from swarmscope.monitor.ledger_writer import LedgerWriter
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.fleet.fencing import FencingRefused
from swarmscope.store.ledger.entries import load_batches, load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from tests.store.factories import SWARM_A, observation, sighting

SWARM_C = "cc" * 20

RECORDS = 6


class FailingStore:
    """A real store whose first ``fail`` commits raise; with ``landed`` each failing commit lands first."""

    def __init__(self, store: Store, fail: int, landed: bool) -> None:
        self.store, self.fail, self.landed, self.calls = store, fail, landed, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_evidence(self, *args: Any, **kw: Any) -> SealedBatch | None:
        self.calls += 1
        if self.calls > self.fail:
            return self.store.commit_evidence(*args, **kw)
        if self.landed:
            self.store.commit_evidence(*args, **kw)
            raise StoreError("write refused: server closed the connection unexpectedly")
        raise StoreError("write refused: database or disk is full")


def _run(tmp_path: Path, fail: int, landed: bool) -> tuple[Store, list[str], list[SealedBatch]]:
    store = open_store(str(tmp_path / "writer.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)
    store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
    failing = FailingStore(store, fail, landed)
    warnings: list[str] = []
    acks: list[SealedBatch] = []

    async def run() -> None:
        writer = LedgerWriter(
            failing,
            run_id,
            Clock(),
            flush_interval=0.01,
            on_warning=warnings.append,
            on_committed=acks.append,
        )
        task = asyncio.create_task(writer.run())
        for i in range(RECORDS):
            writer.add(observation(port=7000 + i))
            await asyncio.sleep(0.02)  # several flush rounds, each failing until ``fail`` is used up
        writer.stop()
        await asyncio.wait_for(task, 10)
        assert writer.committed == RECORDS and writer.lost == 0

    asyncio.run(run())
    return store, warnings, acks


def _stored_once(store: Store, acks: list[SealedBatch]) -> None:
    entries = list(load_ledger(store))
    hashes = [e.record_hash for e, _kind, _canonical in entries]
    assert len(hashes) == RECORDS == len(set(hashes)), "every record stored exactly once"
    batches = {(b.sealed.batch.first_index, b.sealed.batch.last_index) for b in load_batches(store)}
    assert {(a.batch.first_index, a.batch.last_index) for a in acks} == batches
    assert verify_ledger(store).ok


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(tmp_path: Path) -> None:
    store, warnings, acks = _run(tmp_path, fail=4, landed=False)
    try:
        assert len(warnings) == 2, warnings
        assert warnings[0].startswith("evidence commit failed after 0 records committed in this run: ")
        assert "database or disk is full" in warnings[0]
        assert warnings[1].startswith("evidence commits succeed again after 4 failed attempts over ")
        _stored_once(store, acks)
    finally:
        store.close()


def test_a_commit_that_landed_before_its_error_is_not_committed_twice(tmp_path: Path) -> None:
    store, warnings, acks = _run(tmp_path, fail=1, landed=True)
    try:
        _stored_once(store, acks)
        assert len(warnings) == 2, warnings
    finally:
        store.close()


class TwoOutagesStore(FailingStore):
    """A real store whose 1st and 3rd commits raise: two outages of one failed attempt each."""

    def commit_evidence(self, *args: Any, **kw: Any) -> SealedBatch | None:
        self.calls += 1
        if self.calls in (1, 3):
            raise StoreError("write refused: server closed the connection unexpectedly")
        return self.store.commit_evidence(*args, **kw)


def test_each_outage_ends_in_a_line_of_its_own(tmp_path: Path) -> None:
    """Two outages alike (one failed attempt, the same duration) end in two different lines: the monitor's
    console prints a warning text once (cli/monitor.py ``_warn_once``), so an end worded like the last
    one was never shown (a PostgreSQL restarted three times showed two ends)."""
    store = open_store(str(tmp_path / "writer.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)
    store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
    warnings: list[str] = []

    async def run() -> None:
        writer = LedgerWriter(TwoOutagesStore(store, 0, False), run_id, Clock(), flush_interval=0.01,
                              on_warning=warnings.append)  # fmt: skip
        task = asyncio.create_task(writer.run())
        for i in range(RECORDS):
            writer.add(observation(port=7000 + i))
            await asyncio.sleep(0.05)
        writer.stop()
        await asyncio.wait_for(task, 10)

    try:
        asyncio.run(run())
        ends = [w for w in warnings if w.startswith("evidence commits succeed again")]
        assert len(ends) == 2 and ends[0] != ends[1], warnings
    finally:
        store.close()


class FencingStore:
    """A real store that refuses, once, every batch holding a record of ``lost`` (a lease taken over)."""

    def __init__(self, store: Store, lost: str) -> None:
        self.store, self.lost, self.refused = store, lost, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_evidence(self, run_id: int, *, records: Any, **kw: Any) -> SealedBatch | None:
        if any(getattr(r, "infohash", None) == self.lost for r in records):
            self.refused += 1
            raise FencingRefused(frozenset({self.lost}), "fencing: lease token 7 of swarm expired")
        return self.store.commit_evidence(run_id, records=records, **kw)


def test_records_of_a_fenced_swarm_are_dropped_and_the_rest_is_committed(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "writer.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)
    for swarm in (SWARM_A, SWARM_C):
        store.add_swarm(swarm, swarm, None, "a", 4, 16384, 65536, None, None, 1)
    fencing = FencingStore(store, SWARM_C)
    warnings: list[str] = []
    told: list[Mapping[str, int | None]] = []

    async def run() -> LedgerWriter:
        writer = LedgerWriter(
            fencing, run_id, Clock(), flush_interval=0.01, on_warning=warnings.append, on_fenced=told.append
        )
        task = asyncio.create_task(writer.run())
        writer.add(observation(port=7000))
        writer.add(observation(port=7001, infohash=SWARM_C))
        writer.add(sighting(port=7002, infohash=SWARM_C))
        writer.stop()
        await asyncio.wait_for(task, 10)
        return writer

    try:
        writer = asyncio.run(run())
        assert (writer.committed, writer.fenced, writer.lost, fencing.refused) == (1, 2, 0, 1)
        assert told == [{SWARM_C: None}]  # the refusal named no token (this fake store's)
        assert len(warnings) == 1 and "2 records of " + SWARM_C + " dropped" in warnings[0]
        assert [kind for _e, kind, _c in load_ledger(store)] == ["observation"]
    finally:
        store.close()


def test_dropping_a_lost_swarm_discards_only_its_queued_records() -> None:
    async def run() -> LedgerWriter:
        writer = LedgerWriter(FencingStore(None, SWARM_C), 1, Clock())  # type: ignore[arg-type]
        writer.add(observation(port=7000))
        writer.add(sighting(port=7001, infohash=SWARM_C))
        writer.add(observation(port=7002, infohash=SWARM_C))
        assert writer.drop_swarms(frozenset({SWARM_C})) == 2
        return writer

    writer = asyncio.run(run())
    assert (writer.pending, writer.fenced) == (1, 2)


class RefusingStore:
    """Refuses every commit while ``refuse`` (nothing lands); then commits nothing, successfully."""

    def __init__(self) -> None:
        self.refuse = True

    def commit_evidence(self, *args: Any, **kw: Any) -> SealedBatch | None:
        if self.refuse:
            raise StoreError("write refused: database or disk is full")
        return None

    def committed_batch(self, *args: Any) -> SealedBatch | None:
        return None


def test_the_writer_lag_is_the_age_of_its_oldest_uncommitted_record() -> None:
    now = [10.0]
    store = RefusingStore()

    async def run() -> list[float]:
        ledger: Any = store
        writer = LedgerWriter(ledger, 1, Clock(), flush_interval=0.01, monotonic=lambda: now[0])
        seen = [writer.waiting_seconds()]  # idle: nothing pending, no lag however long ago it wrote
        writer.add(observation(port=7000))
        now[0] = 13.0
        seen.append(writer.waiting_seconds())
        await writer.flush()  # refused: the record stays queued with its age
        now[0] = 20.0
        writer.add(observation(port=7001))
        seen.append(writer.waiting_seconds())  # the oldest record counts
        store.refuse = False
        await writer.flush()  # the failed commit did not land (asked first), then committed
        seen.append(writer.waiting_seconds())
        writer.add(observation(port=7002))
        now[0] = 21.5
        seen.append(writer.waiting_seconds())
        return seen

    assert asyncio.run(run()) == [0.0, 3.0, 10.0, 0.0, 1.5]


class DownStore:
    """A real store that refuses every commit while ``down`` is set (a full disk, a server away)."""

    def __init__(self, store: Store) -> None:
        self.store, self.down = store, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_evidence(self, *args: Any, **kw: Any) -> SealedBatch | None:
        if self.down:
            raise StoreError("write refused: database or disk is full")
        return self.store.commit_evidence(*args, **kw)


def test_the_backlog_is_bounded_while_the_store_refuses_and_nothing_is_lost(tmp_path: Path) -> None:
    """Records and bytes waiting (queued or in a failing commit) reach a bound: ``backlog_full`` says so in
    one line and stays True until the store takes them and the backlog is below half; all are committed."""
    store = open_store(str(tmp_path / "writer.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)
    store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
    down = DownStore(store)
    warnings: list[str] = []

    async def run() -> list[bool]:
        writer = LedgerWriter(down, run_id, Clock(), flush_interval=0.01, on_warning=warnings.append,
                              max_backlog_records=20, max_backlog_bytes=1 << 20)  # fmt: skip
        task = asyncio.create_task(writer.run())
        full = []
        for i in range(30):
            writer.add(observation(port=7000 + i))
            await asyncio.sleep(0.01)  # failing flush rounds in between: the failing batch still counts
            full.append(writer.backlog_full())
        assert writer.backlog()[0] == 30 and writer.committed == 0
        down.down = False
        for _ in range(500):
            await asyncio.sleep(0.01)
            if writer.committed == 30:
                break
        full.append(writer.backlog_full())
        blocks = [bytes([i]) * 65_536 for i in range(16)]  # 1 MiB of payload blocks
        writer.add_blobs({hashlib.sha256(b).digest(): b for b in blocks})
        full.append(writer.backlog_full())
        writer.add(observation(port=8000))  # the blobs commit with the record that names them
        writer.stop()
        await asyncio.wait_for(task, 10)
        full.append(writer.backlog_full())
        assert writer.committed == 31 and writer.lost == 0, warnings
        return full

    try:
        full = asyncio.run(run())
        assert full[:19] == [False] * 19 and full[19:30] == [True] * 11, full
        assert full[30:] == [False, True, False], full
        lines = [w for w in warnings if "backlog" in w]
        assert len(lines) == 4, lines
        assert (
            lines[0].startswith("evidence backlog full (20 records, ") and "no new probe starts" in lines[0]
        )
        assert lines[1] == "evidence backlog down to 0 records, 0.0 MiB: probing resumes"
        assert lines[2].startswith("evidence backlog full (0 records, 1.0 MiB not committed")
        assert len(list(load_ledger(store))) == 31 and verify_ledger(store).ok
    finally:
        store.close()
