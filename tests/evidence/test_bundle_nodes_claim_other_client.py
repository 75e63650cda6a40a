"""An inbound hit's claimed listen port, "checked" by an outbound probe of ours that reached ANOTHER client.

Behind one carrier-grade NAT address (RFC 6598 100.64/10) subscriber X is reachable at 100.70.0.9:6881 (a
port mapping of the NAT, RFC 6887); subscriber Y, behind the same address, listens on 6881 at home (a
common default) and claims it in BEP 10 ``p``, but its connection to us comes from the NAT port 50002.
Node A dialled 100.70.0.9:6881 and verified X (handshake peer id X); node B received Y's inbound connection
(handshake peer id Y, another client). The outbound probe checked that *some* peer listens at
100.70.0.9:6881, not that the inbound peer is that one: counting Y's hit under 6881 attributes Y's
activity to X's endpoint (an ISP resolves ip, port and time to X: RFC 6302 section 2) and calls the pair
corroborated, seen by two keys from two vantages, though each subscriber was seen from one.
"""

from __future__ import annotations

import dataclasses
import json

from swarmscope.evidence.bundle.nodes import NodeHit, hits_bytes
from swarmscope.evidence.records import Observation, Source, Tier
from tests.evidence.test_bundle_nodes_claimed_port import IH, T0, inbound

CLIENT_X = b"-qB4650-" + b"x" * 12
CLIENT_Y = b"-TR4060-" + b"y" * 12


def test_a_claim_checked_only_against_another_client_does_not_count_under_the_claimed_port() -> None:
    outbound = Observation(
        infohash=IH, ip="100.70.0.9", port=6881, source=Source.TRACKER.value, started_us=T0,
        ended_us=T0 + 1_000_000, tier=Tier.VERIFIED, num_pieces=4, verified_pieces=(0,), peer_id=CLIENT_X,
    )  # fmt: skip
    other = dataclasses.replace(inbound(50002, T0 + 3_600_000_000), peer_id=CLIENT_Y)
    hits = [
        NodeHit("aa" * 32, 3, outbound, "198.51.100.0/24"),
        NodeHit("bb" * 32, 5, other, "203.0.113.0/24"),
    ]
    lines = [json.loads(line) for line in hits_bytes(hits).splitlines()]
    assert [(line["counted_port"], line["corroborated"]) for line in lines] == [(6881, False), (50002, False)]
