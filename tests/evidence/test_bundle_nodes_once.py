"""What ``swarmscope verify`` reads once per bundle across nodes: each node's records are decoded, and its
records/chain.bin and records/batches.bin parsed, by that node's own verification only; the cross-node
checks (signers, moved records, hits.jsonl) reuse them. Same verdicts as before (the hostile variants of
tests/evidence/test_bundle_nodes.py).

Layout: :mod:`swarmscope.evidence.bundle.nodes` (format version 3).
"""

from __future__ import annotations

from collections import Counter

import pytest

from swarmscope.evidence import canonical
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.nodes import HITS, node_prefix
from swarmscope.evidence.bundle.nodes_verify import verify_export
from swarmscope.evidence.records import Observation, Tier
from tests.evidence.test_bundle import make_world
from tests.evidence.test_bundle_nodes import bundle, contents

FILES = bundle(contents(make_world(), "AB"))
NODES = sorted({path.split("/")[1] for path in FILES if path.startswith("nodes/")})


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> Counter[bytes]:
    """Count the bytes each call of ``module.name`` is given (the first argument)."""
    seen: Counter[bytes] = Counter()
    real = getattr(module, name)

    def counted(data: bytes, *args: object) -> object:
        seen[bytes(data)] += 1
        return real(data, *args)

    monkeypatch.setattr(module, name, counted)
    return seen


def test_each_record_decoded_and_each_chain_and_batch_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    records = [c for n in NODES for _, c in b.ledger_from_bytes(FILES[node_prefix(n) + b.LEDGER])]
    chains = [e for n in NODES for e in b.chain_from_bytes(FILES[node_prefix(n) + b.CHAIN])]
    batches = [s for n in NODES for s in b.batches_from_bytes(FILES[node_prefix(n) + b.BATCHES])]
    decoded = _counting(monkeypatch, canonical, "envelope_of")
    entries = _counting(monkeypatch, b, "entry_from_bytes")
    sealed = _counting(monkeypatch, b, "sealed_from_bytes")
    verdict = verify_export(FILES)
    assert verdict.ok, verdict.problems
    assert sum(decoded.values()) == len(records) > 0  # one decode per disclosed record
    assert sum(entries.values()) == len(chains) > 0  # one parse per chain entry
    assert sum(sealed.values()) == len(batches) > 0  # one parse per sealed batch


def test_hits_reuse_the_decoded_records_and_still_see_every_copy() -> None:
    """A ledger repeating an index keeps both copies in its scan: hits.jsonl is re-derived from every
    copy (the repeated verified hit is a line the bundle's hits.jsonl lacks), not only from the copy the
    node's own verification kept."""
    path = node_prefix(NODES[1]) + b.LEDGER
    index, record = next(
        (i, c)
        for i, c in b.ledger_from_bytes(FILES[path])
        if isinstance(r := canonical.record_from_canonical(c), Observation) and r.tier == Tier.VERIFIED
    )
    doubled = FILES[path] + index.to_bytes(8, "big") + len(record).to_bytes(4, "big") + record
    verdict = verify_export({**FILES, path: doubled})
    assert [p.file for p in verdict.problems if p.check == "hits"] == [HITS]
    assert verify_export(FILES).ok
