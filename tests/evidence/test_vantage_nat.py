"""A private or shared source address names no vantage point the peer sees.

RFC 1918 (10/8, 172.16/12, 192.168/16) and RFC 6598 (100.64/10, carrier-grade NAT) addresses leave the
site through a NAT: the peer sees the gateway's public address, whichever private /24 a node is bound to.
Two nodes behind one gateway are one vantage (and one ban range, README "A fleet"), so their hits must
not count as corroborated, as a node without --bind corroborates nothing (``DEFAULT_ROUTE``).
"""

from __future__ import annotations

import pytest

from swarmscope.evidence.bundle.vantage import vantage_count, vantage_of_address


@pytest.mark.parametrize(
    ("first", "second"),
    [("10.0.1.5", "10.0.2.5"), ("192.168.1.10", "192.168.7.10"), ("100.64.1.2", "100.64.9.2")],
)
def test_two_private_networks_behind_one_nat_are_not_two_vantages(first: str, second: str) -> None:
    peer = "203.0.113.7"
    assert vantage_count([vantage_of_address(first, peer), vantage_of_address(second, peer)]) == 1
