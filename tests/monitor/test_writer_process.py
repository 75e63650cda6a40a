"""The evidence writer in its own process: frames of canonical bytes, sealed commits, a child killed -9.

The child (``python -m swarmscope.monitor.writer_main``) runs for real against an SQLite store: what it
commits must be exactly the records the monitor handed over (decoded strictly from their canonical bytes),
sealed by the node key, and the ledger must verify. A child killed with SIGKILL between or during commits
costs nothing: the ``LedgerWriter`` keeps the batch, the next child answers whether it landed, and every
record ends up stored exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.seal import SealedBatch, private_key_pem, verify_seal
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.ledger_writer import LedgerWriter
from swarmscope.monitor.writer_main import answer, read_frame, serve
from swarmscope.monitor.writer_process import WriterProcess, WriterProcessError
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.wire.bencode import decode, encode
from tests.store.factories import SWARM_A, full_observation, observation, sighting


def _store(tmp_path: Path) -> tuple[Store, Ed25519PrivateKey, int]:
    key = Ed25519PrivateKey.generate()
    store = open_store(str(tmp_path / "w.db"), node_key=key)
    run_id = store.start_run({}, "0.1.0", 1)
    store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
    return store, key, run_id


def _stored(store: Store) -> list[bytes]:
    return [canonical for _entry, _kind, canonical in load_ledger(store)]


async def _until(done: Callable[[], bool], seconds: float = 60.0) -> None:
    """Poll ``done`` every 10 ms; fail after ``seconds`` (a bound, not a speed)."""
    for _ in range(int(seconds * 100)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_commit_request_carries_records_as_canonical_bytes_and_decodes_to_the_same_records() -> None:
    records = [sighting(), full_observation(), observation(port=7001)]
    captures = {bytes(32): b"capture"}
    clock = {"server": "127.0.0.1:123", "offset_us": -12, "delay_us": 3.5, "ok": True, "raw": b"\x00"}
    body = frames.commit_request(9, records, captures, {}, [(SWARM_A, 3, b"piece")], 1234, clock)
    op, req = frames.read_request(body)
    assert op == "commit" and req.run_id == 9 and req.sealed_at_us == 1234
    assert req.records == records and req.captures == captures and req.clock == clock
    assert req.pieces == [(SWARM_A, 3, b"piece")]
    assert decode(body)[b"records"] == [canonical_bytes(r) for r in records]


def test_bytes_that_are_not_a_records_canonical_encoding_are_refused_and_nothing_is_committed(
    tmp_path: Path,
) -> None:
    store, _key, run_id = _store(tmp_path)
    try:
        good = canonical_bytes(sighting())
        raw = decode(frames.commit_request(run_id, [sighting()], {}, {}, [], 5, None))
        raw[b"records"] = [good.replace(b"6:fields", b"6:fieldz")]  # an unknown envelope key
        reply = answer(store, encode(raw))
        with pytest.raises(frames.WriterRefused, match="canonical"):
            frames.read_reply(reply)
        assert _stored(store) == []
        with pytest.raises(DecodeError):
            frames.read_request(encode({b"op": b"drop"}))
    finally:
        store.close()


def test_a_frame_cut_short_is_the_end_of_input_and_is_never_committed(tmp_path: Path) -> None:
    store, key, run_id = _store(tmp_path)
    store.close()
    body = frames.commit_request(run_id, [sighting()], {}, {}, [], 5, None)
    hello = frames.hello(str(tmp_path / "w.db"), private_key_pem(key), "")
    cut = frames.frame(hello) + frames.frame(body)[:-1]  # the monitor died while writing the frame
    out = io.BytesIO()
    assert serve(io.BytesIO(cut), out) == 0
    replies = out.getvalue()
    assert replies == frames.frame(frames.ok_reply()), "the hello answered, the cut frame not"
    assert read_frame(io.BytesIO(frames.HEADER.pack(3) + b"ab")) is None
    store = open_store(str(tmp_path / "w.db"), create=False)
    try:
        assert _stored(store) == []
    finally:
        store.close()


def test_the_child_commits_seals_and_the_ledger_verifies(tmp_path: Path) -> None:
    store, key, run_id = _store(tmp_path)
    writer = WriterProcess(str(tmp_path / "w.db"), key, None, store)
    try:
        writer.start()
        assert writer.pid is not None and writer.pid != os.getpid()
        first = [sighting(port=6000 + i) for i in range(3)]
        second = [observation(port=7000 + i) for i in range(2)]
        sealed = [writer.commit_evidence(run_id, records=batch, sealed_at_us=10 + n) for n, batch in
                  enumerate((first, second))]  # fmt: skip
        assert writer.commit_evidence(run_id, records=[], sealed_at_us=12) is None
    finally:
        writer.close()
    try:
        assert all(isinstance(s, SealedBatch) and verify_seal(s, s.public_key_bytes) for s in sealed)
        assert _stored(store) == [canonical_bytes(r) for r in first + second]
        assert verify_ledger(store).ok and writer.started == 1
    finally:
        store.close()


def test_a_store_the_child_cannot_open_is_one_line(tmp_path: Path) -> None:
    writer = WriterProcess(str(tmp_path / "absent.db"), Ed25519PrivateKey.generate(), None, None)  # type: ignore[arg-type]
    with pytest.raises(WriterProcessError, match="did not start: evidence writer: database not found"):
        writer.start()
    assert writer.pid is None


def test_a_child_killed_between_commits_loses_nothing_and_nothing_is_stored_twice(tmp_path: Path) -> None:
    store, key, run_id = _store(tmp_path)
    warnings: list[str] = []
    writer = WriterProcess(str(tmp_path / "w.db"), key, None, store, on_warning=warnings.append)
    acks: list[SealedBatch] = []

    async def run() -> LedgerWriter:
        ledger = LedgerWriter(writer, run_id, Clock(), flush_interval=0.05, on_warning=warnings.append,
                              on_committed=acks.append)  # fmt: skip
        task = asyncio.create_task(ledger.run())
        for i in range(6):
            ledger.add(observation(port=7000 + i))
            await _until(lambda n=i + 1: ledger.committed == n and writer.pid is not None)
            if i in (1, 3):  # SIGKILL by its PID between commits: the next one finds it dead
                assert writer.pid is not None
                os.kill(writer.pid, signal.SIGKILL)
        ledger.stop()
        await asyncio.wait_for(task, 60)
        return ledger

    try:
        ledger = asyncio.run(run())
    finally:
        writer.close()
    try:
        assert ledger.committed == 6 and ledger.lost == 0
        assert writer.started >= 2, "a new child took over"
        stored = _stored(store)
        assert len(stored) == 6 == len(set(stored))
        assert verify_ledger(store).ok
        ended = [w for w in warnings if "evidence writer process" in w and "ended with status -9" in w]
        assert len(ended) == 2, warnings
    finally:
        store.close()


def _wal(db: Path) -> int:
    try:
        return (db.parent / f"{db.name}-wal").stat().st_size
    except FileNotFoundError:
        return 0


def test_a_child_killed_during_a_commit_leaves_a_ledger_that_verifies_and_the_batch_is_committed_once(
    tmp_path: Path,
) -> None:
    store, key, run_id = _store(tmp_path)
    db = tmp_path / "w.db"
    warnings: list[str] = []
    writer = WriterProcess(str(db), key, None, store)
    blobs = {}
    for _ in range(400):  # 6.5 MB of blocks: the commit writes pages to the WAL before its COMMIT
        data = os.urandom(16384)
        blobs[hashlib.sha256(data).digest()] = data
    records = [observation(port=7000 + i) for i in range(2000)]

    async def run() -> LedgerWriter:
        ledger = LedgerWriter(writer, run_id, Clock(), flush_interval=0.05, on_warning=warnings.append)
        await asyncio.to_thread(writer.start)
        before = _wal(db)
        task = asyncio.create_task(ledger.run())
        for record in records:
            ledger.add(record)
        ledger.add_blobs(blobs)
        await _until(lambda: _wal(db) != before)  # the child is writing the batch
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        ledger.stop()
        await asyncio.wait_for(task, 120)
        return ledger

    try:
        ledger = asyncio.run(run())
    finally:
        writer.close()
    try:
        assert warnings, "the failed commit is reported"
        assert warnings[0].startswith("evidence commit failed after 0 records committed"), warnings
        assert "evidence writer process ended" in warnings[0]
        assert ledger.committed == len(records) and ledger.lost == 0
        assert sorted(_stored(store)) == sorted(canonical_bytes(r) for r in records)
        assert verify_ledger(store).ok
    finally:
        store.close()
