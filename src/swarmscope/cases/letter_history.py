"""What a case's sealed letter history proves after sending: its sent letters, payments and the claim.

``letter.sent_us``, ``deadline_us`` and ``amount_cents`` and the payment rows are plain columns: someone
who can write the database file but lacks the node's key could backdate a sent letter (a reminder, an
expiry, a month early) or re-price it (a reminder for a hundred times the claim), or delete a payment.
So ``letters remind`` and ``letters expire`` judge a case only by rows proven equal to its sealed events
(:mod:`swarmscope.cases.sealed_history`): each sent letter's row must hash to a proven ``letter_sent``
(reference, kind, approval digest, sending and deadline time in UTC µs, amount in cents, currency), and
its rendered content to the approval digest that event names (payee, IBAN/BIC, contacts: the settings a
reminder copies); each payment (dispute) row to a proven ``payment`` (``dispute``) one to one (two
identical rows need two such events: a copied payment row is not counted twice), and no proven event may
lack its row. The values used afterwards (deadline, claim, what was paid) are then the sealed ones.

A case whose status column its sealed history does not allow is refused as "status altered"
(:func:`swarmscope.cases.case_state.status_problem`), and so is one that says ``paid`` while its proven
payments leave part of the claim outstanding; one whose rows differ from its sealed events as
"terms altered", naming each event or row (:func:`proven_letters`); every case, while an entry of the
trusted chains is blanked, altered or relabelled (a sealed payment hidden), as "ledger incomplete", naming
the entry (:meth:`swarmscope.store.legal.workflow_seals.WorkflowHistory.refusal`).

Source: README "Sealed workflow decisions".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from swarmscope.cases.case_state import ALTERED, status_problem
from swarmscope.cases.letter_settings import format_amount
from swarmscope.cases.sealed_history import (
    DISPUTE,
    PAYMENT,
    SENT,
    approvals_differ,
    bound,
    dispute_content,
    payment_content,
    sent_content,
)
from swarmscope.cases.workflow import CaseStatus
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.workflow_seals import WorkflowHistory, content_sha256

TERMS_ALTERED = "terms altered"


@dataclass(frozen=True, slots=True)
class ProvenLetters:
    """A case's sent letters (oldest first) and payments, each row equal to its proven sealed event, and
    whether a dispute of it is sealed."""

    sent: list[letter_store.LetterRow]
    payments: list[letter_store.PaymentRow]
    disputed: bool

    @property
    def last(self) -> letter_store.LetterRow | None:
        """The newest sent letter (its deadline is the one running), or None."""
        return self.sent[-1] if self.sent else None

    def outstanding_cents(self) -> int:
        """The claim (the first sent letter's amount) less the proven payments in its currency (cents,
        never below 0); 0 when nothing was sent."""
        if not self.sent:
            return 0
        first = self.sent[0]
        paid = sum(p.amount_cents for p in self.payments if p.currency == first.currency)
        return max(first.amount_cents - paid, 0)


def _letter_terms(row: letter_store.LetterRow) -> str:
    return (
        f"letter {row.payment_reference} as stored now (sent {us_to_iso(row.sent_us or 0)}, deadline "
        f"{us_to_iso(row.deadline_us)}, {format_amount(row.amount_cents, row.currency)})"
    )


def _payment_terms(row: letter_store.PaymentRow) -> str:
    return (
        f"payment {row.id} as stored now ({format_amount(row.amount_cents, row.currency)}, received "
        f"{us_to_iso(row.received_us)})"
    )


def _unmatched(
    history: WorkflowHistory,
    case: CaseRow,
    step: str,
    rows: Sequence[Any],
    content: Callable[[Any], dict[str, Any]],
    name: Callable[[Any], str],
) -> list[str]:
    """Each row no proven ``step`` event of ``case`` seals (named by ``name``), and each proven ``step``
    event no row matches (named by its seal time), matched one to one: n identical rows need n proven
    events sealing their content, so a copied row (a payment counted twice) is one too many."""
    digests = [content_sha256(step, bound(case, content(row))) for row in rows]
    left = Counter(p.event.sha256 for p in history.of(case.doe, step))
    out = []
    for row, digest in zip(rows, digests, strict=True):
        if left[digest] > 0:
            left[digest] -= 1
        elif history.has(case.doe, step, digest):
            out.append(f"{name(row)} repeats a sealed {step} that another row already matches")
        else:
            out.append(f"{name(row)} matches no sealed {step}")
    rows_left = Counter(digests)
    for p in history.of(case.doe, step):
        if rows_left[p.event.sha256] > 0:
            rows_left[p.event.sha256] -= 1
        else:
            out.append(
                f"the {step} sealed at {us_to_iso(p.event.at_us)} has no matching row (deleted or altered)"
            )
    return out


def proven_letters(
    store: Store, history: WorkflowHistory, case: CaseRow, trust: EvidenceTrust | None = None
) -> ProvenLetters | str:
    """The case's sent letters and payments as its sealed history proves them, or why not: a one-line
    refusal naming the case, "status altered" or "terms altered" and each event or row that differs.

    ``trust``: what the case's hits are proven under when its sent letters are rendered again to check
    their approval digest (None: the store's own node key and the system clock)."""
    why = status_problem(history, case)
    if why is not None:
        return why
    letters = [r for r in letter_store.list_letters(store, case_id=case.id) if r.sent_us is not None]
    payments = letter_store.list_payments(store, case.id)
    disputes = letter_store.list_disputes(store, case.id)

    problems = _unmatched(history, case, SENT, letters, sent_content, _letter_terms)
    problems += _unmatched(history, case, PAYMENT, payments, payment_content, _payment_terms)
    problems += _unmatched(history, case, DISPUTE, disputes, dispute_content, lambda d: f"dispute {d.id}")
    if not problems:
        problems = approvals_differ(store, case, letters, history, trust)
    if problems:
        return f"{case.doe}: refused: {TERMS_ALTERED} ({'; '.join(problems)})"
    ordered = sorted(letters, key=lambda r: (r.sent_us or 0, r.id))
    proven = ProvenLetters(ordered, payments, bool(disputes) or bool(history.of(case.doe, DISPUTE)))
    return _unsettled_paid(case, proven) or proven


def _unsettled_paid(case: CaseRow, proven: ProvenLetters) -> str | None:
    """The refusal of a case whose column says ``paid`` while its proven payments leave part of the claim
    outstanding (``payments record`` moves a case to ``paid`` only once they settle it), or None."""
    if case.status != CaseStatus.PAID or proven.last is None or proven.outstanding_cents() == 0:
        return None
    claim = proven.sent[0]
    left = format_amount(proven.outstanding_cents(), claim.currency)
    why = f"it says 'paid', but its sealed payments leave {left} of the claim of "
    return f"{case.doe}: refused: {ALTERED} ({why}{format_amount(claim.amount_cents, claim.currency)} unpaid)"
