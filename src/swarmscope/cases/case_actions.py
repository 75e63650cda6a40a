"""Workflow actions on one case: the moves a person records, each with the checks it needs, then the write.

Every front end (the command line now, a web console later) calls these functions, so a case moved
through either passes the same gates and ends in the same stored state. Each takes the store, the acting
person (``actor``, never blank: the case events and the audit trail name who decided) and the time of
the decision (``now_us``, UTC microseconds); the front end owns the clock, these functions read none.

The move itself is always :func:`move_case`: the pure transition table
(:func:`swarmscope.cases.workflow.next_case_status`) runs inside the store's write transaction, so a
refused move writes nothing. Decisions counsel records directly are :data:`DECISIONS`; every other event
has its own action that checks what the step needs (:data:`ROUTES` names it).
"""

from __future__ import annotations

from swarmscope.cases.case_proof import UnprovenCase, require_proven
from swarmscope.cases.case_state import DECISION_STATUS, require_status, seal_case_decision
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.identities import has_control
from swarmscope.cases.received import check_received
from swarmscope.cases.sealed_history import DISPUTE, dispute_content, litigation_problem, seal_step
from swarmscope.cases.workflow import CaseEvent, next_case_status
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.workflow_seals import ESCALATED, signer, workflow_history

MAX_DISPUTE_CHARS = 4000  # a summary of what is disputed; the recipient's letter stays with counsel
DECISIONS = frozenset({"withdraw", "close", "counsel_escalate"})
"""Counsel's decisions, recorded directly on a case (:func:`record_decision`)."""
ROUTES = {
    "request": "use `swarmscope isps request ISP --status served`",
    "identify": "use `swarmscope subscribers import`",
    "draft": "use `swarmscope letters draft`",
    "approve": "use `swarmscope letters approve`",
    "send": "use `swarmscope letters send`",
    "expire": "use `swarmscope letters expire` (it checks the deadline)",
    "pay": "use `swarmscope payments record`",
    "dispute": "use `swarmscope disputes record`",
    "escalate": "use `swarmscope escalations mark`",
}
"""Event name → the action that records it (with its checks) instead of a bare decision."""


def move_case(
    store: Store, case: int | str, event: CaseEvent | str, actor: str, note: str | None, now_us: int
) -> case_rows.CaseRow:
    """Apply a workflow event to a case (row id or DOE number); the rule runs in the write transaction.

    Raises:
        WorkflowError: the transition table refuses the move (nothing written). StoreError: unknown case,
            blank actor.
    """
    return case_status.set_case_status(store, case, event, actor, note, now_us, rule=next_case_status)


def decision_refusal(name: str) -> str | None:
    """None when ``name`` is one of :data:`DECISIONS`; else where that event is recorded instead."""
    return None if name in DECISIONS else ROUTES.get(name, "unknown event")


def record_decision(
    store: Store, case: int | str, name: str, actor: str, note: str | None, now_us: int
) -> case_rows.CaseRow:
    """Record counsel's decision (withdraw, close, counsel_escalate) on a case, naming who decided; the
    decision is sealed with the node's key (``case_decision`` or ``escalated``: :mod:`swarmscope.cases.
    case_state`).

    Raises:
        InputError: ``name`` is not a decision (the message names the action that records it).
        WorkflowError: the case cannot take it in its status. StoreError: unknown case, no signing key
            (nothing written).
    """
    refusal = decision_refusal(name)
    if refusal is not None:
        raise InputError(f"{name!r} is not a decision recorded directly: {refusal}")
    signer(store, name)  # every decision is sealed: refused before anything is written
    row = move_case(store, case, name, actor, note, now_us)
    if name in DECISION_STATUS:
        seal_case_decision(store, row, name, now_us)
    else:
        seal_step(store, row, ESCALATED, {"event": "counsel_escalate"}, now_us)
    return row


def record_dispute(
    store: Store, doe: str, summary: str, *, received_us: int, actor: str, now_us: int
) -> letter_store.DisputeRow:
    """Record a dispute, void the case's unsent letters and move the case to ``disputed``.

    From then on no letter of any kind leaves for the case (:func:`swarmscope.cases.workflow.
    may_send_letter`); only counsel's decision (``counsel_escalate``) or a payment moves it on.

    Raises:
        InputError: empty summary, one longer than :data:`MAX_DISPUTE_CHARS`, or one holding a control,
            bidi or line-separator character (it is
            printed on the case's documents and terminal lines; :func:`~swarmscope.cases.identities.
            has_control`, line breaks allowed), or ``received_us`` before the case was opened or after
            today's date at UTC+14 (:func:`~swarmscope.cases.received.check_received`).
            WorkflowError: no letter was drafted (nothing to dispute) or the case is closed, paid,
            escalated or already disputed. StoreError: unknown case.
    """
    if not summary.strip():
        raise InputError("dispute summary: say what the recipient disputes")
    if len(summary) > MAX_DISPUTE_CHARS:
        raise InputError(f"dispute summary: at most {MAX_DISPUTE_CHARS} characters (a summary)")
    if has_control(summary, line_breaks=True):
        raise InputError("dispute summary: contains a control, bidi or line-separator character")
    case = case_status.get_case(store, doe)
    check_received(received_us, now_us, case.created_us, "the case was opened")
    next_case_status(case.status, CaseEvent.DISPUTE)  # refuse before writing anything
    signer(store, "recording a dispute")
    row = letter_store.add_dispute(store, case.id, received_us, summary, now_us)
    seal_step(store, case, DISPUTE, dispute_content(row), now_us)
    move_case(store, case.id, CaseEvent.DISPUTE, actor, f"dispute {row.id} received", now_us)
    return row


def escalate_case(
    store: Store,
    doe: str,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None,
    policy: DocumentPolicy = COURT_TESTED,
) -> case_rows.CaseRow:
    """Put a case with no response on the litigation list (no_response → escalated), its evidence proven
    and re-judged under ``policy`` (the case's build note only tightens it).

    The sealed history must carry it too (:func:`swarmscope.cases.sealed_history.litigation_problem`: a
    proven sent letter past its deadline, no proven payment settling it, no proven dispute); the decision
    is sealed (``escalated``).

    Raises:
        UnprovenCase: the case's proven evidence or its sealed history does not carry it (nothing
            written). WorkflowError: not in no_response. StoreError: unknown case, no signing key.
    """
    case = case_status.get_case(store, doe)
    trusted = store_trust(store, trust)
    require_proven(store, case, trusted, policy)
    next_case_status(case.status, CaseEvent.ESCALATE)  # the workflow's refusal first (nothing written)
    history = workflow_history(store, trusted)
    why = litigation_problem(store, case, history, now_us, escalation=False, trust=trusted)
    if why is not None:
        raise UnprovenCase(why)
    require_status(store, case, trusted)
    signer(store, "escalation")
    row = move_case(store, case.id, CaseEvent.ESCALATE, actor, "put on the litigation list", now_us)
    seal_step(store, case, ESCALATED, {"event": "escalate"}, now_us)
    return row
