"""Export reads one snapshot: the records it selects are exactly those the ledger check before them covered.

A writer commits a batch right after the export's full ledger check (the race a live monitor or fleet node
makes): that batch is not in the bundle, because the selection reads the snapshot the check read
(:mod:`swarmscope.store.ledger.snapshot`). Both backends; PostgreSQL from ``tests.pg_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import export
from swarmscope.store.ledger.export import ExportFilters, collect_export
from tests.pg_server import backend_url, drop_schema
from tests.store.factories import T0, add_swarms, sighting


@pytest.fixture(params=["sqlite", "postgresql"])
def two_handles(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store, int]]:
    """A reader store and a writer store (same node key) on one database with one sealed batch (index 0),
    and the writer's run id."""
    url = backend_url(request.param, tmp_path)
    key = Ed25519PrivateKey.generate()
    writer = open_store(url, node_key=key, now_us=T0)
    reader = open_store(url, create=False)
    try:
        add_swarms(writer)
        run = writer.start_run({}, "test", T0)
        writer.add_sightings(run, [sighting()], T0)
        yield reader, writer, run
    finally:
        reader.close()
        writer.close()
        if request.param == "postgresql":
            drop_schema(url)


def test_a_batch_committed_after_the_check_is_not_exported(
    two_handles: tuple[Store, Store, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer, run = two_handles
    checked = export.check_ledger

    def check_then_commit(store: object, node: str) -> None:
        checked(store, node)  # type: ignore[arg-type]
        writer.add_sightings(run, [sighting(port=7000 + i) for i in range(3)], T0 + 1)  # indices 1..3

    monkeypatch.setattr(export, "check_ledger", check_then_commit)
    selection = collect_export(reader, ExportFilters())
    assert sorted(selection.content.records) == [0]
    assert [e.index for e in selection.content.entries] == [0]
    assert [b.batch.last_index for b in selection.content.batches] == [0]
    # the next export covers the new batch, checked
    monkeypatch.setattr(export, "check_ledger", checked)
    assert sorted(collect_export(reader, ExportFilters()).content.records) == [0, 1, 2, 3]
