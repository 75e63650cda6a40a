"""Golden vectors of every derived form of every sealed record type: canonical bytes, database row,
bundle views. Recorded from the hand-kept encoders before the record declarations replaced them; the
canonical bytes are sealed in existing ledgers and bundles and the views are re-derived byte for byte by
``swarmscope verify``, so none of them may change by a single byte.
"""

from __future__ import annotations

import hashlib

import pytest

from swarmscope.evidence.bundle.exhibits import ExhibitInput, exhibit_files
from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.store.ledger.writer import ROW_BUILDERS
from tests.evidence.record_samples import SAMPLES

CANONICAL_SHA256 = {
    "attribution": "38fa481cfe21f8e56c4d1b303fe8a5451670b8db8571b20f6968e6b3cf2efa1e",
    "attribution-empty": "c2f8925678f3a2b0d8c55545f9a4d5640d52b0da803891b469a7c00094d8172a",
    "clock": "cedc94e47b5862cdf47c1895ca209af40e049fe1e23dd8ce154a7ac010aa6698",
    "clock-failed": "7e50b7df77d649ae5124cf0b74b2414d49440f5ef4f2095615b2e5a19afd4d99",
    "observation-full": "a278d3efd99e5cc3dd606afbe3572857ac1d150e8c9fe33f5ee884ca3e159a73",
    "observation-minimal": "45c1803d437c02dbc7579680cdaed6be8a409f05893a138b14318190f97c50e9",
    "observation-plain-quirks": "66c56c9cedf04061d6bb9b31bef98bd320fe3e1d477644d3aac90794631b46e1",
    "redaction": "6e2163f8a092d61e475b8d158278cbc6026ce5f9b9d7024b4055b853262faf06",
    "redaction-empty": "20f4a2924fcc82f8a27ffbd2b46561c8f4c7e8e1b86ac8aa32b93d303e202c89",
    "run": "14c3c704f181c31de2d5c3512787daaa45612a5b4babd5fb8d2929dfbce68077",
    "run-commit": "12cd80ca190986bc66125bf5de85e9b79163a5b7bb4d9f7ea23de84f394dd9dd",
    "sighting": "3fb7042a333adbe7f3161a43b80a75983ba1d44d78d871dd78e7363850f94a3d",
    "sighting-peer-id": "2c2d0044b5e29946f95bbe726e8b116db2d3da1a8e8139222bbe5d44370cd164",
    "workflow-event": "3ab67f148d7640e4cc614220270dae5a19c24e0cfdaa4a6e72d7902af28531fb",
}
ROW_SHA256 = {
    "attribution": "cb9fa710abbbbe81e8985b6b2394177ed5a523dd9a716071cd9da08400374fa8",
    "attribution-empty": "cc3c035607d5dc42e345fa4c7b48a434e1c55f7c5b2f1f54407a358a10fe0016",
    "clock": "e94149d7070e86c7467ade33c1b8d8d7bd0e170bfeaca7abd68c3c8a82a375a0",
    "clock-failed": "164c8f661d75ac7714b9262c1c5282e471ecda2564e7d1179971951f104a3ebe",
    "observation-full": "120f05e27ca68cea2f44ef7b9f3a0f9489bf4f6f802c79d5b35359d628fd44b2",
    "observation-minimal": "f81116b09715f4fec418c2a31a39afb689e08f169838ab791158ac3308d4c80b",
    "observation-plain-quirks": "e9cb0e0abc4ef3afa0ec6c9d2d496e5d25f0a97948e9be469620b530adba203d",
    "redaction": "d1d9e8f2d12eabe338dd9421c2f343a4656bdcaadd0de3b12f5d24f2ce459ca7",
    "redaction-empty": "ff5165754f90e7edf2c5838a0a41a894ad693c49c2b6567770493211bb45b36c",
    "run": "8b32478b9c4951487872e3094ccb2d833dbd2d365478487e04caf08da1d3d0ab",
    "run-commit": "282733d851e85dd17c235eb99cfebb4f79ca005f255c9d00e6b5995208d9dc9a",
    "sighting": "01e4c0591aa1f4a9a09ef1f0e5f0449d6e8859cd5655db9b89d2f1cd23bdf7f5",
    "sighting-peer-id": "5687d88ff72598f44610a67ad5997f009e7020f91ab8ae1093a389abc376dbbe",
    "workflow-event": "9bfe47ea4d26c64302e8a845be7a26dbaab2b6684de0e51d592184b232257c7b",
}
VIEW_SHA256 = {
    "records/attributions.jsonl": "a1fbb4bc429a06c5ceda7193d72732f11be36042710359647538d62aac40c028",
    "records/clock.jsonl": "c94b0fc31a55c4bac5411709fdccc143c45975fd53ab8181eaf9e54869566e32",
    "records/observations.csv": "f6cdaa9f51be54940c3c3b54d8d015ea8862418d46f16c77bb0330e839b71160",
    "records/observations.jsonl": "c076ea5aa3aab339358af7269bd67fb86479089b71a35999b8438d4c8cebdc39",
    "records/sightings.jsonl": "edf524edf610f9745e25eef1583c16b3b522d2860be81160562a45a06a091a24",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def row_of(name: str) -> tuple[object, ...]:
    record = SAMPLES[name]
    builder = ROW_BUILDERS[type(record)][1]
    return tuple(builder(3, record, (1, 42)))


def views() -> dict[str, bytes]:
    ledger = [(index, canonical_bytes(record)) for index, record in enumerate(SAMPLES.values())]
    return exhibit_files(ExhibitInput.from_ledger(ledger, {"clock_threshold_us": 1000}))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_canonical_bytes_are_unchanged(name: str) -> None:
    data = canonical_bytes(SAMPLES[name])
    assert _sha(data) == CANONICAL_SHA256[name]
    assert canonical_bytes(record_from_canonical(data)) == data


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_rows_are_unchanged(name: str) -> None:
    assert _sha(repr(row_of(name)).encode()) == ROW_SHA256[name]


def test_a_purge_record_has_the_documented_layout() -> None:
    """The purge record (added with migration 0006) spelled out once: every field, tagged, keys sorted."""
    assert canonical_bytes(SAMPLES["redaction-empty"]) == (
        b"d6:fieldsd7:entriesl1:llee12:purged_at_usl1:ii0ee4:rulel1:s0:ee"
        b"6:format19:swarmscope-evidence4:type9:redaction7:versioni1ee"
    )
    entry = canonical_bytes(SAMPLES["redaction"]).split(b"7:entriesl1:ll", 1)[1]
    assert entry.startswith(
        b"l1:r14:redacted_entryd5:indexl1:ii0ee4:kindl1:s11:observatione"
        b"4:nodel1:s64:" + b"ab" * 32 + b"e11:record_hashl1:b32:" + bytes(range(32)) + b"eee"
    )


def test_bundle_views_are_unchanged() -> None:
    assert {path: _sha(data) for path, data in views().items()} == VIEW_SHA256


if __name__ == "__main__":  # prints the vectors (used once, before the declarations replaced the encoders)
    print({n: _sha(canonical_bytes(r)) for n, r in sorted(SAMPLES.items())})
    print({n: _sha(repr(row_of(n)).encode()) for n in sorted(SAMPLES)})
    print({p: _sha(d) for p, d in sorted(views().items())})
