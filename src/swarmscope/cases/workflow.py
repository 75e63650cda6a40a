"""The legal workflow as transition tables (pure): case statuses and disclosure-request statuses.

Modelled on h11: every allowed move is one row of a table; any other (status, event) pair raises
:class:`WorkflowError` naming both. No I/O, no clock: the store records *when* and *who*.

**Cases.** ``candidate → requested → identified → drafted → approved → sent → paid | disputed |
no_response → escalated | withdrawn; closed``. Rules built into the table:

- Human approval is the explicit event ``approve`` and needs a non-empty ``actor`` (the person who
  approved); it is only possible from ``drafted``. ``send`` is only possible from ``approved``.
- A dispute stops further letters: :func:`may_send_letter` is False from ``disputed`` onward; a disputed
  case may still be paid (a settlement), withdrawn or closed. A dispute may arrive before the letter left
  (an early objection, from ``drafted`` or ``approved``): it stops the drafted / approved letter too (the
  store voids its approval, see :mod:`swarmscope.store.legal.letters`).
- Escalation (``escalate``) only from ``no_response``. A *disputed* case is escalated only by the separate
  event ``counsel_escalate`` — an explicit decision by counsel after reviewing the dispute (it needs an
  actor too), so a dispute never slides into litigation by the ordinary path.
- ``pay`` closes the money side: from ``paid`` the only move is ``close``. The store treats ``paid``,
  ``withdrawn`` and ``closed`` as closing statuses (:data:`CLOSING_STATUSES`, ``closed_us`` is set).
- ``withdraw`` and ``close`` are possible from every open status (never from ``closed``).
- ``approved → draft → drafted`` revises a letter: the approval is void and must be given again.

**Disclosure requests.** ``drafted → served → complied | partially_complied | contested | quashed``.
A contested request ends as the court rules (``complied``, ``partially_complied`` or ``quashed``); a
partial compliance may later become ``complied``. ``complied`` and ``quashed`` are final.

Source: README "Cases" (the transition table) and "Letters"; README "The legal workflow" (ISP request
statuses).
"""

from __future__ import annotations

import enum
from typing import TypeVar

from swarmscope.errors import SwarmscopeError


class WorkflowError(SwarmscopeError):
    """A forbidden workflow move: the message names the current status and the event or target."""


class CaseStatus(enum.StrEnum):
    """Status of a legal case (``legal_case.status``)."""

    CANDIDATE = "candidate"  # passed the thresholds; nothing asked yet
    REQUESTED = "requested"  # in a disclosure request served on the ISP
    IDENTIFIED = "identified"  # the ISP disclosed the account holder (stored encrypted, apart)
    DRAFTED = "drafted"  # a letter is drafted
    APPROVED = "approved"  # a human approved the letter
    SENT = "sent"  # the letter left
    PAID = "paid"  # payment received (closing)
    DISPUTED = "disputed"  # the recipient disputes: no further letters
    NO_RESPONSE = "no_response"  # the deadline passed without payment or dispute
    ESCALATED = "escalated"  # on the litigation list
    WITHDRAWN = "withdrawn"  # dropped by the rights holder (closing)
    CLOSED = "closed"  # final


class CaseEvent(enum.StrEnum):
    """What happened to a case; the event names are verbs, the statuses are past participles."""

    REQUEST = "request"  # a disclosure request naming it was served
    IDENTIFY = "identify"  # a disclosure matched it to an account
    DRAFT = "draft"  # a letter was drafted (or revised)
    APPROVE = "approve"  # human approval (actor required)
    SEND = "send"  # the approved letter was sent
    PAY = "pay"  # payment recorded
    DISPUTE = "dispute"  # dispute recorded
    EXPIRE = "expire"  # the letter's deadline passed with no answer
    ESCALATE = "escalate"  # to litigation, after no response
    COUNSEL_ESCALATE = "counsel_escalate"  # to litigation despite a dispute: counsel's decision (actor)
    WITHDRAW = "withdraw"
    CLOSE = "close"


class RequestStatus(enum.StrEnum):
    """Status of a disclosure request to an ISP (``disclosure_request.status``)."""

    DRAFTED = "drafted"
    SERVED = "served"
    COMPLIED = "complied"
    PARTIALLY_COMPLIED = "partially_complied"
    CONTESTED = "contested"
    QUASHED = "quashed"


_S, _E = CaseStatus, CaseEvent
_OPEN = tuple(s for s in CaseStatus if s not in (_S.CLOSED,))

CASE_TRANSITIONS: dict[tuple[CaseStatus, CaseEvent], CaseStatus] = {
    (_S.CANDIDATE, _E.REQUEST): _S.REQUESTED,
    (_S.REQUESTED, _E.IDENTIFY): _S.IDENTIFIED,
    (_S.IDENTIFIED, _E.DRAFT): _S.DRAFTED,
    (_S.DRAFTED, _E.DRAFT): _S.DRAFTED,
    (_S.DRAFTED, _E.APPROVE): _S.APPROVED,
    (_S.APPROVED, _E.DRAFT): _S.DRAFTED,
    (_S.APPROVED, _E.SEND): _S.SENT,
    (_S.DRAFTED, _E.DISPUTE): _S.DISPUTED,  # an early objection stops the drafted letter
    (_S.APPROVED, _E.DISPUTE): _S.DISPUTED,  # ... and an approved one before it leaves
    (_S.SENT, _E.PAY): _S.PAID,
    (_S.SENT, _E.DISPUTE): _S.DISPUTED,
    (_S.SENT, _E.EXPIRE): _S.NO_RESPONSE,
    (_S.NO_RESPONSE, _E.PAY): _S.PAID,
    (_S.NO_RESPONSE, _E.DISPUTE): _S.DISPUTED,
    (_S.NO_RESPONSE, _E.ESCALATE): _S.ESCALATED,
    (_S.DISPUTED, _E.PAY): _S.PAID,
    (_S.DISPUTED, _E.COUNSEL_ESCALATE): _S.ESCALATED,
    (_S.ESCALATED, _E.PAY): _S.PAID,
    **{(s, _E.WITHDRAW): _S.WITHDRAWN for s in _OPEN if s not in (_S.PAID, _S.WITHDRAWN)},
    **{(s, _E.CLOSE): _S.CLOSED for s in _OPEN},
}
"""Every allowed (status, event) → next status; anything else is a :class:`WorkflowError`."""

ACTOR_EVENTS: frozenset[CaseEvent] = frozenset({_E.APPROVE, _E.COUNSEL_ESCALATE})
"""Events that are a person's decision: they need a non-empty actor."""

CLOSING_STATUSES: frozenset[CaseStatus] = frozenset({_S.PAID, _S.WITHDRAWN, _S.CLOSED})
"""Statuses that close a case (``legal_case.closed_us`` is set; retention counts from there)."""

LETTER_STATUSES: frozenset[CaseStatus] = frozenset({_S.APPROVED, _S.SENT, _S.NO_RESPONSE})
"""Statuses in which a letter may go out: the approved initial letter, then reminders."""

_R = RequestStatus
REQUEST_TRANSITIONS: frozenset[tuple[RequestStatus, RequestStatus]] = frozenset(
    {
        (_R.DRAFTED, _R.SERVED),
        (_R.SERVED, _R.COMPLIED),
        (_R.SERVED, _R.PARTIALLY_COMPLIED),
        (_R.SERVED, _R.CONTESTED),
        (_R.SERVED, _R.QUASHED),
        (_R.CONTESTED, _R.COMPLIED),
        (_R.CONTESTED, _R.PARTIALLY_COMPLIED),
        (_R.CONTESTED, _R.QUASHED),
        (_R.PARTIALLY_COMPLIED, _R.COMPLIED),
    }
)
"""Every allowed (current, target) pair of a disclosure request."""

ANSWERED_REQUEST_STATUSES: frozenset[RequestStatus] = frozenset(
    {_R.COMPLIED, _R.PARTIALLY_COMPLIED, _R.CONTESTED, _R.QUASHED}
)
"""Statuses that count as the ISP (or a court) having answered a served request."""


_T = TypeVar("_T", CaseStatus, CaseEvent, RequestStatus)


def _coerce(kind: type[_T], value: str, what: str) -> _T:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise WorkflowError(f"unknown {what} {value!r} (known: {known})") from None


def case_status(value: str) -> CaseStatus:
    """Parse a stored or typed case status. Raises WorkflowError naming the unknown value."""
    return _coerce(CaseStatus, value, "case status")


def case_event(value: str) -> CaseEvent:
    """Parse a typed case event. Raises WorkflowError naming the unknown value."""
    return _coerce(CaseEvent, value, "case event")


def request_status(value: str) -> RequestStatus:
    """Parse a stored or typed request status. Raises WorkflowError naming the unknown value."""
    return _coerce(RequestStatus, value, "request status")


def next_case_status(
    current: CaseStatus | str, event: CaseEvent | str, actor: str | None = None
) -> CaseStatus:
    """The status a case moves to when ``event`` happens in ``current``.

    Args:
        current: the case's status. event: what happened (a :class:`CaseEvent` or its value).
        actor: who decided; required (non-blank) for the events in :data:`ACTOR_EVENTS`.

    Returns:
        The next :class:`CaseStatus`.

    Raises:
        WorkflowError: unknown status/event, a pair not in :data:`CASE_TRANSITIONS` (the message names
            both), or an approval / counsel decision without an actor.

    Source: README "Letters" and "Cases" (no letter leaves without a recorded human approval; a dispute
    stops letters).
    """
    status, what = case_status(current), case_event(event)
    target = CASE_TRANSITIONS.get((status, what))
    if target is None:
        raise WorkflowError(f"case event {what.value!r} is not allowed in status {status.value!r}")
    if what in ACTOR_EVENTS and not (actor and actor.strip()):
        raise WorkflowError(f"case event {what.value!r} in status {status.value!r} needs the deciding actor")
    return target


def may_send_letter(status: CaseStatus | str) -> bool:
    """True when a letter (the approved initial one or a reminder) may go out in ``status``.

    False before approval and from ``disputed`` onward (paid, escalated, withdrawn, closed too).

    Raises:
        WorkflowError: unknown status.
    """
    return case_status(status) in LETTER_STATUSES


def next_request_status(current: RequestStatus | str, target: RequestStatus | str) -> RequestStatus:
    """Check a disclosure request's move from ``current`` to ``target``; returns ``target``.

    Raises:
        WorkflowError: unknown status, or a pair not in :data:`REQUEST_TRANSITIONS` (naming both).

    Source: README "The legal workflow", ``isps request`` (drafted → served → complied | partially
    complied | contested | quashed).
    """
    now, then = request_status(current), request_status(target)
    if (now, then) not in REQUEST_TRANSITIONS:
        raise WorkflowError(f"disclosure request cannot move from {now.value!r} to {then.value!r}")
    return then
