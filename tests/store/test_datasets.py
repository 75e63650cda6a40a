"""Dataset rows (register, list, deactivate, reactivate) and sealed Attribution records in the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from swarmscope.attribution.datasets import Fingerprint, fingerprint
from swarmscope.attribution.flag_lists import FLAG_KINDS
from swarmscope.attribution.lookup import Attributor
from swarmscope.errors import InputError
from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.evidence.records import Attribution
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.datasets import (
    DatasetRow,
    active_datasets,
    deactivate_dataset,
    find_dataset,
    list_datasets,
    register_dataset,
    resolve_dataset,
)
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.mmdb import build_test_datasets
from tests.store.factories import T0, observation


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Fingerprint]:
    paths = build_test_datasets(tmp_path / "datasets")
    return {k: fingerprint(p, k if k in FLAG_KINDS else None) for k, p in paths.items()}


def _register(store: Store, fp: Fingerprint, now: int = T0) -> DatasetRow:
    return register_dataset(
        store, name=fp.name, kind=fp.kind, database_type=fp.database_type, build_us=fp.build_us,
        sha256=fp.sha256, size=fp.size, path=fp.path, now_us=now,
    )  # fmt: skip


def test_register_list_deactivate_reactivate(store: Store, files: dict[str, Fingerprint]) -> None:
    rows = [_register(store, fp) for fp in files.values()]
    assert [r.kind for r in list_datasets(store)] == ["asn", "city", "hosting", "vpn", "tor"]
    asn = rows[0]
    assert (asn.name, asn.sha256, asn.size, asn.path, asn.added_us, asn.active) == (
        "GeoLite2-ASN", files["asn"].sha256, files["asn"].size, files["asn"].path, T0, True,
    )  # fmt: skip
    off = deactivate_dataset(store, asn.id)
    assert not off.active
    assert [r.id for r in active_datasets(store)] == [r.id for r in rows[1:]]
    assert len(list_datasets(store)) == 5  # history kept
    again = _register(store, files["asn"], now=T0 + 5)
    assert (again.id, again.active, again.added_us) == (asn.id, True, T0)
    assert find_dataset(store, files["asn"].sha256.upper()) == again


def test_resolve_by_id_or_sha256_prefix(store: Store, files: dict[str, Fingerprint]) -> None:
    row = _register(store, files["city"])
    assert resolve_dataset(store, str(row.id)) == row
    assert resolve_dataset(store, row.sha256[:8].upper()) == row
    for bad in ("99", "abc", "zzzzzzzzzz", "0" * 64):
        with pytest.raises(InputError):
            resolve_dataset(store, bad)
    with pytest.raises(InputError, match="no dataset with id"):
        deactivate_dataset(store, 4242)


def test_attributor_opens_the_active_rows(store: Store, files: dict[str, Fingerprint]) -> None:
    for fp in files.values():
        _register(store, fp)
    deactivate_dataset(store, resolve_dataset(store, files["hosting"].sha256).id)
    with Attributor.open(active_datasets(store)) as a:
        got = a.attribute("127.0.2.1", T0)
    assert got.asn == 64502 and got.flags == ()
    assert files["hosting"].sha256 not in got.datasets and len(got.datasets) == 4


def test_attribution_records_are_sealed_rows(
    store: Store, run_id: int, files: dict[str, Fingerprint]
) -> None:
    with Attributor.open(files.values()) as a:
        records = [
            a.attribute(ip, T0 + i) for i, ip in enumerate(("127.0.1.5", "127.0.2.5", "::1", "127.0.0.1"))
        ]
    minimal = Attribution("127.0.9.9", T0)
    odd = Attribution("::ffff:7f00:105", T0, 1, "Ünïcode \"org\" ' ; --", None, "DE", "x" * 500, "\x00", 0,
                      ("tor",), ("ab" * 32,))  # fmt: skip
    batch = [observation(), *records, minimal, odd]
    sealed = store.commit_evidence(run_id, records=batch, sealed_at_us=T0 + 10)  # type: ignore[arg-type]
    assert sealed is not None
    assert queries.load_attributions(store) == [*records, minimal, odd]
    assert queries.load_attributions(store, ip="::1") == [records[2]]
    assert queries.load_attributions(store, run_id=run_id + 1) == []
    kinds = [kind for _e, kind, _c in load_ledger(store)]
    assert kinds == ["observation"] + ["attribution"] * 6
    for (_e, _kind, data), record in zip(list(load_ledger(store))[1:], [*records, minimal, odd], strict=True):
        assert data == canonical_bytes(record) and record_from_canonical(data) == record
    verdict = verify_ledger(store)
    assert verdict.ok, verdict.problems
    assert verdict.rows == 7


def test_attribution_rows_are_append_only(store: Store, run_id: int) -> None:
    store.commit_evidence(run_id, records=[Attribution("127.0.1.1", T0, 64501)], sealed_at_us=T0)
    with pytest.raises(StoreError), store._write() as conn:
        conn.execute(sa.text("UPDATE attribution SET asn = 1"))
    assert queries.load_attributions(store)[0].asn == 64501


def test_verify_notices_a_missing_attribution_row(store: Store, run_id: int) -> None:
    store.commit_evidence(run_id, records=[Attribution("127.0.1.1", T0, 64501)], sealed_at_us=T0)
    with store.engine.begin() as conn:
        triggers = (
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='attribution'"
            )
            .scalars()
            .all()
        )
        for name in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.exec_driver_sql("UPDATE attribution SET asn = 64502")
    verdict = verify_ledger(store)
    assert not verdict.ok
    assert [p.what for p in verdict.problems] == ["row altered"]
