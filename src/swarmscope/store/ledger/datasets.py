"""Registered IP datasets (the ``dataset`` table): register, list, deactivate.

Rows are never deleted: an attribution record cites datasets by SHA-256, so the fingerprint of every
dataset ever used stays answerable. "Removing" a dataset sets ``active`` false; registering the same
file (same SHA-256) again reactivates its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.store.ledger.schema import dataset
from swarmscope.store.ledger.snapshot import Source, reading
from swarmscope.store.ports import DatabaseHandle

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One ``dataset`` row.

    Args:
        id: row id. name: database_type or file name. kind: asn | city | isp | country | anonymous |
            hosting | vpn | tor. database_type: MMDB metadata, None for list files. build_us: build time,
            UTC µs. sha256: hex fingerprint. size: bytes. path: absolute file path. added_us: UTC µs.
        active: used for new attributions.
    """

    id: int
    name: str
    kind: str
    database_type: str | None
    build_us: int | None
    sha256: str
    size: int
    path: str
    added_us: int
    active: bool


def _row(r: sa.Row[Any]) -> DatasetRow:
    return DatasetRow(
        int(r.id), r.name, r.kind, r.database_type, r.build_us, r.sha256, int(r.size), r.path,
        int(r.added_us), bool(r.active),
    )  # fmt: skip


def find_dataset(store: Store, sha256: str) -> DatasetRow | None:
    """The dataset row with this exact SHA-256 hex, or None."""
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(dataset).where(dataset.c.sha256 == sha256.lower())).first()
    return None if r is None else _row(r)


def register_dataset(
    store: Store,
    *,
    name: str,
    kind: str,
    database_type: str | None,
    build_us: int | None,
    sha256: str,
    size: int,
    path: str,
    now_us: int,
) -> DatasetRow:
    """Register a dataset file by its fingerprint (or reactivate the row of the same SHA-256).

    Args:
        name, kind, database_type, build_us, sha256, size, path: the fingerprint
            (``attribution.datasets.Fingerprint`` fields). now_us: UTC µs of registration.

    Returns:
        The (new or reactivated) :class:`DatasetRow`. A reactivated row keeps its first ``added_us``;
        its ``path`` is updated to where the file is now.

    Raises:
        StoreError: the database refused the row.
    """
    digest = sha256.lower()
    with store._write() as conn:
        existing = conn.execute(sa.select(dataset.c.id).where(dataset.c.sha256 == digest)).scalar()
        if existing is None:
            values = {
                "name": name, "kind": kind, "database_type": database_type, "build_us": build_us,
                "sha256": digest, "size": size, "path": path, "added_us": now_us, "active": True,
            }  # fmt: skip
            conn.execute(sa.insert(dataset).values(values))
        else:
            conn.execute(sa.update(dataset).where(dataset.c.id == existing).values(active=True, path=path))
    found = find_dataset(store, digest)
    assert found is not None
    return found


def list_datasets(store: Source, *, active_only: bool = False) -> list[DatasetRow]:
    """Registered datasets in registration order (optionally only the active ones); a store or a
    snapshot (:mod:`swarmscope.store.ledger.snapshot`)."""
    query = sa.select(dataset).order_by(dataset.c.id)
    if active_only:
        query = query.where(dataset.c.active.is_(True))
    with reading(store) as conn:
        return [_row(r) for r in conn.execute(query)]


def active_datasets(store: DatabaseHandle) -> list[DatasetRow]:
    """The datasets an attributor opens now (``active`` true), in registration order."""
    return list_datasets(store, active_only=True)


def resolve_dataset(store: Store, ref: str) -> DatasetRow:
    """Find one dataset by row id, or by a SHA-256 hex prefix of at least 8 digits.

    Raises:
        InputError: no such dataset, or the prefix matches more than one.
    """
    rows = list_datasets(store)
    text = ref.strip().lower()
    if text.isdigit() and len(text) < 8:
        matches = [r for r in rows if r.id == int(text)]
    elif len(text) >= 8 and all(c in "0123456789abcdef" for c in text):
        matches = [r for r in rows if r.sha256.startswith(text)]
    else:
        raise InputError(f"{ref!r}: give a dataset id or at least 8 hex digits of its sha256")
    if not matches:
        raise InputError(f"no dataset {ref!r}")
    if len(matches) > 1:
        raise InputError(f"{ref!r} matches {len(matches)} datasets; give more digits")
    return matches[0]


def deactivate_dataset(store: Store, dataset_id: int) -> DatasetRow:
    """Stop using a dataset for new attributions (its row and fingerprint stay).

    Raises:
        InputError: no dataset with this id. StoreError: the database refused the update.
    """
    with store._write() as conn:
        result = conn.execute(sa.update(dataset).where(dataset.c.id == dataset_id).values(active=False))
        if result.rowcount != 1:
            raise InputError(f"no dataset with id {dataset_id}")
    rows = [r for r in list_datasets(store) if r.id == dataset_id]
    return rows[0]
