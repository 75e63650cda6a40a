"""A case's sealed workflow history: what each decision seals, and what the litigation list derives from it.

Letters, payments and disputes are plain rows; someone who can write the database file but lacks the
node's key could re-price an approved letter (and recompute ``approved_sha256``), delete a payment or a
dispute, or set a case's status to ``escalated``. So each decision is sealed as a
:class:`~swarmscope.evidence.records.WorkflowEvent` with the case's DOE number as subject
(:mod:`swarmscope.store.legal.workflow_seals`), over this content:

- ``letter_drafted``: the letter's terms as drafted (:func:`draft_content`: reference, kind, amount
  (cents), currency, deadline (UTC µs) and the SHA-256 of its frozen settings: payee, IBAN/BIC, contacts).
  ``letters approve`` approves only a letter whose terms a proven draft seals
  (:func:`require_sealed_draft`): a letter re-priced in the database after counsel's preview is refused;
- ``letter_approved``: the letter's payment reference and kind, who approved it (``approved_by``), and
  the approval digest of its whole rendered content (amount, term, payee, IBAN/BIC, contacts) and of its
  addressee (the SHA-256 of the case's encrypted identity as stored: :func:`recipient_sha256`;
  :func:`swarmscope.cases.letters.approval_digest`). ``letters send`` sends only a letter whose digest
  recomputed at sending a proven approval seals (:func:`require_sealed_approval`);
- ``letter_sent``: reference, kind, approval digest, sending and deadline time (UTC µs), amount (cents)
  and currency;
- ``payment``: reference, amount, currency, receipt time; ``dispute``: receipt time and summary;
- ``escalated``: the workflow event (``escalate`` after no response, ``counsel_escalate`` after a dispute).
- ``case_decision``: counsel's ``withdraw`` or ``close`` (:mod:`swarmscope.cases.case_state`);
  ``request_link``: the disclosure request naming the case, and ``request_status`` (subject
  ``request:<id>``): each status of that request (:mod:`swarmscope.cases.request_state`);
  ``identified``: the disclosure a case's identity was imported from (:mod:`swarmscope.cases.
  identity_seal`); ``letter_expired``: the sent letter whose deadline passed (``letters expire``).

The litigation list (:func:`litigation_problem`) derives a case's standing from the PROVEN events only: a
proven escalation made after the deadline of the last proven sent letter (``escalations mark`` judges the
deadline at its own time and seals its decision then; counsel's ``counsel_escalate`` needs no deadline),
proven payments below the claim (the first sent letter's amount), no proven dispute unless counsel
escalated after it. A sealed event without its
row (deleted or altered) and a row without its sealed event (added or altered without the key) are
reported as tampering and the case is left out. Times are UTC µs, amounts integer cents.

Source: README "Sealed workflow decisions".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.letter_settings import LetterError, frozen_settings
from swarmscope.cases.letters import ADDRESSEE_BOUND_SINCE_US, approval_digest, unbound_approval_digest
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.subscribers import stored_identity
from swarmscope.store.legal.workflow_seals import (
    ESCALATED,
    ProvenEvent,
    WorkflowHistory,
    content_sha256,
    seal_decision,
)

APPROVED, SENT, PAYMENT, DISPUTE = ("letter_approved", "letter_sent", "payment", "dispute")
# the letter's terms as drafted (sealed by `letters draft` and `letters remind`)
DRAFTED = "letter_drafted"
# a sent letter's deadline passed with no answer (sealed by `letters expire`): content :func:`expiry_content`
EXPIRED = "letter_expired"

# The case's state (:mod:`swarmscope.cases.case_state`, :mod:`swarmscope.cases.request_state`): counsel's
# withdraw / close, the case's link to a disclosure request, and each status of that request.
# (CASE_DECISION, ESCALATED: defined with the sealing, :mod:`swarmscope.store.legal.workflow_seals`)
REQUEST_LINK, REQUEST_STATUS = "request_link", "request_status"


def _escalation(case: CaseRow, event: str) -> bytes:
    """The sealed content of ``case``'s escalation ``event`` (``escalate``, ``counsel_escalate``)."""
    return content_sha256(ESCALATED, bound(case, {"event": event}))


def approval_content(letter: letter_store.LetterRow, digest: str, approved_by: str | None) -> dict[str, Any]:
    """What an approval binds: the letter, its rendered digest and who approved it."""
    return {"letter": letter.payment_reference, "kind": letter.kind, "content_sha256": digest,
            "approved_by": approved_by}  # fmt: skip


def draft_content(letter: letter_store.LetterRow) -> dict[str, Any]:
    """What a draft binds: the letter's terms (module docstring; the frozen settings by their SHA-256)."""
    settings = hashlib.sha256((letter.settings_json or "").encode("utf-8")).hexdigest()
    return {
        "letter": letter.payment_reference, "kind": letter.kind, "amount_cents": letter.amount_cents,
        "currency": letter.currency, "deadline_us": letter.deadline_us, "settings_sha256": settings,
    }  # fmt: skip


def require_sealed_draft(history: WorkflowHistory, case: CaseRow, letter: letter_store.LetterRow) -> None:
    """Refuse a letter whose terms as stored now no proven draft of ``case`` seals.

    Raises:
        LetterError: naming the letter and its terms as stored now (amount, deadline, frozen settings).
    """
    content = draft_content(letter)
    if history.has(case.doe, DRAFTED, content_sha256(DRAFTED, bound(case, content))):
        return
    drafts = len(history.of(case.doe, DRAFTED))
    raise LetterError(
        f"{case.doe}: letter {letter.payment_reference} as stored now (amount {letter.amount_cents} cents "
        f"{letter.currency}, deadline {us_to_iso(letter.deadline_us)}, frozen settings sha256 "
        f"{content['settings_sha256'][:16]}…) differs from the draft sealed for it ({drafts} sealed "
        "draft(s) of the case: its amount, currency, deadline, payee, IBAN or contacts were changed after "
        "drafting, or it was drafted without the node key); nothing approved: draft it again"
    )


def sent_content(letter: letter_store.LetterRow) -> dict[str, Any]:
    return {
        "letter": letter.payment_reference, "kind": letter.kind, "content_sha256": letter.approved_sha256,
        "sent_us": letter.sent_us, "deadline_us": letter.deadline_us, "amount_cents": letter.amount_cents,
        "currency": letter.currency,
    }  # fmt: skip


def expiry_content(letter: letter_store.LetterRow) -> dict[str, Any]:
    """What an expiry binds: the sent letter whose deadline (UTC µs) passed."""
    return {"letter": letter.payment_reference, "deadline_us": letter.deadline_us}


def payment_content(row: letter_store.PaymentRow) -> dict[str, Any]:
    return {"reference": row.reference, "amount_cents": row.amount_cents, "currency": row.currency,
            "received_us": row.received_us}  # fmt: skip


def dispute_content(row: letter_store.DisputeRow) -> dict[str, Any]:
    return {"received_us": row.received_us, "summary": row.summary}


def bound(case: CaseRow, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` bound to the case it was decided for: its DOE number, infohash (hex), IP and port, the
    identity its proven hits carry (:class:`swarmscope.cases.case_proof.CaseProof`). A decision's rows moved
    to another case, or DOE numbers swapped between cases, no longer hash to the sealed content."""
    identity = {"doe": case.doe, "infohash": case.infohash, "ip": case.ip, "port": case.port}
    return {"case": identity, **content}


def seal_step(store: Store, case: CaseRow, step: str, content: dict[str, Any], now_us: int) -> None:
    """Seal one decision of ``case`` bound to its identity (:func:`bound`; subject its DOE number;
    :func:`swarmscope.store.legal.workflow_seals.seal_decision`)."""
    seal_decision(store, case.doe, step, bound(case, content), now_us)


def require_sealed_approval(
    history: WorkflowHistory, case: CaseRow, letter: letter_store.LetterRow, digest: str
) -> None:
    """Refuse a letter whose content (``digest``, recomputed now) no proven approval seals.

    Raises:
        LetterError: naming the case and the letter.
    """
    doe = case.doe
    sealed = content_sha256(APPROVED, bound(case, approval_content(letter, digest, letter.approved_by)))
    if not history.has(doe, APPROVED, sealed):
        raise LetterError(
            f"{doe}: letter {letter.payment_reference} as it would leave now (content sha256 {digest}) "
            "matches no approval sealed by a trusted node key: it was changed after approval, or approved "
            "without the node key; preview and approve it again"
        )


def matched_rows(
    history: WorkflowHistory,
    case: CaseRow,
    step: str,
    rows: Sequence[Any],
    content: Callable[[Any], dict[str, Any]],
) -> tuple[list[Any], list[str]]:
    """(rows whose content a proven event of ``step`` seals, problems: sealed events without their row and
    rows without their sealed event)."""
    sealed = [p.event.sha256 for p in history.of(case.doe, step)]
    digests = [content_sha256(step, bound(case, content(row))) for row in rows]
    kept = [row for row, d in zip(rows, digests, strict=True) if d in sealed]
    problems = [
        f"a sealed {step} has no matching row (deleted or altered)" for s in sealed if s not in digests
    ]
    problems += [
        f"a {step} row matches no sealed {step} (added or altered)" for d in digests if d not in sealed
    ]
    return kept, problems


def recipient_sha256(store: Store, case: CaseRow) -> str:
    """Hex SHA-256 of ``case``'s encrypted identity as stored (the ``ciphertext`` bytes, which its sealed
    identification binds too), or ``none`` when none is stored (no letter can leave then, and an identity
    stored afterwards is not the one approved): the addressee an approval binds
    (:func:`swarmscope.cases.letters.approval_digest`)."""
    row = stored_identity(store, case.id)
    return "none" if row is None else hashlib.sha256(row.ciphertext).hexdigest()


def approvals_differ(
    store: Store,
    case: CaseRow,
    letters: Sequence[letter_store.LetterRow],
    history: WorkflowHistory,
    trust: EvidenceTrust | None,
) -> list[str]:
    """The sent letters whose approval digest, re-derived from the letter rendered for ``case`` now and
    the identity stored for it (:func:`swarmscope.cases.letters.approval_digest`), is not their stored
    ``approved_sha256`` (the column is never trusted: a letter moved from another case renders other
    facts and names another addressee). A letter sent under an approval recorded before approvals bound
    the addressee is judged by the digest of that time
    (:func:`swarmscope.cases.letters.unbound_approval_digest`, v1), but only where such an approval was
    produced: a proven approval in ``history`` seals that v1 digest for the letter and was sealed before
    :data:`swarmscope.cases.letters.ADDRESSEE_BOUND_SINCE_US` (:func:`_v1_problem`). A case with no
    identity stored cannot be judged so (whom its letters went to is gone) and is not: no letter leaves
    for it, and the litigation list names it for that ("no disclosed identity is stored for it")."""
    if not letters or stored_identity(store, case.id) is None:
        return []
    facts = letter_facts(store, case.id, trust)
    out = []
    for row in letters:
        try:
            settings = frozen_settings(row.settings_json)
            v2 = approval_digest(facts, row, settings, recipient_sha256(store, case))
            v1 = unbound_approval_digest(facts, row, settings)
        except LetterError as exc:
            out.append(f"letter {row.payment_reference} cannot be rendered for this case ({exc})")
            continue
        if row.approved_sha256 == v1:
            why = _v1_problem(history, case, row, v1)
            out += [] if why is None else [why]
        elif row.approved_sha256 != v2:
            out.append(
                f"letter {row.payment_reference} as rendered for this case now is not the one approved"
            )
    return out


def _v1_problem(history: WorkflowHistory, case: CaseRow, row: letter_store.LetterRow, v1: str) -> str | None:
    """Why the v1 digest ``v1`` of sent letter ``row`` was not legitimately approved, or None: a proven
    approval of ``case`` seals it (letter, kind, digest, approver) at a sealed time (UTC µs) before
    :data:`swarmscope.cases.letters.ADDRESSEE_BOUND_SINCE_US`."""
    sealed = content_sha256(APPROVED, bound(case, approval_content(row, v1, row.approved_by)))
    times = [p.event.at_us for p in history.of(case.doe, APPROVED) if p.event.sha256 == sealed]
    head = f"letter {row.payment_reference} was sent under a v1 approval digest ({v1[:16]}…, no addressee "
    head += "bound)"
    if not times:
        return f"{head} that no proven approval seals"
    if min(times) >= ADDRESSEE_BOUND_SINCE_US:
        return (
            f"{head}, but its approval was sealed at {us_to_iso(min(times))}, when approvals already bound "
            f"the addressee (v2, since {us_to_iso(ADDRESSEE_BOUND_SINCE_US)})"
        )
    return None


def litigation_problem(
    store: Store,
    case: CaseRow,
    history: WorkflowHistory,
    now_us: int,
    *,
    escalation: bool = True,
    trust: EvidenceTrust | None = None,
) -> str | None:
    """Why the proven history does not put ``case`` on the litigation list (None: it does; module
    docstring). ``escalation``: require a proven escalation (False: deciding whether to escalate).
    ``trust``: what the case's hits are proven under when its letters are rendered again (None: the
    store's own node key and the system clock)."""
    doe = case.doe
    incomplete = history.refusal(doe)
    if incomplete is not None:
        return incomplete
    letters = [row for row in letter_store.list_letters(store, case_id=case.id) if row.sent_us is not None]
    sent, problems = matched_rows(history, case, SENT, letters, sent_content)
    problems += approvals_differ(store, case, letters, history, trust)
    payments, more = matched_rows(
        history, case, PAYMENT, letter_store.list_payments(store, case.id), payment_content
    )
    disputes, most = matched_rows(
        history, case, DISPUTE, letter_store.list_disputes(store, case.id), dispute_content
    )
    mine = {_escalation(case, "escalate"), _escalation(case, "counsel_escalate")}
    escalations = [p for p in history.of(doe, ESCALATED) if p.event.sha256 in mine]
    if len(escalations) < len(history.of(doe, ESCALATED)):
        more.append(f"a sealed escalation of {doe} was decided for another case identity")
    problems += more + most
    if problems:
        return f"{doe}: refused: its workflow rows differ from the sealed decisions ({'; '.join(problems)})"
    escalated = max(escalations, key=lambda p: (p.event.at_us, p.index), default=None)
    if escalation and escalated is None:
        why: str | None = "no sealed escalation decision"
    else:  # the list judges the deadline when the sealed escalation was made; `mark` at its own time
        at_us = escalated.event.at_us if escalation and escalated is not None else now_us
        counsel = escalated is not None and escalated.event.sha256 == _escalation(case, "counsel_escalate")
        why = _standing(sent, payments, disputes, escalated, at_us, counsel)
    return (
        None if why is None else f"{doe}: refused: not on the litigation list by its sealed history ({why})"
    )


def _standing(
    sent: list[Any],
    payments: list[Any],
    disputes: list[Any],
    escalated: ProvenEvent | None,
    at_us: int,
    counsel: bool,
) -> str | None:
    """Why the proven rows do not carry an escalation at ``at_us`` (UTC µs; module docstring), or None."""
    if not sent:
        return "no proven sent letter"
    sent = sorted(sent, key=lambda row: row.sent_us)
    if sent[-1].deadline_us >= at_us and not counsel:
        return "the deadline of its last proven letter had not passed when it was escalated"
    claim, currency = sent[0].amount_cents, sent[0].currency
    if sum(p.amount_cents for p in payments if p.currency == currency) >= claim:
        return "proven payments settle the claim"
    last = max((d.received_us for d in disputes), default=None)
    if last is not None and (not counsel or escalated is None or escalated.event.at_us < last):
        return "a proven dispute, and no sealed counsel decision to escalate after it"
    return None
