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
HEAVY = Observation(  # one genuine block beside ~4 MiB of junk
    "00" * 20,
    IP,
    6881,
    "inbound",
    0,
    1,
    Tier.VERIFIED,
    bytes_received=16_384,
    wire_bytes_in=16_384 + 4 * MIB - 1,
)


def test_heavy_verified_inbound_probes_of_one_host_are_not_all_sealed() -> None:
    throttle = SealThrottle(120.0)
    heavy = HEAVY
    sealed = sum(throttle.allow(IP, SWARM, True, float(t), heavy) for t in range(600))  # one a second
    assert sealed <= 10, f"{sealed} heavy probes of one (IP, swarm) sealed in 10 minutes"


def test_light_verified_probes_are_sealed_once_per_interval_and_do_not_undo_the_doubling() -> None:
    """A light verified probe (at most 1 MiB besides piece payload) is sealed once per interval of its
    (IP, swarm), as outbound re-probes take a hit: a seeder dialling in every second with genuine blocks
    and junk just under the bound gets 720 a day, not 86,400. A heavy verified probe counts as a heavy
    unverified one does (240 s, 480 s, ...), and light ones in between do not end that doubling."""
    throttle = SealThrottle(120.0)
    heavy = HEAVY
    light = dataclasses.replace(heavy, wire_bytes_in=16_384 + HEAVY_OVERHEAD)
    assert throttle.allow(IP, SWARM, True, 0.0, heavy)
    assert throttle.allow(IP, SWARM, True, 1.0, light)  # the first light one: its own timer
    assert not any(throttle.allow(IP, SWARM, True, float(t), light) for t in range(2, 121))
    assert throttle.allow(IP, SWARM, True, 121.0, light)
    others = [dataclasses.replace(light, peer_id=bytes([i]) * 20) for i in range(1, 5)]
    sealed = [throttle.allow(IP, SWARM, True, 122.0 + i, other) for i, other in enumerate(others)]
    assert sealed == [True, True, True, False]  # clients behind one address: 4 per interval in all
    assert not throttle.allow(IP, SWARM, True, 200.0, heavy)  # one heavy sealed: 240 s
    assert not throttle.allow(IP, SWARM, False, 239.0)  # nor an unverified one
    assert throttle.allow(IP, SWARM, True, 240.0, heavy)
    assert throttle.allow(IP, SWARM, True, 241.0, light)  # light ones never end the doubling:
    assert not throttle.allow(IP, SWARM, True, 719.0, heavy)  # two heavy: 480 s
    assert throttle.allow(IP, SWARM, True, 720.0, heavy)


def test_a_day_of_alternating_blocks_and_junk_stores_a_bounded_amount() -> None:
    """One connection a second for a day, light and heavy verified probes alternating: at most one light
    probe per 120 s and the heavy ones' doubling (10 the first day)."""
    throttle = SealThrottle(120.0)
    heavy = HEAVY
    light = dataclasses.replace(heavy, wire_bytes_in=16_384 + HEAVY_OVERHEAD)
    sealed = [
        (t % 2, throttle.allow(IP, SWARM, True, float(t), heavy if t % 2 else light)) for t in range(86_400)
    ]
    assert sum(ok for kind, ok in sealed if kind == 0) <= 720
    assert sum(ok for kind, ok in sealed if kind == 1) <= 10


def test_a_day_of_light_probes_under_new_peer_ids_stores_at_most_four_per_interval() -> None:
    """A new peer id per connection does not lift the bound: 4 per interval of one (IP, swarm)."""
    throttle = SealThrottle(120.0)
    light = dataclasses.replace(HEAVY, wire_bytes_in=16_384 + HEAVY_OVERHEAD)
    sealed = sum(
        throttle.allow(IP, SWARM, True, float(t), dataclasses.replace(light, peer_id=t.to_bytes(20)))
        for t in range(86_400)
    )
    assert sealed <= 4 * 720
