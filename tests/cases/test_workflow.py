"""The case and disclosure-request transition tables: every pair is either a row or a WorkflowError."""

from __future__ import annotations

import itertools

import pytest

from swarmscope.cases.workflow import (
    ACTOR_EVENTS,
    CASE_TRANSITIONS,
    REQUEST_TRANSITIONS,
    CaseEvent,
    CaseStatus,
    RequestStatus,
    WorkflowError,
    may_send_letter,
    next_case_status,
    next_request_status,
)

S, E, R = CaseStatus, CaseEvent, RequestStatus


@pytest.mark.parametrize(("status", "event"), list(itertools.product(CaseStatus, CaseEvent)))
def test_every_case_pair_moves_or_raises_naming_both(status: CaseStatus, event: CaseEvent) -> None:
    allowed = CASE_TRANSITIONS.get((status, event))
    if allowed is not None:
        assert next_case_status(status, event, actor="counsel@example") is allowed
        assert next_case_status(status.value, event.value, actor="counsel@example") is allowed
    else:
        with pytest.raises(WorkflowError) as info:
            next_case_status(status, event, actor="counsel@example")
        assert repr(status.value) in str(info.value)
        assert repr(event.value) in str(info.value)


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (S.CANDIDATE, E.REQUEST, S.REQUESTED),
        (S.REQUESTED, E.IDENTIFY, S.IDENTIFIED),
        (S.IDENTIFIED, E.DRAFT, S.DRAFTED),
        (S.DRAFTED, E.APPROVE, S.APPROVED),
        (S.APPROVED, E.SEND, S.SENT),
        (S.SENT, E.PAY, S.PAID),
        (S.SENT, E.DISPUTE, S.DISPUTED),
        (S.DRAFTED, E.DISPUTE, S.DISPUTED),  # an early objection (review M7)
        (S.APPROVED, E.DISPUTE, S.DISPUTED),
        (S.SENT, E.EXPIRE, S.NO_RESPONSE),
        (S.NO_RESPONSE, E.ESCALATE, S.ESCALATED),
        (S.DISPUTED, E.COUNSEL_ESCALATE, S.ESCALATED),
        (S.PAID, E.CLOSE, S.CLOSED),
        (S.DISPUTED, E.WITHDRAW, S.WITHDRAWN),
        (S.WITHDRAWN, E.CLOSE, S.CLOSED),
    ],
)
def test_the_path_of_the_issue(status: CaseStatus, event: CaseEvent, expected: CaseStatus) -> None:
    assert next_case_status(status, event, actor="a") is expected


@pytest.mark.parametrize("status", [s for s in CaseStatus if s is not S.APPROVED])
def test_sent_only_from_approved(status: CaseStatus) -> None:
    with pytest.raises(WorkflowError, match="'send'"):
        next_case_status(status, E.SEND, actor="a")


def test_approval_only_from_drafted() -> None:
    assert {s for (s, e) in CASE_TRANSITIONS if e is E.APPROVE} == {S.DRAFTED}


def test_escalation_only_from_no_response_or_by_counsel_after_dispute() -> None:
    assert {s for (s, e), t in CASE_TRANSITIONS.items() if t is S.ESCALATED} == {S.NO_RESPONSE, S.DISPUTED}
    assert {s for (s, e) in CASE_TRANSITIONS if e is E.ESCALATE} == {S.NO_RESPONSE}
    with pytest.raises(WorkflowError):
        next_case_status(S.DISPUTED, E.ESCALATE, actor="a")


@pytest.mark.parametrize("event", sorted(ACTOR_EVENTS))
@pytest.mark.parametrize("actor", [None, "", "   "])
def test_decisions_need_an_actor(event: CaseEvent, actor: str | None) -> None:
    status = next(s for (s, e) in CASE_TRANSITIONS if e is event)
    with pytest.raises(WorkflowError, match="actor"):
        next_case_status(status, event, actor=actor)


def test_ordinary_events_need_no_actor() -> None:
    assert next_case_status(S.SENT, E.EXPIRE) is S.NO_RESPONSE


def test_a_dispute_may_arrive_once_a_letter_exists_and_before_it_is_paid_or_escalated() -> None:
    assert {s for (s, e) in CASE_TRANSITIONS if e is E.DISPUTE} == {
        S.DRAFTED, S.APPROVED, S.SENT, S.NO_RESPONSE,
    }  # fmt: skip
    for status in (S.CANDIDATE, S.REQUESTED, S.IDENTIFIED, S.PAID, S.ESCALATED, S.DISPUTED, S.CLOSED):
        with pytest.raises(WorkflowError, match="'dispute'"):
            next_case_status(status, E.DISPUTE)


def test_paid_only_closes() -> None:
    assert [e for (s, e) in CASE_TRANSITIONS if s is S.PAID] == [E.CLOSE]


def test_closed_is_final() -> None:
    assert not [e for (s, e) in CASE_TRANSITIONS if s is S.CLOSED]


def test_letters_before_approval_and_after_a_dispute_are_refused() -> None:
    allowed = {s for s in CaseStatus if may_send_letter(s)}
    assert allowed == {S.APPROVED, S.SENT, S.NO_RESPONSE}
    for status in (S.DISPUTED, S.ESCALATED, S.PAID, S.WITHDRAWN, S.CLOSED, S.DRAFTED):
        assert may_send_letter(status.value) is False


def test_no_path_from_disputed_back_to_a_letter_status() -> None:
    """From disputed onward no sequence of events reaches a status in which a letter may go out."""
    seen, todo = {S.DISPUTED}, [S.DISPUTED]
    while todo:
        here = todo.pop()
        for (s, _e), t in CASE_TRANSITIONS.items():
            if s is here and t not in seen:
                seen.add(t)
                todo.append(t)
    assert not any(may_send_letter(s) for s in seen)


@pytest.mark.parametrize("text", ["approved!", "", "APPROVE"])
def test_unknown_values_raise_workflow_error(text: str) -> None:
    with pytest.raises(WorkflowError, match="unknown"):
        next_case_status(text, E.SEND)
    with pytest.raises(WorkflowError, match="unknown"):
        next_case_status(S.DRAFTED, text)
    with pytest.raises(WorkflowError, match="unknown"):
        may_send_letter(text)
    with pytest.raises(WorkflowError, match="unknown"):
        next_request_status(R.DRAFTED, text)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RequestStatus, RequestStatus)))
def test_every_request_pair_moves_or_raises_naming_both(
    current: RequestStatus, target: RequestStatus
) -> None:
    if (current, target) in REQUEST_TRANSITIONS:
        assert next_request_status(current.value, target.value) is target
    else:
        with pytest.raises(WorkflowError) as info:
            next_request_status(current, target)
        assert repr(current.value) in str(info.value) and repr(target.value) in str(info.value)


def test_request_path_of_the_issue() -> None:
    for target in (R.COMPLIED, R.PARTIALLY_COMPLIED, R.CONTESTED, R.QUASHED):
        assert next_request_status(next_request_status(R.DRAFTED, R.SERVED), target) is target
    assert not [t for (c, t) in REQUEST_TRANSITIONS if c in (R.COMPLIED, R.QUASHED)]
