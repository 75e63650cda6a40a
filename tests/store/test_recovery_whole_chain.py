"""Opening a store for writing checks the WHOLE sealed chain, not only the last batch (review finding M2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, StoreError, open_store
from tests.store.factories import T0
from tests.store.factories import observation as make_observation


def _three_batches(store: Store, run_id: int) -> None:
    for n in range(3):
        batch = [make_observation(port=10 * n + 1), make_observation(port=10 * n + 2)]
        store.add_observations(run_id, batch, sealed_at_us=T0 + n)


def _raw(db_path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    raw = sqlite3.connect(db_path)
    try:
        with raw:
            for sql, args in statements:
                raw.execute(sql, args)
    finally:
        raw.close()


def _canonical(db_path: Path, index: int) -> bytes:
    raw = sqlite3.connect(db_path)
    try:
        (data,) = raw.execute("SELECT canonical FROM ledger_entry WHERE idx = ?", (index,)).fetchone()
    finally:
        raw.close()
    return bytes(data)


def test_clean_reopen_checks_every_entry(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    _three_batches(store, run_id)
    with open_store(str(db_path), node_key=node_key, now_us=T0) as again:
        assert again.recovery is not None and again.recovery.clean
        assert again.recovery.checked_entries == 6  # every sealed entry, not only the last batch's two


def test_altered_record_in_an_early_batch_is_refused(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    _three_batches(store, run_id)
    _raw(
        db_path,
        ("DROP TRIGGER ledger_entry_append_only_update", ()),
        ("UPDATE ledger_entry SET canonical = ? WHERE idx = 1", (_canonical(db_path, 1) + b"\x00",)),
    )
    with pytest.raises(StoreError, match=r"ledger damaged at index 1: .*record"):
        open_store(str(db_path), node_key=node_key, now_us=T0)


def test_forged_signature_of_an_early_batch_is_refused(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    _three_batches(store, run_id)
    _raw(
        db_path,
        ("DROP TRIGGER ledger_batch_append_only_update", ()),
        ("UPDATE ledger_batch SET signature = zeroblob(64) WHERE first_index = 0", ()),
    )
    with pytest.raises(StoreError, match=r"ledger damaged at index 0: batch .* signature does not verify"):
        open_store(str(db_path), node_key=node_key, now_us=T0)


def test_missing_middle_batch_is_refused(
    db_path: Path, store: Store, run_id: int, node_key: Ed25519PrivateKey
) -> None:
    _three_batches(store, run_id)
    _raw(
        db_path,
        ("DROP TRIGGER ledger_batch_append_only_delete", ()),
        ("DELETE FROM ledger_batch WHERE first_index = 2", ()),
    )
    with pytest.raises(StoreError, match=r"ledger damaged at index 4: batch .* leaves a gap"):
        open_store(str(db_path), node_key=node_key, now_us=T0)
