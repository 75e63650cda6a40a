"""A peer's first probe lingers for PEX with one policy object per run, equal to the policy it replaces."""

from __future__ import annotations

from dataclasses import replace

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.monitor import probe_runs


def test_the_lingering_policy_is_made_once_and_equals_a_fresh_one() -> None:
    policy = ProbePolicy(pieces_to_verify=2)
    made = probe_runs._lingering(policy, 3.0)
    assert made == replace(policy, pex_wait=3.0) and made.pex_wait == 3.0
    assert probe_runs._lingering(policy, 3.0) is made


def test_another_policy_object_or_wait_gets_its_own_lingering_policy() -> None:
    policy = ProbePolicy()
    made = probe_runs._lingering(policy, 3.0)
    other = probe_runs._lingering(ProbePolicy(), 3.0)  # equal, not the same object
    assert other == made and other is not made
    assert probe_runs._lingering(policy, 4.0).pex_wait == 4.0
    as_int = probe_runs._lingering(policy, 3)  # equal wait, another type: recorded as given
    assert type(as_int.pex_wait) is int
