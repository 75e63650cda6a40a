"""Outbound: a re-probed peer that serves one genuine block beside ~4 MiB of junk is backed off all the same.

README "Resource bounds": a probe with more than 1 MiB besides piece payload (``records.heavy_overhead``)
doubles the re-probe delay up to ``max_suspect_backoff``, whether or not it verified a block: else one
genuine block per re-probe would reset the backoff and the peer would make us store ~4 MiB every 120 s.
Only a light verified probe ends the doubling.
"""

from __future__ import annotations

import dataclasses

from swarmscope.evidence.records import HEAVY_OVERHEAD, Observation, Tier
from swarmscope.monitor.plan import ProbePlan

S = 1_000_000
SW = "ab" * 20
KEY = (SW, "127.0.0.7", 6881)
BLOCK = 16_384
HEAVY = Observation(
    SW, "127.0.0.7", 6881, "tracker", 0, 1, Tier.VERIFIED, bytes_received=BLOCK,
    wire_bytes_in=BLOCK + 4 * 1024 * 1024 - 1,
)  # fmt: skip
LIGHT = dataclasses.replace(HEAVY, wire_bytes_in=BLOCK + HEAVY_OVERHEAD)


def _waits(plan: ProbePlan, outcomes: list[Observation], now: int = 0) -> list[int]:
    """Seconds from each probe of KEY (due at ``now`` first) to the next, one outcome each."""
    waits = []
    for outcome in outcomes:
        assert KEY in plan.due(now, 100)
        plan.finished(KEY, outcome, now)
        due = plan.peers[KEY].due_us
        waits.append((due - now) // S)
        now = due
    return waits


def test_heavy_verified_probes_double_the_reprobe_delay_and_light_ones_do_not_end_it() -> None:
    plan = ProbePlan()
    plan.add(KEY, "tracker", 0)
    waits = _waits(plan, [HEAVY] * 3 + [LIGHT, HEAVY])
    assert waits == [240, 480, 960, 960, 1920]  # a light verified probe neither strikes nor forgives


def test_alternating_genuine_blocks_and_junk_does_not_escape_the_doubling() -> None:
    """Light and heavy verified probes in turn: the heavy ones' doubling goes on (capped at 6 h), so a day
    holds a bounded number of probes, as for heavy ones alone (was: one heavy per 240 s, for good)."""
    plan = ProbePlan()
    plan.add(KEY, "tracker", 0)
    waits = _waits(plan, [HEAVY, LIGHT] * 15)
    assert max(waits) == 21_600
    times = [0]
    for wait in waits:
        times.append(times[-1] + wait)
    assert sum(t < 86_400 for t in times) <= 20


def test_what_a_heavy_verified_peer_gets_probed_in_a_day_is_bounded() -> None:
    """The README's bound: at most 10 probes in the first day, 4 a day after (was one per 120 s: 720)."""
    plan = ProbePlan()
    plan.add(KEY, "tracker", 0)
    times = [0]
    for wait in _waits(plan, [HEAVY] * 30):
        times.append(times[-1] + wait)
    assert sum(t < 86_400 for t in times) <= 10
    assert sum(86_400 <= t < 2 * 86_400 for t in times) <= 4
