"""Payments received for settlement letters: matched to a sent letter by its reference, then the case moves.

The reference must be the RF creditor reference (ISO 11649) of a letter *sent* for that case (its check
digits are verified first, so a typing mistake is named as such), as its SEALED history proves it: the
case's sent-letter and payment rows must equal their proven sealed events
(:func:`swarmscope.cases.letter_history.proven_letters`; "status altered", "terms altered" otherwise),
so a ``sent_us`` written into an approved, never-sent letter's row by someone without the node's key
takes no payment. The currency must be the letter's and the receipt no earlier than its sealed sending.
The claim is the sealed amount of the case's first sent letter. By total received (all proven payments of
the case in that currency):

- total ≥ claim: the case moves to ``paid`` (the workflow allows it from sent, no_response, disputed and
  escalated); an overpayment is noted on the payment row (refunds are handled by hand).
- total < claim (a partial payment): the payment is recorded with the outstanding amount in its note; the
  case keeps its status, so the deadline, reminders (for the outstanding amount) and expiry still apply.

A payment for a case that is already paid, withdrawn or closed is refused (nothing recorded). Each payment
is sealed (``payment``, :mod:`swarmscope.cases.sealed_history`), so deleting its row cannot put a paid case
on the litigation list; recording one needs the node's signing key. Amounts are integer cents; times UTC
microseconds.
"""

from __future__ import annotations

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.identities import has_control
from swarmscope.cases.letter_history import ProvenLetters, proven_letters
from swarmscope.cases.letter_settings import format_amount
from swarmscope.cases.payment_reference import grouped, normalise_reference
from swarmscope.cases.received import check_received
from swarmscope.cases.sealed_history import PAYMENT, payment_content, seal_step
from swarmscope.cases.workflow import CLOSING_STATUSES, CaseEvent, next_case_status
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.workflow_seals import signer, workflow_history

MAX_METHOD_CHARS = 100  # how it was paid: "bank transfer", "card"


def _paid_letter(
    store: Store, case: case_rows.CaseRow, ref: str, currency: str | None, received_us: int, now_us: int
) -> tuple[letter_store.LetterRow, ProvenLetters]:
    """The proven sent letter that ``ref`` names, and the case's proven letters and payments (the first
    sent letter holds the claim).

    Raises:
        InputError: a closed case; rows that differ from the sealed history (status or terms altered,
            ledger incomplete); no proven sent letter with that reference, another currency, a receipt
            date before the sealed sending or after today's date at UTC+14 (:func:`check_received`).
    """
    if case.status in CLOSING_STATUSES:
        raise InputError(f"{case.doe} is already {case.status}; a further payment is handled by hand")
    proven = proven_letters(store, workflow_history(store, store_trust(store, None)), case)
    if isinstance(proven, str):
        raise InputError(proven)
    match = [row for row in proven.sent if row.payment_reference == ref]
    if not match:
        raise InputError(f"reference {grouped(ref)} is not on any letter sent for {case.doe}")
    if currency is not None and currency.upper() != match[0].currency:
        raise InputError(f"currency {currency!r} differs from the letter's {match[0].currency}")
    sent_us = match[0].sent_us
    assert sent_us is not None
    check_received(received_us, now_us, sent_us, "the letter was sent")
    return match[0], proven


def record_payment(
    store: Store,
    doe: str,
    amount_cents: int,
    reference: str,
    *,
    currency: str | None,
    received_us: int,
    method: str | None,
    actor: str,
    now_us: int,
) -> tuple[letter_store.PaymentRow, str]:
    """Record a payment against a case; returns the row and the case's status afterwards.

    Raises:
        InputError: a ``method`` longer than :data:`MAX_METHOD_CHARS` or holding a control character
            (:func:`swarmscope.cases.identities.has_control`), bad reference, a reference of no
            letter sent for this case, wrong currency, a closed
            case. WorkflowError: the case cannot be paid in its status. StoreError: unknown case.
    """
    if method is not None and len(method) > MAX_METHOD_CHARS:
        raise InputError(f"payment method: at most {MAX_METHOD_CHARS} characters (e.g. bank transfer)")
    if method is not None and has_control(method):  # printed on the case page and sealed: the rule of names
        raise InputError(
            "payment method: contains a control, bidi or zero-width character or a line separator"
        )
    ref = normalise_reference(reference)
    case = case_status.get_case(store, doe)
    letter, proven = _paid_letter(store, case, ref, currency, received_us, now_us)
    claim, cur = proven.sent[0].amount_cents, letter.currency
    before = sum(p.amount_cents for p in proven.payments if p.currency == cur)
    total = before + amount_cents
    if total >= claim:
        next_case_status(case.status, CaseEvent.PAY)  # refuse before writing anything
        note = "settles the claim" + (
            f"; overpaid by {format_amount(total - claim, cur)}" if total > claim else ""
        )
    else:
        note = f"partial payment; outstanding {format_amount(claim - total, cur)}"
    signer(store, "recording a payment")  # sealed below; refused before anything is written
    row = letter_store.add_payment(store, case.id, amount_cents, cur, received_us, ref, method, note, now_us)
    seal_step(store, case, PAYMENT, payment_content(row), now_us)
    if total >= claim:
        paid = f"{format_amount(total, cur)} received; {note}"
        move_case(store, case.id, CaseEvent.PAY, actor, paid, now_us)
    return row, case_status.get_case(store, case.id).status
