"""The evidence writer chains and seals the canonical bytes it decoded strictly, without encoding them again.

``record_from_canonical`` decodes each record of a commit frame, re-encodes it and compares: the bytes are
then proven to be the record's canonical bytes, and the store chains those (``Store.commit_batch``,
``Commit.canonical``). What must stay: the stored entries are exactly the frame's bytes and the rows
exactly the decoded records, the ledger verifies, a frame whose bytes are not canonical is refused with
nothing committed, and a count of bytes that does not match the records is refused by the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.writer_main import answer
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger import commit as ledger_commit
from swarmscope.store.ledger.commit import Commit
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.wire.bencode import decode, encode
from tests.store.factories import SWARM_A, full_observation, observation, sighting


def _store(tmp_path: Path) -> tuple[Store, int]:
    store = open_store(str(tmp_path / "w.db"), node_key=Ed25519PrivateKey.generate())
    run_id = store.start_run({}, "0.1.0", 1)
    store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
    return store, run_id


def _refuse_encoding(record: object) -> bytes:
    raise AssertionError("the store encoded a record the writer had proven bytes for")


def test_the_writer_chains_the_proven_frame_bytes_and_does_not_encode_the_records_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = _store(tmp_path)
    try:
        records = [sighting(), full_observation(), observation(port=7001)]
        body = frames.commit_request(run_id, records, {}, {}, [], 5, None)
        monkeypatch.setattr(ledger_commit, "canonical_bytes", _refuse_encoding)
        sealed = frames.read_reply(answer(store, body))
        monkeypatch.undo()
        assert sealed is not None and sealed.batch.last_index - sealed.batch.first_index == 2
        stored = [canonical for _entry, _kind, canonical in load_ledger(store)]
        assert stored == decode(body)[b"records"] == [canonical_bytes(r) for r in records]
        assert verify_ledger(store).ok
    finally:
        store.close()


def test_a_frame_whose_bytes_are_not_canonical_is_still_refused_and_nothing_is_committed(
    tmp_path: Path,
) -> None:
    store, run_id = _store(tmp_path)
    try:
        records = [sighting(), observation(completion=0.5)]
        raw = decode(frames.commit_request(run_id, records, {}, {}, [], 5, None))
        good = raw[b"records"][1]
        # a port spelled as text: the compiled decoder does not take it, the checked one names the field
        raw[b"records"][1] = good.replace(b"4:portl1:ii6881ee", b"4:portl1:s4:6881e")
        with pytest.raises(frames.WriterRefused, match=r"observation\.port: tag b's' not allowed"):
            frames.read_reply(answer(store, encode(raw)))
        raw[b"records"][1] = good.replace(b"l1:f3:0.5e", b"l1:f4:0.50e")  # a float not in shortest form
        assert raw[b"records"][1] != good
        with pytest.raises(frames.WriterRefused, match="completion: float is not in shortest form"):
            frames.read_reply(answer(store, encode(raw)))
        assert list(load_ledger(store)) == []
    finally:
        store.close()


def test_the_store_refuses_a_count_of_canonical_bytes_other_than_the_records(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    try:
        record = sighting()
        with pytest.raises(StoreError, match="1 canonical encodings for 2 records"):
            store.commit_batch(
                run_id, [record, record], Commit({}, {}, (), 5, None, [canonical_bytes(record)])
            )
        assert list(load_ledger(store)) == []
    finally:
        store.close()
