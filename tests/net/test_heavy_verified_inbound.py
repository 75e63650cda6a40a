"""A host that serves one genuine block per connection may add ~4 MiB of junk to every inbound probe.

README "Resource bounds": what one host's junk makes us store stays bounded: a heavy probe
(``records.heavy_without_evidence``: more than 1 MiB besides piece payload) doubles the seal interval of
its (IP, swarm). But a probe that verified a block is always sealed (``SealThrottle.allow``), heavy or not,
and resets the backoff; the listener admits ``MAX_PER_IP_SWARM`` probes of one (IP, swarm) at a time
with no rate. A hostile seeder (it has the content) that dials in once a second, serves one block and
then up to the 4 MiB overhead cap of junk gets every probe sealed with its capture: ~345 GB a day.
"""

from __future__ import annotations

import pytest

from swarmscope.evidence.records import Observation, Tier
from swarmscope.net.inbound_admission import SealThrottle

MIB = 1024 * 1024
SWARM = bytes(20)
IP = "203.0.113.9"


@pytest.mark.xfail(strict=True, reason="verified probes are sealed whatever junk they carry, with no rate")
def test_heavy_verified_inbound_probes_of_one_host_are_not_all_sealed() -> None:
    throttle = SealThrottle(120.0)
    heavy = Observation(
        "00" * 20, IP, 6881, "inbound", 0, 1, Tier.VERIFIED, bytes_received=16_384,
        wire_bytes_in=16_384 + 4 * MIB - 1,
    )  # fmt: skip
    sealed = sum(throttle.allow(IP, SWARM, True, float(t), heavy) for t in range(600))  # one a second
    assert sealed <= 10, f"{sealed} heavy probes of one (IP, swarm) sealed in 10 minutes"
