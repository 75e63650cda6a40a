"""A host that serves one genuine block per connection may add ~4 MiB of junk to every inbound probe.

README "Resource bounds": what one host's junk makes us store stays bounded: a heavy probe
(``records.heavy_overhead``: more than 1 MiB besides piece payload), verified or not, is sealed only when
the interval passed since its (IP, swarm)'s last sealed one and doubles that interval
(``SealThrottle.allow``). A verified block used to lift that: every verified probe was sealed and reset
the backoff, and the listener admits ``MAX_PER_IP_SWARM`` probes of one (IP, swarm) at a time with no
rate, so a hostile seeder (it has the content) that dials in once a second, serves one block and then up
to the 4 MiB overhead cap of junk got every probe sealed with its capture: ~345 GB a day.
"""

from __future__ import annotations

import dataclasses

from swarmscope.evidence.records import HEAVY_OVERHEAD, Observation, Tier
from swarmscope.net.inbound_admission import SealThrottle

MIB = 1024 * 1024
SWARM = bytes(20)
IP = "203.0.113.9"


def test_heavy_verified_inbound_probes_of_one_host_are_not_all_sealed() -> None:
    throttle = SealThrottle(120.0)
    heavy = Observation(
        "00" * 20, IP, 6881, "inbound", 0, 1, Tier.VERIFIED, bytes_received=16_384,
        wire_bytes_in=16_384 + 4 * MIB - 1,
    )  # fmt: skip
    sealed = sum(throttle.allow(IP, SWARM, True, float(t), heavy) for t in range(600))  # one a second
    assert sealed <= 10, f"{sealed} heavy probes of one (IP, swarm) sealed in 10 minutes"


def test_light_verified_probes_are_always_sealed_and_heavy_ones_double_the_interval() -> None:
    """An honest peer's verified probe (at most 1 MiB besides piece payload) is never dropped, even right
    after heavy ones; a heavy verified probe counts as a heavy unverified one does (240 s, 480 s, ...)."""
    throttle = SealThrottle(120.0)
    heavy = Observation(
        "00" * 20, IP, 6881, "inbound", 0, 1, Tier.VERIFIED, bytes_received=16_384,
        wire_bytes_in=16_384 + 4 * MIB - 1,
    )  # fmt: skip
    light = dataclasses.replace(heavy, wire_bytes_in=16_384 + HEAVY_OVERHEAD)
    assert throttle.allow(IP, SWARM, True, 0.0, heavy)
    assert all(throttle.allow(IP, SWARM, True, float(t), light) for t in range(1, 100))
    assert not throttle.allow(IP, SWARM, True, 100.0, heavy)  # within the interval of the last sealed one
    assert throttle.allow(IP, SWARM, True, 120.0, heavy)  # the light ones ended the doubling
    assert not throttle.allow(IP, SWARM, True, 359.0, heavy)  # one heavy since: 240 s
    assert not throttle.allow(IP, SWARM, False, 359.0)  # nor an unverified one
    assert throttle.allow(IP, SWARM, True, 360.0, heavy)
    assert not throttle.allow(IP, SWARM, True, 839.0, heavy)  # two: 480 s
    assert throttle.allow(IP, SWARM, True, 840.0, light)
