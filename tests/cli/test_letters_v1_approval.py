"""A letter sent under an approval digest of v1 (the rendered letter only, no addressee bound: the digest
approvals recorded before they bound the encrypted identity) is still judged by it after sending, but only
where a v1 approval was legitimately produced: a proven ``letter_approved`` event of the case seals that
very v1 digest, and was sealed before approvals bound the addressee
(:data:`swarmscope.cases.letters.ADDRESSEE_BOUND_SINCE_US`). Otherwise the case is refused in one line,
"terms altered", naming the letter. The letters world (SQLite); the old approve and send are replayed
with the node key as the code of that time did them."""

from __future__ import annotations

import pytest

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.letter_flow import draft_letters
from swarmscope.cases.letter_history import ProvenLetters, proven_letters
from swarmscope.cases.letter_settings import frozen_settings
from swarmscope.cases.letters import ADDRESSEE_BOUND_SINCE_US, approval_digest, unbound_approval_digest
from swarmscope.cases.sealed_history import (
    APPROVED,
    SENT,
    approval_content,
    litigation_problem,
    recipient_sha256,
    seal_step,
    sent_content,
)
from swarmscope.cases.workflow import CaseEvent
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.cli.letter_world import HOUR, SETTINGS, T0, World


def _sent_under_v1(world: World, doe: str, approved_us: int, sealed_digest: str = "v1") -> str:
    """Draft ``doe``'s letter, approve it under the v1 digest at ``approved_us`` (the approval sealed over
    the ``sealed_digest`` digest, "v1" or "v2") and send it an hour later, recording and sealing both as
    the code of v1's time did; returns the v1 digest."""
    draft_letters(world.store, SETTINGS, [doe], "counsel", approved_us - HOUR)
    case = case_status.get_case(world.store, doe)
    row = letter_store.list_letters(world.store, case_id=case.id)[-1]
    facts, settings = letter_facts(world.store, case.id), frozen_settings(row.settings_json)
    v1 = unbound_approval_digest(facts, row, settings)
    v2 = approval_digest(facts, row, settings, recipient_sha256(world.store, case))
    move_case(world.store, case.id, CaseEvent.APPROVE, "alice", "approved", approved_us)
    letter_store.approve_letter(world.store, row.id, "alice", approved_us, v1)
    sealed = v1 if sealed_digest == "v1" else v2
    seal_step(world.store, case, APPROVED, approval_content(row, sealed, "alice"), approved_us)
    sent = letter_store.mark_sent(
        world.store, row.id, approved_us + HOUR, "00" * 32, None, approved_sha256=v1
    )
    seal_step(world.store, case, SENT, sent_content(sent), approved_us + HOUR)
    move_case(world.store, case.id, CaseEvent.SEND, "alice", "sent", approved_us + HOUR)
    return v1


def _proven(world: World, doe: str) -> ProvenLetters | str:
    history = workflow_history(world.store, store_trust(world.store, None))
    return proven_letters(world.store, history, case_status.get_case(world.store, doe))


def test_a_letter_approved_under_v1_before_the_addressee_was_bound_stays_proven(world: World) -> None:
    doe = world.dois[0]
    _sent_under_v1(world, doe, T0)
    proven = _proven(world, doe)
    assert isinstance(proven, ProvenLetters), proven
    assert [row.approved_by for row in proven.sent] == ["alice"]
    history = workflow_history(world.store, store_trust(world.store, None))
    why = litigation_problem(world.store, case_status.get_case(world.store, doe), history, T0 + 40 * HOUR)
    assert why is not None and "terms" not in why and "not the one approved" not in why, why


@pytest.mark.parametrize("how", ["sealed after v2", "no v1 approval sealed"])
def test_a_v1_digest_is_refused_where_no_v1_approval_can_have_produced_it(world: World, how: str) -> None:
    """An approval sealed after approvals bound the addressee cannot have been a v1 one; a sent letter
    whose v1 digest no proven approval seals was never approved under it."""
    doe = world.dois[0]
    if how == "sealed after v2":
        v1 = _sent_under_v1(world, doe, ADDRESSEE_BOUND_SINCE_US + HOUR)
    else:
        v1 = _sent_under_v1(world, doe, T0, sealed_digest="v2")
    reference = letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id)[-1]
    proven = _proven(world, doe)
    assert isinstance(proven, str) and "\n" not in proven, proven
    assert proven.startswith(f"{doe}: refused: terms altered (letter {reference.payment_reference} "), proven
    assert "v1" in proven and v1[:16] in proven, proven
    if how == "sealed after v2":
        assert "sealed at 2026-12-07T05:00:33" in proven, proven
    else:
        assert "no proven approval seals" in proven, proven
    history = workflow_history(world.store, store_trust(world.store, None))
    why = litigation_problem(world.store, case_status.get_case(world.store, doe), history, T0 + 40 * HOUR)
    assert why is not None and "v1" in why, why
