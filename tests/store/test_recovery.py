"""Crash safety: SIGKILL at random moments loses no committed batch; half-written states are handled."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.chain import ChainEntry, append
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.entries import load_batches, load_ledger
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.schema import ledger_entry, observation
from swarmscope.store.ledger.verify import verify_ledger
from tests.store.factories import T0
from tests.store.factories import observation as make_observation

ROOT = Path(__file__).resolve().parents[2]
KILLS = 15


def _read_lines(stream: object, out: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        out.append(line)


def _run_and_kill(db: Path, delay: float, *, after_first: bool) -> tuple[list[str], bool]:
    """Start the commit loop, SIGKILL it after ``delay`` s (or let it finish), return its complete lines.

    ``after_first``: the delay counts from the child's first reported commit (at most 60 s of waiting),
    so the kill lands mid-write however slowly a loaded machine starts Python; otherwise from its start
    (a kill during start-up or the first commit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.commit_loop", str(db), "2000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        for _ in range(600 if after_first else 0):  # bounded: 60 s
            if lines or proc.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=30)
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), err
    return [line for line in lines if line.endswith("\n")], proc.returncode == -signal.SIGKILL


def test_sigkill_at_random_moments_loses_no_committed_batch(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(4)
    reported: dict[int, str] = {}
    killed = 0
    for kill in range(KILLS):
        lines, was_killed = _run_and_kill(db, rng.uniform(0.0, 1.5), after_first=kill % 3 != 0)
        killed += was_killed
        for line in lines:
            index, head = line.split()
            reported[int(index)] = head
        with open_store(str(db)) as reader:  # a reader (no key): may find the file not created yet
            stored = {b.sealed.batch.last_index: b.sealed.batch.head_hash.hex() for b in load_batches(reader)}
            assert reported.items() <= stored.items()  # every batch reported committed is there, unchanged
            verdict = verify_ledger(reader)
            assert verdict.ok, verdict.problems
    assert reported, "the child never committed: kill delays too short for this machine"
    assert killed == KILLS, "the child finished before its kill: raise MAX_BATCHES"
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:  # writing resumes
        assert store.recovery is not None and store.recovery.clean
        last = max(b.sealed.batch.last_index for b in load_batches(store))
        run = store.start_run({}, "test", T0)
        sealed = store.commit_evidence(run, records=[make_observation()], sealed_at_us=T0)
        assert sealed is not None and sealed.batch.first_index == last + 1 > max(reported)
        assert verify_ledger(store).ok


def _orphans(store: Store, run_id: int, count: int, *, break_link: bool = False) -> tuple[int, int]:
    """Write chain entries and their rows WITHOUT a seal, as a half-written batch would leave them."""
    assert store.node is not None
    node = store.node
    with store.engine.begin() as conn:
        r = conn.execute(
            sa.select(ledger_entry)
            .where(ledger_entry.c.node_id == node.id)
            .order_by(ledger_entry.c.idx.desc())
        ).first()
        prev = None if r is None else ChainEntry(r.idx, r.record_hash, r.prev_hash, r.entry_hash)
        records = [make_observation(port=9000 + i) for i in range(count)]
        entries = []
        for rec in records:
            prev = append(prev, canonical_bytes(rec))
            entries.append(prev)
        if break_link:
            e = entries[-1]
            entries[-1] = ChainEntry(e.index, e.record_hash, bytes(32), e.entry_hash)
        rows = [
            (
                node.id,
                e.index,
                "observation",
                e.record_hash,
                e.prev_hash,
                e.entry_hash,
                canonical_bytes(rec),
                None,
                None,  # redacted_rule (migration 0004)
                None,  # redacted_us
            )
            for e, rec in zip(entries, records, strict=True)
        ]
        writer.insert_many(conn, ledger_entry, rows)
        writer.insert_records(conn, run_id, records, [(node.id, e.index) for e in entries])
    return entries[0].index, entries[-1].index


def test_unsealed_entries_are_sealed_in_a_flagged_recovered_batch(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    store.add_observations(run_id, [make_observation()], sealed_at_us=T0)
    span = _orphans(store, run_id, 3)
    assert not verify_ledger(store).ok  # an unsealed tail is a problem until handled
    with pytest.raises(StoreError, match="run recovery first"):
        store.add_observations(run_id, [make_observation()], sealed_at_us=T0)
    with open_store(str(db_path), node_key=node_key, now_us=T0 + 99) as again:
        report = again.recovery
        assert report is not None and not report.clean
        assert report.recovered_batch == span == (1, 3)
        recovered = [b for b in load_batches(again) if b.recovered]
        assert len(recovered) == 1 and recovered[0].sealed.batch.sealed_at_us == T0 + 99
        assert "found without a seal" in (recovered[0].recovered_detail or "")
        assert verify_ledger(again).ok
        again.add_observations(run_id, [make_observation()], sealed_at_us=T0 + 100)
        assert [e.index for e, _k, _c in load_ledger(again)] == [0, 1, 2, 3, 4]
        assert verify_ledger(again).ok
    with open_store(str(db_path), node_key=node_key, now_us=T0) as third:
        assert third.recovery is not None and third.recovery.clean


def test_unsealed_entries_that_do_not_chain_are_refused(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    store.add_observations(run_id, [make_observation()], sealed_at_us=T0)
    _orphans(store, run_id, 2, break_link=True)
    with pytest.raises(StoreError, match=r"ledger damaged: unsealed entries .* do not chain"):
        open_store(str(db_path), node_key=node_key, now_us=T0)
    assert len(load_batches(store)) == 1  # nothing was sealed


def test_a_damaged_last_batch_is_refused(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    store.add_observations(run_id, [make_observation(), make_observation(port=2)], sealed_at_us=T0)
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TRIGGER ledger_batch_append_only_update")
        raw.execute("UPDATE ledger_batch SET signature = zeroblob(64)")
    raw.close()
    with pytest.raises(StoreError, match="signature does not verify"):
        open_store(str(db_path), node_key=node_key, now_us=T0)


def test_rows_without_ledger_entries_are_quarantined_once(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    store.add_observations(run_id, [make_observation()], sealed_at_us=T0)
    with store.engine.begin() as conn:  # a pre-0002 style row: no ledger link
        writer.insert_many(
            conn, observation, [writer.observation_row(run_id, make_observation(port=7), (None, None))]
        )
    with open_store(str(db_path), node_key=node_key, now_us=T0 + 5) as again:
        assert again.recovery is not None and again.recovery.quarantined == {"observation": 1}
        with again.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT table_name, row_id, detected_us FROM quarantined_row")).all()
        assert [tuple(r) for r in rows] == [("observation", 2, T0 + 5)]
        assert verify_ledger(again).ok  # the sealed ledger itself is intact
    with open_store(str(db_path), node_key=node_key, now_us=T0) as third:
        assert third.recovery is not None and third.recovery.clean
