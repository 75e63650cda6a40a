"""Golden vectors of every derived form of every sealed record type: canonical bytes, database row,
bundle views. Recorded from the hand-kept encoders before the record declarations replaced them, and kept
per canonical format version in ``record_vectors.json`` (:mod:`tests.evidence.golden_vectors`). The
canonical bytes are sealed in existing ledgers and bundles and the views are re-derived byte for byte by
``swarmscope verify``, so none of them may change by a single byte in any version; a format version added
by a new field gets vectors of its own (``make golden``).
"""

from __future__ import annotations

import pytest

from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.evidence.declarations import VERSION
from tests.evidence.golden_vectors import changes, current, pinned, row_of, sample_at, sha, versions_of, views
from tests.evidence.record_samples import SAMPLES

PINNED = pinned()
ADD = "no golden vector: after adding a field, run `make golden` (python -m tests.evidence.golden_vectors)"
CASES = [(name, version) for name in sorted(SAMPLES) for version in versions_of(name)]


def _pin(form: str, version: int, name: str) -> str:
    digest = PINNED[form].get(str(version), {}).get(name)
    assert digest is not None, f"{form} version {version} {name}: {ADD}"
    return digest


@pytest.mark.parametrize(("name", "version"), CASES, ids=[f"{n}-v{v}" for n, v in CASES])
def test_canonical_bytes_are_unchanged(name: str, version: int) -> None:
    data = canonical_bytes(sample_at(name, version))
    assert sha(data) == _pin("canonical", version, name)
    assert canonical_bytes(record_from_canonical(data)) == data


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_rows_are_unchanged(name: str) -> None:
    assert sha(repr(row_of(name)).encode()) == _pin("rows", VERSION, name)


def test_a_purge_record_has_the_documented_layout() -> None:
    """The purge record (added with migration 0006) spelled out once: every field, tagged, keys sorted."""
    assert canonical_bytes(sample_at("redaction-empty", 1)) == (
        b"d6:fieldsd7:entriesl1:llee12:purged_at_usl1:ii0ee4:rulel1:s0:ee"
        b"6:format19:swarmscope-evidence4:type9:redaction7:versioni1ee"
    )
    entry = canonical_bytes(sample_at("redaction", 1)).split(b"7:entriesl1:ll", 1)[1]
    assert entry.startswith(
        b"l1:r14:redacted_entryd5:indexl1:ii0ee4:kindl1:s11:observatione"
        b"4:nodel1:s64:" + b"ab" * 32 + b"e11:record_hashl1:b32:" + bytes(range(32)) + b"eee"
    )


@pytest.mark.parametrize("version", range(1, VERSION + 1))
def test_bundle_views_are_unchanged(version: int) -> None:
    expected = PINNED["views"].get(str(version))
    assert expected, f"views version {version}: {ADD}"
    assert {path: sha(data) for path, data in views(version).items()} == expected


def test_every_pinned_vector_is_still_derived() -> None:
    """Nothing pinned for a version the declarations still have goes missing or changes (the check
    ``make golden`` runs before it adds a version)."""
    assert changes(PINNED, current()) == []
