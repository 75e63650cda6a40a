"""One host that listens on many ports must not multiply the PEX quota the README gives "one liar".

README "Resource bounds": "one liar makes us dial at most 50 addresses of its choice 3 times (150 dials)
per swarm for the whole run" (``PlanPolicy.pex_per_source``). The quota is kept per naming ``ip:port``,
and a lead that connects frees its slot and becomes a naming peer itself (BEP 11 lists come from the
peers we probe), so one host that names its own next port plus 49 dead addresses on every port fills the
swarm's whole ``pex_pending_per_swarm`` (1,000): honest PEX leads of that swarm are then refused.
"""

from __future__ import annotations

from swarmscope.evidence.records import Observation, Tier
from swarmscope.monitor.plan import PlanPolicy, ProbePlan

SW = "ab" * 20
HOST = "203.0.113.5"


def test_one_host_on_many_ports_names_at_most_its_quota_of_dead_leads() -> None:
    plan = ProbePlan(PlanPolicy())
    plan.add((SW, HOST, 6000), "tracker", 0)
    dead = 0
    for hop in range(40):
        via = f"{HOST}:{6000 + hop}"
        nxt = (SW, HOST, 6001 + hop)
        plan.add(nxt, "pex", 0, via)  # its own next port, which will connect
        dead += sum(plan.add((SW, f"198.51.{hop}.{i}", 80), "pex", 0, via) for i in range(49))
        if nxt not in plan.peers:
            break
        assert nxt in plan.due(0, 1_000)
        plan.finished(nxt, Observation(SW, HOST, nxt[2], "pex", 0, 1, Tier.CONNECTED), 0)
    assert dead <= PlanPolicy().pex_per_source, f"{dead} dead leads named by one host"
