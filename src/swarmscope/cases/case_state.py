"""A case's status as its sealed history makes it: every gate reads this, never the status column alone.

``legal_case.status`` is a plain column: someone who can write the database file but lacks the node's key
could set a withdrawn case back to ``escalated`` (the litigation list) or ``requested`` (a notice, an
exhibit line), a paid or disputed case back to ``approved`` (the same demand again), or an open case to
``withdrawn`` (its evidence purged). So counsel's decisions that end a case (``withdraw``, ``close``) are
sealed as ``case_decision`` workflow events bound to the case (:func:`swarmscope.cases.sealed_history.
bound`: DOE number, infohash, IP, port), beside the sealed sending, payment, dispute and escalation
(:mod:`swarmscope.cases.sealed_history`). From the events PROVEN under the trusted keys
(:class:`SealedState`) follow the statuses the column may hold (:func:`allowed_statuses`); a column
outside them is refused by name, "status altered" (:func:`status_problem`), as ``report`` says
"altered" for rows (and every case, "ledger incomplete", while the trusted chains are not whole: a hidden
event may be any case's; :meth:`swarmscope.store.legal.workflow_seals.WorkflowHistory.refusal`):

- a sealed ``close`` (``withdraw``) allows only ``closed`` (``withdrawn``); without one, neither, once
  any event of the case is sealed (its request link, approval, sending, payment, dispute, escalation);
- in a case with any sealed event, ``paid`` and ``disputed`` need their sealed payment and dispute,
  ``sent`` a sealed sending, ``no_response`` a sealed expiry after the newest sealed sending
  (``escalated`` needs a sealed escalation, which the litigation list checks in its own words:
  :func:`swarmscope.cases.sealed_history.litigation_problem`);
- without a proven identification (:mod:`swarmscope.cases.identity_seal`) the column cannot say
  ``identified`` or any later open status (``drafted`` .. ``escalated``): an identity and status written
  without the node key never reach a letter; after one it cannot go back to ``candidate`` or
  ``requested``; after a sealed sending or payment it cannot go back before sending
  (``candidate`` .. ``approved``); after a sealed dispute only ``disputed``, ``escalated`` (counsel) or
  ``paid``; after a sealed escalation only ``escalated`` or ``paid``.

Statuses before the first letter (``candidate`` .. ``approved``) are not sealed; the letter's sealed
approval guards ``approved``. A case with sealed events, withdrawn or closed without a sealed decision
(by a store without the key, or before decisions were sealed), is refused: it is never laundered by
sealing it afterwards, and it keeps its evidence (:func:`holds_evidence`). A case with NO sealed event (a
candidate ``cases build`` withdrew, which runs without the signing key; a case from before revision
0008) keeps the documented rule for ``candidate``, ``requested``, ``withdrawn`` and ``closed``: its
column is taken as it stands. The documents, letters and the
litigation list run :func:`split_altered`, :func:`require_status` or :func:`status_problem` beside the
evidence gate (:mod:`swarmscope.cases.case_proof`). Letters also go out only while the sealed rows agree
and no sealed dispute, payment in full or earlier sending stops them (:func:`sending_problem`).

Source: README "Sealed workflow decisions"; the transition table of :mod:`swarmscope.cases.workflow`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.identity_seal import IDENTIFIED
from swarmscope.cases.sealed_history import (
    DISPUTE,
    EXPIRED,
    PAYMENT,
    SENT,
    bound,
    dispute_content,
    matched_rows,
    payment_content,
    seal_step,
    sent_content,
)
from swarmscope.cases.workflow import CaseStatus
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.workflow_seals import (
    CASE_BUILT,
    CASE_DECISION,
    ESCALATED,
    WorkflowHistory,
    content_sha256,
    workflow_history,
)

_S = CaseStatus
DECISION_STATUS = {"withdraw": _S.WITHDRAWN, "close": _S.CLOSED}
"""Counsel's sealed case decisions and the status each leaves the case in."""
BEFORE_SENDING = frozenset({_S.CANDIDATE, _S.REQUESTED, _S.IDENTIFIED, _S.DRAFTED, _S.APPROVED})
IDENTIFIED_ON = frozenset(set(CaseStatus) - {_S.CANDIDATE, _S.REQUESTED, _S.WITHDRAWN, _S.CLOSED})
"""The statuses only a case with a proven identification may hold."""
ALTERED = "status altered"


def decision_sha256(case: CaseRow, event: str) -> bytes:
    """The SHA-256 a ``case_decision`` event of ``case`` seals for ``event`` (``withdraw``, ``close``)."""
    return content_sha256(CASE_DECISION, bound(case, {"event": event}))


def seal_case_decision(store: Store, case: CaseRow, event: str, now_us: int) -> None:
    """Seal counsel's ``event`` (``withdraw``, ``close``) on ``case`` with the node's key.

    Raises:
        StoreError: no signing key (call :func:`swarmscope.store.legal.workflow_seals.signer` before
            moving the case, so nothing is written then).
    """
    seal_step(store, case, CASE_DECISION, {"event": event}, now_us)


@dataclass(frozen=True, slots=True)
class SealedState:
    """What the proven events of one case say: counsel's newest-ranking decision (``closed`` over
    ``withdrawn``; None: none), whether an identification, sending, payment, dispute, escalation is
    sealed, whether a sealed decision was made for another case identity (``foreign``), and whether any
    event of it is sealed besides its build (``any``: a case from before sealed decisions has none; the
    ``case_built`` record decides nothing, :mod:`swarmscope.cases.case_binding`)."""

    decision: CaseStatus | None
    identified: bool
    sent: bool
    expired: bool
    paid: bool
    disputed: bool
    escalated: bool
    foreign: bool
    any: bool

    def facts(self) -> str:
        named = [("identified", self.identified), ("sent", self.sent), ("paid", self.paid),
                 ("expired", self.expired), ("disputed", self.disputed), ("escalated", self.escalated),
                 (str(self.decision), self.decision is not None)]  # fmt: skip
        return ", ".join(name for name, on in named if on) or "none"


def sealed_state(history: WorkflowHistory, case: CaseRow) -> SealedState:
    """The :class:`SealedState` of ``case`` under ``history`` (events found by its DOE number)."""
    doe = case.doe
    mine = {decision_sha256(case, event): status for event, status in DECISION_STATUS.items()}
    decided = [mine.get(p.event.sha256) for p in history.of(doe, CASE_DECISION)]
    decision = _S.CLOSED if _S.CLOSED in decided else _S.WITHDRAWN if _S.WITHDRAWN in decided else None
    return SealedState(
        decision, bool(history.of(doe, IDENTIFIED)), bool(history.of(doe, SENT)), expiry_sealed(history, doe),
        bool(history.of(doe, PAYMENT)), bool(history.of(doe, DISPUTE)), bool(history.of(doe, ESCALATED)),
        None in decided, any(p.event.step != CASE_BUILT for p in history.events.get(doe, ())),
    )  # fmt: skip


def expiry_sealed(history: WorkflowHistory, doe: str) -> bool:
    """A proven expiry of ``doe`` no later than its newest proven sending (a reminder sent after an expiry
    makes the case ``sent`` again)."""
    expiry, sending = history.latest(doe, EXPIRED), history.latest(doe, SENT)
    if expiry is None:
        return False
    return sending is None or (expiry.event.at_us, expiry.index) >= (sending.event.at_us, sending.index)


def allowed_statuses(state: SealedState) -> frozenset[CaseStatus]:
    """The statuses a case's column may hold under its sealed events (module docstring)."""
    if state.decision is not None:
        return frozenset({state.decision})
    allowed = set(CaseStatus) - ({_S.WITHDRAWN, _S.CLOSED} if state.any else set())
    if state.any:  # a case from before sealed decisions keeps its unsealed sending, payment, dispute
        needs = ((_S.PAID, state.paid), (_S.DISPUTED, state.disputed), (_S.SENT, state.sent))
        allowed -= {status for status, sealed in needs if not sealed}
        if not state.expired:
            allowed.discard(_S.NO_RESPONSE)
    if state.identified:
        allowed -= {_S.CANDIDATE, _S.REQUESTED}
    else:
        allowed -= IDENTIFIED_ON
    if state.sent or state.paid:
        allowed -= BEFORE_SENDING
    if state.disputed:
        allowed &= {_S.DISPUTED, _S.ESCALATED, _S.PAID}
    if state.escalated:
        allowed &= {_S.ESCALATED, _S.PAID}
    return frozenset(allowed)


def status_problem(history: WorkflowHistory, case: CaseRow) -> str | None:
    """Why ``case``'s status column is not what its proven sealed events allow (None: it is); while the
    trusted chains are not whole, "ledger incomplete" (:meth:`WorkflowHistory.refusal`) for every case.
    Whether the row is the identity its DOE number was built for is judged beside it
    (:func:`swarmscope.cases.case_binding.binding_problem`)."""
    incomplete = history.refusal(case.doe)
    if incomplete is not None:
        return incomplete
    state = sealed_state(history, case)
    doe = case.doe
    if state.foreign:
        why = f"a sealed withdraw or close of {doe} was decided for another case identity"
        return f"{doe}: refused: {ALTERED} ({why})"
    allowed = allowed_statuses(state)
    if case.status in allowed:
        return None
    if case.status in (_S.WITHDRAWN, _S.CLOSED) and state.decision is None:
        why = (
            f"it says {case.status!r}, but no withdraw or close of it is sealed by a trusted node key "
            "(changed without the key, or decided before such decisions were sealed)"
        )
    elif case.status in IDENTIFIED_ON and not state.identified:
        why = (
            f"it says {case.status!r}, but no identification of it is sealed by a trusted node key: "
            "re-import the disclosure with `subscribers import`"
        )
    else:
        may = ", ".join(sorted(allowed)) or "none"
        why = f"it says {case.status!r}; its sealed decisions ({state.facts()}) allow: {may}"
    return f"{doe}: refused: {ALTERED} ({why})"


def holds_evidence(history: WorkflowHistory, case: CaseRow) -> str:
    """The status retention judges ``case`` by: its column when the sealed history agrees, else
    ``"altered"`` (never a releasing status: an open case per its sealed history keeps its evidence)."""
    return "altered" if status_problem(history, case) is not None else str(case.status)


def litigation_subjects(history: WorkflowHistory, cases: list[CaseRow]) -> list[CaseRow]:
    """The cases the litigation list judges: those whose column says ``escalated``, and those with a
    sealed escalation whose column disagrees with their sealed history (an escalated case set to
    ``withdrawn`` is named, not dropped)."""
    return [
        c
        for c in cases
        if c.status == _S.ESCALATED
        or (history.of(c.doe, ESCALATED) and status_problem(history, c) is not None)
    ]


def sending_problem(
    store: Store, history: WorkflowHistory, case: CaseRow, letter: letter_store.LetterRow
) -> str | None:
    """Why ``letter`` may not leave for ``case`` by its sealed history (None: it may): the sent letter,
    payment and dispute rows differ from the sealed ones; a sealed dispute (no further letters); a sealed
    sending and this is the initial letter (a retry never sends it twice); sealed payments settle the
    claim (the first sent letter's amount, in its currency; integer cents)."""
    doe = case.doe
    incomplete = history.refusal(doe)
    if incomplete is not None:
        return incomplete
    sent = [r for r in letter_store.list_letters(store, case_id=case.id) if r.sent_us is not None]
    _kept, problems = matched_rows(history, case, SENT, sent, sent_content)
    paid, more = matched_rows(
        history, case, PAYMENT, letter_store.list_payments(store, case.id), payment_content
    )
    _disputes, most = matched_rows(
        history, case, DISPUTE, letter_store.list_disputes(store, case.id), dispute_content
    )
    problems += more + most
    if problems:
        return f"{doe}: refused: its workflow rows differ from the sealed decisions ({'; '.join(problems)})"
    if history.of(doe, DISPUTE):
        return f"{doe}: refused: a sealed dispute exists: no further letters"
    if letter.kind == "initial" and history.of(doe, SENT):
        return f"{doe}: refused: a sealed sending of its letter exists: a retry never sends it twice"
    first = min(sent, key=lambda r: r.sent_us or 0, default=None)
    if (
        first is not None
        and sum(p.amount_cents for p in paid if p.currency == first.currency) >= first.amount_cents
    ):
        return f"{doe}: refused: sealed payments settle the claim: no further letters"
    return None


class _Named(Protocol):
    @property
    def doe(self) -> str: ...


C = TypeVar("C", bound=_Named)


def split_altered(
    store: Store, history: WorkflowHistory, cases: Sequence[C]
) -> tuple[list[C], list[tuple[str, str]]]:
    """(the ``cases`` whose stored status their sealed history allows, [(DOE number, why) for the others])
    — the documents' status gate beside :meth:`swarmscope.cases.case_proof.CaseProof.split`."""
    rows = {row.doe: row for row in case_status.list_cases(store)}
    kept: list[C] = []
    refused: list[tuple[str, str]] = []
    for case in cases:
        why = status_problem(history, rows[case.doe])
        if why is None:
            kept.append(case)
        else:
            refused.append((case.doe, why))
    return kept, refused


def require_status(store: Store, case: CaseRow, trust: EvidenceTrust | None) -> None:
    """Refuse one case whose stored status its sealed history does not allow (``trust`` None: the store's
    own node key).

    Raises:
        UnprovenCase: "status altered", naming the case and why.
    """
    why = status_problem(workflow_history(store, store_trust(store, trust)), case)
    if why is not None:
        raise UnprovenCase(why)
