"""What ``swarmscope verify`` reads once per bundle: records/ledger.bin (every damaged header named,
repaired where the records allow, in time linear in the file, a verdict whatever it holds), each record's
decoding (the views reuse it) and each swarm's metainfo (capture replay and block proofs share it).

Ledger layout (evidence.bundle.layout): per record index BE64, length BE32, canonical bytes.
"""

from __future__ import annotations

import time

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import Context
from swarmscope.evidence.bundle.verify import scan_ledger, verify_bundle
from tests.evidence.test_bundle import build, make_world

FILES = build(make_world())
PAIRS = b.ledger_from_bytes(FILES[b.LEDGER])


def header(index: int, length: int) -> bytes:
    return index.to_bytes(8, "big") + length.to_bytes(4, "big")


def scanned(data: bytes) -> tuple[list[tuple[int, bytes]], list[str]]:
    ctx = Context({}, ())
    return scan_ledger(ctx, data), [p.message for p in ctx.problems]


def test_valid_ledger_scans_without_problem() -> None:
    assert scanned(FILES[b.LEDGER]) == (PAIRS, [])


def test_wrong_length_field_is_named_and_repaired_from_the_record() -> None:
    (i0, r0), (i1, r1) = PAIRS[:2]
    data = header(i0, len(r0) + 3) + r0 + header(i1, len(r1)) + r1
    message = f"length field at offset 8 says {len(r0) + 3} bytes"
    assert scanned(data) == ([(i0, r0), (i1, r1)], [message])


def test_overrun_truncation_and_order_are_named() -> None:
    (i0, r0), (i1, r1) = PAIRS[:2]
    assert scanned(header(i0, len(r0)) + r0 + header(i1, 10**6) + b"x")[1] == [
        f"record at offset {12 + len(r0)} overruns the file"
    ]
    assert scanned(header(i0, len(r0)) + r0 + b"\x00" * 5)[1] == [
        f"truncated record header at offset {12 + len(r0)}"
    ]
    pairs, problems = scanned(header(i1, len(r1)) + r1 + header(i0, len(r0)) + r0)
    assert pairs == [(i1, r1), (i0, r0)]
    assert problems == [f"record header at offset {12 + len(r1)} says index {i0} after index {i1}"]


def test_repeated_index_whose_copy_does_not_decode_is_a_verdict() -> None:
    """The second copy of an index replaces the first; when it does not decode, the views are built
    without that index instead of decoding its bytes again (that raised DecodeError out of verify)."""
    index, record = PAIRS[0]
    ledger = header(index, len(record)) + record + header(index, 7) + b"garbage"
    verdict = verify_bundle({**FILES, b.LEDGER: ledger})
    assert not verdict.ok
    messages = [(p.check, p.message, p.record and p.record.index) for p in verdict.problems]
    undecodable = "record does not decode: bencode: invalid type byte b'g' (at byte 0)"
    assert ("records", undecodable, index) in messages
    assert ("chain", "record bytes do not hash to the chain's record_hash", index) in messages


def test_scan_is_linear_in_the_ledger() -> None:
    """A 20,000-record ledger (~6 MB) scans in about a CPU second (5 s allowed); a scan that copies the
    rest of the file per record (bencode2 tried on all of it) took 135 CPU seconds."""
    records = [r for _, r in PAIRS]
    data = b"".join(
        header(i, len(r)) + r for i, r in enumerate(records[i % len(records)] for i in range(20_000))
    )
    started = time.process_time()
    pairs, problems = scanned(data)
    assert len(pairs) == 20_000 and problems == []
    assert time.process_time() - started < 5.0


def test_missing_metainfo_is_named_once() -> None:
    """Capture replay and block proofs share one parse of each swarm's metainfo, and so one problem for
    a missing one (each check kept its own cache and named it again)."""
    (path,) = [p for p in FILES if p.startswith("metainfo/")]
    verdict = verify_bundle({k: v for k, v in FILES.items() if k != path})
    named = [p.message for p in verdict.problems if p.check == "metainfo"]
    assert named == ["missing: the swarm's pieces cannot be checked"]
    assert any(p.check == "capture replay" and p.file == path for p in verdict.problems)
