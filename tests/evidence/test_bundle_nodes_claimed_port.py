"""hits.jsonl of a bundle across nodes must not corroborate an inbound peer's unchecked BEP 10 port claim.

Cases count an inbound hit under its claimed listen port only when an outbound probe of ours verified that
ip:port, else under its observed TCP source port (store/ledger/proven_ports.py, RFC 6302 section 2), so two
subscribers behind one carrier-grade NAT address who both claim ``p`` = 6881 are two addresses, each seen
from one vantage. ``hits.jsonl`` is documented to count corroboration "as ``cases build --min-vantages``
does" (evidence/bundle/nodes.py); it groups by the record's ``port``, which for an inbound record is the
claim.
"""

from __future__ import annotations

import json

import pytest

from swarmscope.evidence.bundle.nodes import NodeHit, hits_bytes
from swarmscope.evidence.records import Observation, Source, Tier

T0 = 1_780_000_000_000_000
IH = "ab" * 20


def inbound(source_port: int, start: int) -> Observation:
    """A verified inbound hit from 100.70.0.9 (one CGNAT address) claiming BEP 10 p = 6881."""
    return Observation(
        infohash=IH, ip="100.70.0.9", port=6881, source=Source.INBOUND.value, started_us=start,
        ended_us=start + 1_000_000, tier=Tier.VERIFIED, num_pieces=4, verified_pieces=(0,),
        source_port=source_port,
    )  # fmt: skip


@pytest.mark.xfail(
    strict=True,
    reason="hits.jsonl groups inbound hits by their claimed BEP 10 port, so two unchecked "
    "claims seen at two vantages are 'corroborated' where cases count two addresses, one vantage each",
)
def test_two_unchecked_inbound_claims_at_two_vantages_are_not_corroborated() -> None:
    hits = [
        NodeHit("aa" * 32, 3, inbound(50001, T0), "100.64.1.0/24"),
        NodeHit("bb" * 32, 5, inbound(50002, T0 + 5_000_000), "100.64.2.0/24"),
    ]
    lines = [json.loads(line) for line in hits_bytes(hits).splitlines()]
    assert len(lines) == 2
    assert not any(line["corroborated"] for line in lines), lines
