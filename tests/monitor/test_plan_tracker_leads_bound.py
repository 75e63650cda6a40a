"""The probe plan against a tracker (or DHT node) that names fresh dead addresses at every announce.

Issue "hostile input" asks that memory stay bounded and honest peers stay monitored whatever a tracker
returns; libtorrent bounds its peer list per torrent (``settings_pack::max_peerlist_size``, 3,000) and
drops peers whose ``failcount`` reaches ``max_failcount``. Here a tracker names 200 fresh addresses
(numwant) every 30 s (``MonitorConfig.announce_floor``) for one hour, none of which ever answers.
"""

from __future__ import annotations

from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.monitor.plan import ProbePlan

S = 1_000_000
SW = "ab" * 20


def _address(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def test_dead_tracker_leads_do_not_grow_the_plan_without_bound() -> None:
    """120 announces of 200 fresh dead addresses, every due probe failing to connect: the plan holds
    a bounded number of peers (24,000 before, each re-dialled every 30 min for the whole run)."""
    plan = ProbePlan()
    named = 0
    for announce in range(120):
        now = announce * 30 * S
        for _peer in range(200):
            named += 1
            plan.add((SW, _address(named), 6881), "tracker", now)
        for key in plan.due(now, 100_000):
            failed = Observation(SW, key[1], key[2], "tracker", now, now + 1, Tier.LISTED,
                                 Failure.CONNECT_TIMEOUT.value)  # fmt: skip
            plan.finished(key, failed, now + 1)
    assert len(plan.peers) <= plan.policy.max_peers_per_swarm == 3_000  # the stated bound, not a looser one
