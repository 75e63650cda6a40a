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

from swarmscope.evidence.bundle.nodes import NodeHit, hits_bytes
from swarmscope.evidence.records import Observation, Source, Tier

T0 = 1_780_000_000_000_000
IH = "ab" * 20
PEER = b"-LT2110-subscriber01"  # the client at 100.70.0.9:6881


def inbound(source_port: int, start: int, peer_id: bytes | None = None) -> Observation:
    """A verified inbound hit from 100.70.0.9 (one CGNAT address) claiming BEP 10 p = 6881."""
    return Observation(
        infohash=IH, ip="100.70.0.9", port=6881, source=Source.INBOUND.value, started_us=start,
        ended_us=start + 1_000_000, tier=Tier.VERIFIED, num_pieces=4, verified_pieces=(0,),
        source_port=source_port, peer_id=peer_id,
    )  # fmt: skip


def test_two_unchecked_inbound_claims_at_two_vantages_are_not_corroborated() -> None:
    hits = [
        NodeHit("aa" * 32, 3, inbound(50001, T0), "100.64.1.0/24"),
        NodeHit("bb" * 32, 5, inbound(50002, T0 + 5_000_000), "100.64.2.0/24"),
    ]
    lines = [json.loads(line) for line in hits_bytes(hits).splitlines()]
    assert len(lines) == 2
    assert not any(line["corroborated"] for line in lines), lines
    assert [(line["counted_port"], line["port_seen"]) for line in lines] == [
        (50001, "tcp source port"),
        (50002, "tcp source port"),
    ]


def test_a_claim_our_outbound_probe_checked_counts_and_corroborates_under_it() -> None:
    """Node A dialled 100.70.0.9:6881 and verified it; B's inbound hit claiming 6881 an hour later under
    the same peer id counts under 6881 (checked within two hours): one address seen by two keys from two
    vantages."""
    outbound = Observation(
        infohash=IH, ip="100.70.0.9", port=6881, source=Source.TRACKER.value, started_us=T0,
        ended_us=T0 + 1_000_000, tier=Tier.VERIFIED, num_pieces=4, verified_pieces=(0,), peer_id=PEER,
    )  # fmt: skip
    hits = [
        NodeHit("aa" * 32, 3, outbound, "198.51.100.0/24"),
        NodeHit("bb" * 32, 5, inbound(50002, T0 + 3_600_000_000, PEER), "203.0.113.0/24"),
    ]
    lines = [json.loads(line) for line in hits_bytes(hits).splitlines()]
    assert [(line["counted_port"], line["port_seen"], line["corroborated"]) for line in lines] == [
        (6881, "dialled", True),
        (6881, "claimed listen port, checked by our own connection to the same peer id", True),
    ]
