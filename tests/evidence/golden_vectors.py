"""Golden vectors of every derived form of every sealed record type, per canonical format version, kept
in ``tests/evidence/record_vectors.json`` (checked by :mod:`tests.evidence.test_record_golden`).

- ``canonical``: per format version, the SHA-256 of each sample's canonical bytes in that version (every
  version its type has, 1 to its newest). They are sealed in ledgers and bundles: a pinned version never
  changes.
- ``views``: per format version, the SHA-256 of each bundle view made from the samples as the code of that
  version wrote them. ``swarmscope verify`` re-derives the views of a bundle exported before an upgrade
  byte for byte, so a pinned version never changes either.
- ``rows``: per newest format version, the SHA-256 of each sample's database row as the code writes it
  (a migration adding a field changes the rows; its format version gets rows of its own).

``python -m tests.evidence.golden_vectors`` (``make golden``) adds the vectors of a format version or a
sample that has none yet (after adding a field: the declaration line, the migration, then this command)
and refuses, exit status 1 with one line per vector, to change a vector already pinned.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from swarmscope.evidence.bundle.exhibits import ExhibitInput, exhibit_files
from swarmscope.evidence.canonical import as_version, canonical_bytes
from swarmscope.evidence.declarations import LATEST, SPECS, VERSION
from swarmscope.store.ledger.writer import ROW_BUILDERS
from tests.evidence.record_samples import SAMPLES

PATH = Path(__file__).with_name("record_vectors.json")
Vectors = dict[str, dict[str, dict[str, str]]]  # form -> format version -> name -> SHA-256 hex


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def versions_of(name: str) -> range:
    """The format versions a sample's record type has: 1 to its newest."""
    return range(1, LATEST[type(SAMPLES[name])] + 1)


def sample_at(name: str, version: int) -> Any:
    """The sample as a record of that format version holds it (its newest, for a type with no later one)."""
    record = SAMPLES[name]
    return as_version(SPECS[type(record)], record, version)


def row_of(name: str) -> tuple[object, ...]:
    record = SAMPLES[name]
    builder = ROW_BUILDERS[type(record)][1]
    return tuple(builder(3, record, (1, 42)))


def views(version: int) -> dict[str, bytes]:
    """The bundle views of every sample at ``version``, in the order of :data:`SAMPLES`."""
    ledger = [(index, canonical_bytes(sample_at(name, version))) for index, name in enumerate(SAMPLES)]
    return exhibit_files(ExhibitInput.from_ledger(ledger, {"clock_threshold_us": 1000}))


def current() -> Vectors:
    """Every vector the code derives today."""
    canonical: dict[str, dict[str, str]] = {}
    for name in SAMPLES:
        for version in versions_of(name):
            canonical.setdefault(str(version), {})[name] = sha(canonical_bytes(sample_at(name, version)))
    return {
        "canonical": canonical,
        "views": {str(v): {p: sha(d) for p, d in views(v).items()} for v in range(1, VERSION + 1)},
        "rows": {str(VERSION): {name: sha(repr(row_of(name)).encode()) for name in SAMPLES}},
    }


def pinned() -> Vectors:
    result: Vectors = json.loads(PATH.read_text())
    return result


def changes(old: Vectors, new: Vectors) -> list[str]:
    """One line per pinned vector the code no longer derives."""
    return [
        f"{form} version {version} {name}: pinned {digest}, derived {new[form][version].get(name)}"
        for form, by_version in old.items()
        for version, digests in by_version.items()
        if version in new.get(form, {})
        for name, digest in digests.items()
        if new[form][version].get(name) != digest
    ]


def add_missing() -> int:
    """Add the vectors not pinned yet (a new format version, or a new record type's sample); refuse to
    change a pinned one (exit status)."""
    old, new = pinned(), current()
    refused = changes(old, new)
    if refused:
        print(
            "\n".join(["a pinned golden vector changed; sealed bytes never do:", *refused]), file=sys.stderr
        )
        return 1
    merged: Vectors = {
        form: {
            version: {
                **new.get(form, {}).get(version, {}),
                **old.get(form, {}).get(version, {}),
            }  # pinned wins
            for version in {*new.get(form, {}), *old.get(form, {})}
        }
        for form in {*old, *new}
    }
    PATH.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    added = sum(1 for f in new for v in new[f] for name in new[f][v] if name not in old.get(f, {}).get(v, {}))
    print(f"{PATH.name}: {added} vectors added")
    return 0


if __name__ == "__main__":
    sys.exit(add_missing())
