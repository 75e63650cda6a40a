"""A capture header records its policy's fields from a dict kept per policy object, never per equal policy."""

from __future__ import annotations

from swarmscope.evidence.capture import format as capture_format
from swarmscope.evidence.probe.metadata_fetch import MetadataPolicy
from swarmscope.evidence.probe.policy import ProbePolicy


def test_the_kept_dict_is_the_policys_fields_and_a_fresh_copy_each_call() -> None:
    policy = ProbePolicy(pex_wait=2.5, pieces_to_verify=3)
    first = capture_format._policy_dict(policy)
    assert first == capture_format._policy_fields(policy)
    first[b"pex_wait"] = "tampered"  # a caller's change does not reach the next header
    assert capture_format._policy_dict(policy) == capture_format._policy_fields(policy)


def test_equal_policies_whose_fields_differ_in_type_keep_their_own_dicts() -> None:
    as_float, as_int = ProbePolicy(claims_wait=1.0), ProbePolicy(claims_wait=1)
    assert as_float == as_int  # equal dataclasses: a cache by equality would hand one the other's dict
    assert capture_format._policy_dict(as_float)[b"claims_wait"] == (1.0).hex()
    assert capture_format._policy_dict(as_int)[b"claims_wait"] == 1
    assert capture_format._policy_dict(as_float)[b"claims_wait"] == (1.0).hex()


def test_more_policies_than_kept_still_give_each_its_own_fields() -> None:
    policies = [ProbePolicy(pipeline_blocks=n) for n in range(1, 20)] + [MetadataPolicy()]
    for _round in range(2):
        for policy in policies:
            assert capture_format._policy_dict(policy) == capture_format._policy_fields(policy)
