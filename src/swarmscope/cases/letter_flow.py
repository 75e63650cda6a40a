"""The path of a settlement letter up to its sending: draft, preview, approve; then remind and expire.

``draft`` (case identified → drafted; amount, term, sender, payee, IBAN/BIC and dispute contacts frozen into
the letter row, :mod:`swarmscope.cases.letter_settings`; its terms sealed, :mod:`swarmscope.cases.
sealed_history`) → ``preview`` (the letter exactly as it will leave, with a placeholder addressee and
placeholder dates, and its approval digest, :mod:`swarmscope.cases.letters`) → ``approve`` (refused when
the letter's terms are not the sealed draft's; a person's recorded decision: approved_by/approved_us, the
SHA-256 of the previewed content, a case_event, and the approval, approved_by included, sealed in the
ledger with the node's key) → ``send`` (:mod:`swarmscope.cases.letter_send`) → ``expire`` (sent past its
deadline → no_response). ``remind`` drafts a reminder (kind "reminder", the outstanding amount, a new
term, the contacts of the letter it follows; sealed like a draft) for a sent letter past its deadline; it
needs its own approval. ``remind`` and ``expire`` judge the deadline, the claim and the payments by the
sealed history only (:func:`swarmscope.cases.letter_history.proven_letters`), never by the rows alone.
A dispute stops every further letter and voids unsent ones (approved or not;
:func:`swarmscope.cases.case_actions.record_dispute`).

No letter is drafted, approved or sent for a case its proven evidence no longer carries
(:func:`swarmscope.cases.case_proof.require_proven`, re-judged under the thresholds the caller gives,
``policy``: default the court-tested ones, a build note only tightens them), nor on a disclosure request
a court quashed or that is contested (:func:`check_request_allows_letters`), nor for a case whose stored
identity the ISP disclosed for another address, port or window than the proven hits the case claims
(:func:`swarmscope.cases.disclosure_check.require_disclosed`). Times are UTC microseconds,
amounts integer cents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.case_proof import UnprovenCase, require_proven
from swarmscope.cases.case_state import expiry_sealed, require_status, status_problem
from swarmscope.cases.disclosure_check import require_disclosed
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.letter_history import ProvenLetters, proven_letters
from swarmscope.cases.letter_payee import require_payee
from swarmscope.cases.letter_settings import (
    LetterError,
    LetterSettings,
    format_amount,
    frozen_settings,
    settings_json,
)
from swarmscope.cases.letters import approval_digest, render_preview
from swarmscope.cases.payment_reference import payment_reference
from swarmscope.cases.request_state import request_problem
from swarmscope.cases.sealed_history import (
    APPROVED,
    DRAFTED,
    EXPIRED,
    SENT,
    approval_content,
    bound,
    draft_content,
    expiry_content,
    recipient_sha256,
    require_sealed_draft,
    seal_step,
)
from swarmscope.cases.workflow import CaseEvent, CaseStatus, may_send_letter, next_case_status
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.case_status import StatusMove
from swarmscope.store.legal.workflow_seals import WorkflowHistory, content_sha256, signer, workflow_history

DAY_US = 86_400 * 1_000_000
LETTER_NOT_SEALED = "letter row not sealed"


def latest_letter(store: Store, case_id: int) -> letter_store.LetterRow | None:
    """The case's newest letter (a redraft or reminder supersedes older ones), or None."""
    rows = letter_store.list_letters(store, case_id=case_id)
    return rows[-1] if rows else None


def draft_letters(
    store: Store,
    settings: LetterSettings,
    dois: list[str],
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    policy: DocumentPolicy = COURT_TESTED,
) -> list[letter_store.LetterRow]:
    """Draft an initial letter for each case (identified, or a drafted/approved one being revised), its
    ``settings`` frozen into the row; a revision voids the older unsent letter (and its approval).

    Raises:
        WorkflowError: a case whose status allows no draft (e.g. disputed). StoreError: unknown case.
        LetterError: the payee is not the case's rights holder (:mod:`.letter_payee`).
        InputError: a setting out of bounds (:meth:`~swarmscope.cases.letter_settings.LetterSettings.
            checked`; nothing written).
        UnprovenCase: a case its proven evidence no longer carries (:func:`require_proven`), or whose
            stored identity was disclosed for something else (``UndisclosedCase``).
    """
    settings.checked(amount=False, contacts=False)  # the term's bounds, whoever built the settings
    out = []
    for doe in dois:
        case = case_status.get_case(store, doe)
        signer(store, "letters draft")  # the draft's terms are sealed: refused before anything is written
        require_proven(store, case, trust, policy)
        require_status(store, case, trust)
        require_disclosed(store, case, trust)
        check_request_allows_letters(store, case, trust)
        require_payee(store, case, settings)
        amount = format_amount(settings.amount_cents, settings.currency)
        note = f"letter drafted: {amount}, {settings.deadline_days} days"
        row = letter_store.add_letter(  # the case moves to drafted in the letter's own transaction
            store, case.id, "initial", settings.amount_cents, settings.currency,
            now_us + settings.deadline_days * DAY_US, partial(payment_reference, case.id), now_us,
            settings_json=settings_json(settings),
            move=StatusMove(CaseEvent.DRAFT, actor, note, next_case_status),
        )  # fmt: skip
        seal_step(store, case, DRAFTED, draft_content(row), now_us)
        out.append(row)
    return out


@dataclass(frozen=True, slots=True)
class Preview:
    """A letter as an approver sees it: text, HTML, and the digest an approval records."""

    doe: str
    letter: letter_store.LetterRow
    text: str
    html: str
    digest: str


def preview_letter(
    store: Store, doe: str, *, trust: EvidenceTrust | None = None, policy: DocumentPolicy = COURT_TESTED
) -> Preview:
    """The case's newest unsent letter rendered from its frozen settings (placeholder addressee and dates).

    Args:
        trust: node keys and clock to prove the case against (:func:`~swarmscope.cases.case_proof.
            require_proven`; None: the store's own node key and the system clock).
        policy: the thresholds the case is re-judged under (its build note only tightens them).

    Raises:
        LetterError: no unsent letter, no frozen settings, accusing wording. StoreError: unknown case.
        UnprovenCase: the case's proven evidence no longer carries it.
    """
    case = case_status.get_case(store, doe)
    require_proven(store, case, trust, policy)
    require_status(store, case, trust)
    require_disclosed(store, case, trust)
    letter = latest_letter(store, case.id)
    if letter is None or letter.sent_us is not None or letter.voided_us is not None:
        raise LetterError(f"{case.doe} has no unsent letter; draft one first")
    frozen = frozen_settings(letter.settings_json)
    facts = letter_facts(store, case.id, trust)
    text, html = render_preview(facts, letter, frozen)
    digest = approval_digest(facts, letter, frozen, recipient_sha256(store, case))
    return Preview(case.doe, letter, text, html, digest)


def approve_letter(
    store: Store,
    doe: str,
    actor: str,
    now_us: int,
    expect_digest: str | None = None,
    trust: EvidenceTrust | None = None,
    policy: DocumentPolicy = COURT_TESTED,
) -> letter_store.LetterRow:
    """Record a person's approval of the case's newest unsent letter, bound to its content digest.

    Args:
        expect_digest: the digest ``letters preview`` showed the approver; refused if the letter differs.
        policy: the thresholds the case is re-judged under (its build note only tightens them).

    Raises:
        LetterError: no unsent letter; its payee is not the case's rights holder
            (:mod:`.letter_payee`); its terms as stored now are not the sealed draft's
            (:func:`~swarmscope.cases.sealed_history.require_sealed_draft`), with or without
            ``expect_digest``; content differs from ``expect_digest`` (the message does not give the
            right digest). WorkflowError: the case
            cannot take an approval (or a reminder cannot go out in its status). UnprovenCase: the
            case's proven evidence no longer carries it.
    """
    shown = preview_letter(store, doe, trust=trust, policy=policy)
    case, letter, digest = case_status.get_case(store, doe), shown.letter, shown.digest
    check_request_allows_letters(store, case, trust)
    require_payee(store, case, frozen_settings(letter.settings_json))
    require_sealed_draft(workflow_history(store, store_trust(store, trust)), case, letter)
    if expect_digest is not None and expect_digest.strip().lower() != digest:
        raise LetterError(  # never the right digest: it would be copied in place of reading the letter
            f"{case.doe}: the digest does not match the letter you were shown; reload the preview"
        )
    note = f"{letter.kind} letter {letter.payment_reference} approved (content sha256 {digest})"
    if letter.kind != "initial" and not may_send_letter(case.status):
        raise LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    signer(store, "letters approve")  # the approval is sealed: refused before anything is written
    if letter.kind == "initial":
        move_case(store, case.id, CaseEvent.APPROVE, actor, note, now_us)
        row = letter_store.approve_letter(store, letter.id, actor, now_us, digest)
    else:
        case_note = letter_store.CaseNote(actor, note)
        row = letter_store.approve_letter(store, letter.id, actor, now_us, digest, case_note)
    seal_step(store, case, APPROVED, approval_content(letter, digest, actor), now_us)
    return row


def check_request_allows_letters(
    store: Store, case: case_rows.CaseRow, trust: EvidenceTrust | None = None
) -> None:
    """Refuse any letter for a case whose disclosure request a court quashed or that is contested, judged
    by the request's link and status as sealed (:func:`swarmscope.cases.request_state.request_problem`;
    ``trust`` None: the store's own node key).

    Raises:
        LetterError: naming the request and its status, or the altered link or status.
    """
    history = workflow_history(store, store_trust(store, trust))
    why = request_problem(store, history, case)
    if why is not None:
        raise LetterError(why)


def pending_approved(store: Store) -> list[str]:
    """DOE numbers whose newest letter is approved, unsent, not voided, and may go out in the case's status
    (what ``letters send`` sends; a disputed or withdrawn case's approved reminder is not pending)."""
    out = []
    for case in case_status.list_cases(store):
        letter = latest_letter(store, case.id)
        if letter is None or letter.approved_us is None or letter.sent_us is not None:
            continue
        allowed = (
            case.status == CaseStatus.APPROVED if letter.kind == "initial" else may_send_letter(case.status)
        )
        if letter.voided_us is None and allowed:
            out.append(case.doe)
    return out


def remind_letters(
    store: Store, settings: LetterSettings, actor: str, now_us: int, refused: list[str] | None = None
) -> list[letter_store.LetterRow]:
    """Draft a reminder for every open case whose newest letter was sent and is past its deadline.

    Judged by the sealed history only (:func:`swarmscope.cases.letter_history.proven_letters`): the
    deadline of the newest proven sent letter, the claim (the first proven sent letter's amount) less the
    proven payments; a case settled, disputed or not past its deadline gets none. The reminder keeps the
    contacts of the letter it follows (proven by its approval digest); its deadline is ``reminder_days``
    from drafting (UTC µs). A case whose newest letter is unsent waits for it, unless no proven draft
    seals that letter: "letter row not sealed".

    Args:
        refused: collects one line per case whose rows contradict its sealed events ("status altered",
            "terms altered", "letter row not sealed", "ledger incomplete"), the other cases going on;
            None: the first such case raises.

    Raises:
        UnprovenCase: a refused case and no ``refused`` list. StoreError: no signing key.
    """
    history = workflow_history(store, store_trust(store, None))
    out = []
    for case in _after_sending(store, history, refused):
        proven, letter = case.proven, latest_letter(store, case.row.id)
        last = proven.last
        unsealed = _unsealed_pending(history, case.row, letter)
        if unsealed is not None:
            _refuse(unsealed, refused)
            continue
        if letter is None or letter.sent_us is None or last is None or last.deadline_us > now_us:
            continue
        amount = proven.outstanding_cents()
        if proven.disputed or amount == 0:
            continue
        signer(store, "letters remind")  # each reminder's terms are sealed: refused before it is written
        note = letter_store.CaseNote(actor, f"reminder drafted after deadline of {last.payment_reference}")
        days = settings.reminder_days
        frozen = replace(  # the contacts of the letter it follows (they were approved)
            frozen_settings(last.settings_json), amount_cents=amount, currency=last.currency,
            deadline_days=days, reminder_days=days,
        )  # fmt: skip
        row = letter_store.add_letter(
            store, case.row.id, "reminder", amount, last.currency, now_us + days * DAY_US,
            partial(payment_reference, case.row.id), now_us, note, settings_json=settings_json(frozen),
        )  # fmt: skip
        seal_step(store, case.row, DRAFTED, draft_content(row), now_us)
        out.append(row)
    return out


@dataclass(frozen=True, slots=True)
class _Sent:
    row: case_rows.CaseRow
    proven: ProvenLetters


def _after_sending(store: Store, history: WorkflowHistory, refused: list[str] | None) -> list[_Sent]:
    """The cases with a sent letter row or a sealed sending that a further letter may follow, with their
    proven letters; each case whose rows contradict its sealed events is added to ``refused`` (None:
    raised as :class:`UnprovenCase`)."""
    out = []
    for case in case_status.list_cases(store):
        proven = _proven_sent(store, history, case, refused)
        if proven is not None and may_send_letter(case.status):
            out.append(_Sent(case, proven))
    return out


def _proven_sent(
    store: Store, history: WorkflowHistory, case: case_rows.CaseRow, refused: list[str] | None
) -> ProvenLetters | None:
    """``case``'s proven letters when it has a sent letter row or a sealed sending (else None); a refusal
    is added to ``refused`` (None: raised as :class:`UnprovenCase`) and gives None."""
    sent = any(r.sent_us is not None for r in letter_store.list_letters(store, case_id=case.id))
    if not sent and not history.of(case.doe, SENT):
        return None
    proven = proven_letters(store, history, case)
    if isinstance(proven, str):
        _refuse(proven, refused)
        return None
    return proven


def _unsealed_pending(
    history: WorkflowHistory, case: case_rows.CaseRow, letter: letter_store.LetterRow | None
) -> str | None:
    """Why the case's newest letter, unsent, is not one a proven draft seals (None: it is sent, or
    sealed): a row inserted without the node key (a copy of the sent letter under a new reference) would
    otherwise pass for a pending reminder and the case be skipped unnamed."""
    if letter is None or letter.sent_us is not None:
        return None
    sealed = content_sha256(DRAFTED, bound(case, draft_content(letter)))
    if history.has(case.doe, DRAFTED, sealed):
        return None
    return (
        f"{case.doe}: refused: {LETTER_NOT_SEALED} (its newest letter {letter.payment_reference}, "
        f"{letter.kind}, unsent, {format_amount(letter.amount_cents, letter.currency)}, is not a draft "
        "sealed by a trusted node key: added or altered without the key)"
    )


def _refuse(why: str, refused: list[str] | None) -> None:
    if refused is None:
        raise UnprovenCase(why)
    refused.append(why)


def expire_letters(store: Store, actor: str, now_us: int, refused: list[str] | None = None) -> list[str]:
    """Move every ``sent`` case whose newest proven sent letter is past its deadline (UTC µs) to
    ``no_response``, judged by the sealed history only (as :func:`remind_letters`; ``refused`` likewise),
    and seal the expiry (``letter_expired``: the letter and its deadline). A ``no_response`` case with no
    sealed expiry after its newest sealed sending (expired before expiries were sealed) gets its expiry
    sealed when the sealed history proves it (that letter is past its deadline), else it is refused,
    "status altered"; so is a ``paid`` case whose proven payments do not settle the claim.

    Raises:
        UnprovenCase: a refused case and no ``refused`` list. StoreError: no signing key.
    """
    history = workflow_history(store, store_trust(store, None))
    out = []
    for case in case_status.list_cases(store):
        unsealed = case.status == CaseStatus.NO_RESPONSE and not expiry_sealed(history, case.doe)
        if case.status == CaseStatus.PAID:  # refused when its proven payments leave the claim unsettled
            _proven_sent(store, history, case, refused)
        if case.status != CaseStatus.SENT and not unsealed:
            continue
        judged = replace(case, status=CaseStatus.SENT)  # a no_response case as the sending left it
        proven = _proven_sent(store, history, judged, refused)
        last = proven.last if proven is not None else None
        if last is None:
            continue
        if last.deadline_us >= now_us:
            if unsealed:
                _refuse(status_problem(history, case) or f"{case.doe}: refused: status altered", refused)
            continue
        signer(store, "letters expire")  # the expiry is sealed: refused before anything is written
        if not unsealed:
            note = f"deadline of {last.payment_reference} passed without payment or dispute"
            move_case(store, case.id, CaseEvent.EXPIRE, actor, note, now_us)
        seal_step(store, case, EXPIRED, expiry_content(last), now_us)
        out.append(case.doe)
    return out
