"""One node is one vantage's clock and software: its own runs from two networks do not corroborate it.

``cases/thresholds`` says a corroborated group is one that "one node's routing, clock or software fault
cannot have made alone". The count is by source network only, so a single node key that sealed one run
with ``--bind`` in one /24 and a later run in another (a multi-homed host, or a restart with another
address) counts as two vantage points: ``--min-vantages 2`` admits it and exhibits say "corroborated".
"""

from __future__ import annotations

from swarmscope.cases.thresholds import Hit, ThresholdPolicy, evaluate

HOUR_US = 3_600_000_000
NODE = "ab" * 32  # one node key


def test_one_node_key_from_two_networks_is_not_corroborated() -> None:
    hits = [
        Hit("203.0.113.7", 51413, "cd" * 20, n * HOUR_US, n * HOUR_US + 1, node=NODE, vantage=vantage)
        for n, vantage in enumerate(["192.0.2.0/24", "198.51.100.0/24", "198.51.100.0/24"])
    ]
    (group,) = evaluate(hits, ThresholdPolicy(min_vantages=2), {})
    assert not group.corroborated
    assert any(r.startswith("too_few_vantages") for r in group.reasons_excluded), group.reasons_excluded
