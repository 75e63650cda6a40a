"""The letters workflow behind ``swarmscope letters``: draft, preview, approve, send, remind, expire.

Moved out of the CLI module so the commands stay thin; the rules are described in
:mod:`swarmscope.cli.letters` (the path of a letter, the sending order, the frozen settings) and in
:mod:`swarmscope.cases.letters` (rendering, the approval digest, the wording).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import make_msgid
from functools import partial
from pathlib import Path
from typing import Any

from swarmscope.cases import letters as rendering
from swarmscope.cases.case_proof import require_proven
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.workflow import CaseEvent, CaseStatus, may_send_letter, next_case_status
from swarmscope.errors import SwarmscopeError
from swarmscope.net.smtp_client import MailError, send_message
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import Store
from swarmscope.store.proven_evidence import EvidenceTrust
from swarmscope.store.subscribers import read_identity

DAY_US = 86_400 * 1_000_000


def move_case(store: Store, case_id: int, event: CaseEvent, actor: str, note: str, now_us: int) -> None:
    """Apply a workflow event through the store (the check runs in its write transaction)."""
    case_store.set_case_status(store, case_id, event, actor, note, now_us, rule=next_case_status)


def latest_letter(store: Store, case_id: int) -> letter_store.LetterRow | None:
    """The case's newest letter (a redraft or reminder supersedes older ones), or None."""
    rows = letter_store.list_letters(store, case_id=case_id)
    return rows[-1] if rows else None


def draft_letters(
    store: Store,
    settings: rendering.LetterSettings,
    dois: list[str],
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
) -> list[letter_store.LetterRow]:
    """Draft an initial letter for each case (identified, or a drafted/approved one being revised), its
    ``settings`` frozen into the row; a revision voids the older unsent letter (and its approval).

    Raises:
        WorkflowError: a case whose status allows no draft (e.g. disputed). StoreError: unknown case.
        UnprovenCase: a case its proven evidence no longer carries (:func:`require_proven`).
    """
    out = []
    for doe in dois:
        case = case_store.get_case(store, doe)
        require_proven(store, case, trust)
        check_request_allows_letters(store, case)
        amount = rendering.format_amount(settings.amount_cents, settings.currency)
        note = f"letter drafted: {amount}, {settings.deadline_days} days"
        move_case(store, case.id, CaseEvent.DRAFT, actor, note, now_us)
        out.append(
            letter_store.add_letter(
                store, case.id, "initial", settings.amount_cents, settings.currency,
                now_us + settings.deadline_days * DAY_US, partial(rendering.payment_reference, case.id),
                now_us, settings_json=rendering.settings_json(settings),
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class Preview:
    """A letter as an approver sees it: text, HTML, and the digest an approval records."""

    doe: str
    letter: letter_store.LetterRow
    text: str
    html: str
    digest: str


def preview_letter(store: Store, doe: str, *, trust: EvidenceTrust | None = None) -> Preview:
    """The case's newest unsent letter rendered from its frozen settings (placeholder addressee and dates).

    Args:
        trust: node keys and clock to prove the case against (:func:`~swarmscope.cases.case_proof.
            require_proven`; None: the store's own node key and the system clock).

    Raises:
        LetterError: no unsent letter, no frozen settings, accusing wording. StoreError: unknown case.
        UnprovenCase: the case's proven evidence no longer carries it.
    """
    case = case_store.get_case(store, doe)
    require_proven(store, case, trust)
    letter = latest_letter(store, case.id)
    if letter is None or letter.sent_us is not None or letter.voided_us is not None:
        raise rendering.LetterError(f"{case.doe} has no unsent letter; draft one first")
    frozen = rendering.frozen_settings(letter.settings_json)
    facts = letter_facts(store, case.id, trust)
    text, html = rendering.render_preview(facts, letter, frozen)
    return Preview(case.doe, letter, text, html, rendering.approval_digest(facts, letter, frozen))


def approve_letter(
    store: Store,
    doe: str,
    actor: str,
    now_us: int,
    expect_digest: str | None = None,
    trust: EvidenceTrust | None = None,
) -> letter_store.LetterRow:
    """Record a person's approval of the case's newest unsent letter, bound to its content digest.

    Args:
        expect_digest: the digest ``letters preview`` showed the approver; refused if the letter differs.

    Raises:
        LetterError: no unsent letter, content differs from ``expect_digest``. WorkflowError: the case
            cannot take an approval (or a reminder cannot go out in its status). UnprovenCase: the
            case's proven evidence no longer carries it.
    """
    shown = preview_letter(store, doe, trust=trust)
    case, letter, digest = case_store.get_case(store, doe), shown.letter, shown.digest
    check_request_allows_letters(store, case)
    if expect_digest is not None and expect_digest.strip().lower() != digest:
        raise rendering.LetterError(
            f"{case.doe}: the letter's digest is {digest}, not the one given; preview it again"
        )
    note = f"{letter.kind} letter {letter.payment_reference} approved (content sha256 {digest})"
    if letter.kind == "initial":
        move_case(store, case.id, CaseEvent.APPROVE, actor, note, now_us)
        return letter_store.approve_letter(store, letter.id, actor, now_us, digest)
    if not may_send_letter(case.status):
        raise rendering.LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    return letter_store.approve_letter(
        store, letter.id, actor, now_us, digest, letter_store.CaseNote(actor, note)
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the SMTP relay is and where postal PDFs go (``out`` None: no postal letters possible)."""

    smtp_host: str | None
    smtp_port: int
    out: Path | None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SentLetter:
    """One letter that left: by e-mail (``message_id``) or for post (``pdf_path``)."""

    doe: str
    letter: letter_store.LetterRow
    message_id: str | None
    pdf_path: Path | None


def check_out_dir(out: Path) -> None:
    """Make sure ``out`` is a writable directory (created 0700 when missing) — before anything is sent.

    Raises:
        LetterError: it is not a directory, cannot be created, or a file cannot be created in it.
    """
    if out.exists() and not out.is_dir():
        raise rendering.LetterError(f"--out {out}: not a directory; nothing sent")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".swarmscope-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise rendering.LetterError(
            f"--out {out}: not a writable directory ({exc.strerror or exc}); nothing sent"
        ) from None


BLOCKING_REQUEST_STATUSES = ("quashed", "contested")


def check_request_allows_letters(store: Store, case: Any) -> None:
    """Refuse any letter for a case whose disclosure request a court quashed or that is contested.

    Raises:
        LetterError: naming the request and its status.
    """
    if case.request_id is None:
        return
    request = case_store.get_request(store, case.request_id)
    if request.status in BLOCKING_REQUEST_STATUSES:
        raise rendering.LetterError(
            f"{case.doe}: disclosure request {request.id} is {request.status}; no letter may be drafted, "
            "approved or sent on it"
        )


def _check_sendable(case: Any, letter: letter_store.LetterRow | None) -> letter_store.LetterRow:
    if letter is None or letter.sent_us is not None or letter.voided_us is not None:
        raise rendering.LetterError(f"{case.doe} has no unsent letter")
    if letter.message_id is not None:
        raise rendering.LetterError(
            f"{case.doe}: letter {letter.payment_reference} was handed to the SMTP server as "
            f"{letter.message_id} but its sending was not recorded (outcome unknown); check the server's "
            "log, then redraft and approve it again to send a new one"
        )
    if letter.approved_us is None:
        raise rendering.LetterError(
            f"{case.doe}: letter {letter.payment_reference} is not approved; nothing sent"
        )
    if letter.kind == "initial":
        next_case_status(case.status, CaseEvent.SEND)  # the workflow gate: only from approved
    elif not may_send_letter(case.status):
        raise rendering.LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    return letter


def _bound_content(
    store: Store,
    case: Any,
    letter: letter_store.LetterRow,
    given: Mapping[str, Any],
    trust: EvidenceTrust | None,
) -> tuple[letter_store.CaseFacts, rendering.LetterSettings, str]:
    """The facts, frozen settings and digest of ``letter``, checked against its approval and ``given``."""
    frozen = rendering.frozen_settings(letter.settings_json)
    changed = rendering.settings_conflicts(frozen, given)
    if changed:
        raise rendering.LetterError(
            f"{case.doe}: the send-time settings change {', '.join(changed)} from what was drafted and "
            "approved; nothing sent (to change them, draft and approve the letter again)"
        )
    facts = letter_facts(store, case.id, trust)
    digest = rendering.approval_digest(facts, letter, frozen)
    if digest != letter.approved_sha256:
        raise rendering.LetterError(
            f"{case.doe}: the letter's content differs from what was approved (sha256 {digest}); nothing "
            "sent — draft it again, preview and approve"
        )
    return facts, frozen, digest


def send_letter(
    store: Store,
    doe: str,
    key: IdentityKey,
    given: Mapping[str, Any],
    delivery: Delivery,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
) -> SentLetter:
    """Send the case's approved letter: decrypt the identity (audited), render, e-mail or write the PDF.

    Args:
        given: send-time settings keys (file + CLI options); any contact that differs from the frozen
            settings refuses the letter. delivery: SMTP relay and ``out`` directory (checked first).

    Raises:
        LetterError: not approved, content changed since approval, no way to deliver, ``out`` unusable;
            or the letter was e-mailed and recorded but its PDF copy could not be written.
        WorkflowError: the case may not receive it. MailError: the SMTP server refused (nothing is
        recorded as sent). IdentityError: wrong key. UnprovenCase: the case's proven evidence no longer
        carries it (checked before anything is decrypted or sent).
    """
    case = case_store.get_case(store, doe)
    require_proven(store, case, trust)
    check_request_allows_letters(store, case)
    letter = _check_sendable(case, latest_letter(store, case.id))
    facts, frozen, digest = _bound_content(store, case, letter, given, trust)
    if delivery.out is not None:
        check_out_dir(delivery.out)
    identity = read_identity(store, key, case.id, actor, now_us)
    to = rendering.Addressee(identity.name, identity.postal_address, identity.email)
    by_mail = bool(to.email and delivery.smtp_host)
    if not by_mail and delivery.out is None:
        raise rendering.LetterError(
            f"{case.doe}: no e-mail route for this subscriber; pass --out DIR for postal mail"
        )
    final = replace(letter, sent_us=now_us, deadline_us=now_us + letter.deadline_us - letter.created_us)
    rendered = rendering.render_letter(facts, final, to, frozen)
    pdf_path = delivery.out / f"{case.doe}-{letter.kind}-{letter.id}.pdf" if delivery.out else None
    if not by_mail:
        assert pdf_path is not None
        _write_pdf(pdf_path, rendered.pdf, case.doe, "nothing sent")
        sent = _record_sent(
            store,
            case.id,
            letter,
            rendered,
            digest,
            None,
            f"PDF written for postal mail: {pdf_path}",
            actor,
            now_us,
        )
        return SentLetter(case.doe, sent, None, pdf_path)
    assert delivery.smtp_host is not None
    message = rendering.build_message(facts, final, rendered, to, frozen, now_us)
    del message["Message-ID"]
    message["Message-ID"] = make_msgid(domain=_sender_domain(frozen))
    if not letter_store.claim_sending(store, letter.id, str(message["Message-ID"])):
        raise rendering.LetterError(f"{case.doe}: letter {letter.payment_reference} is being sent already")
    try:
        message_id = asyncio.run(
            send_message(delivery.smtp_host, delivery.smtp_port, message, timeout=delivery.timeout)
        )
    except MailError:  # the server refused or was unreachable: nothing left, the claim is released
        letter_store.release_claim(store, letter.id, str(message["Message-ID"]))
        raise
    sent = _record_sent(
        store,
        case.id,
        letter,
        rendered,
        digest,
        message_id,
        f"e-mailed, Message-ID {message_id}",
        actor,
        now_us,
    )
    if pdf_path is not None:
        _write_pdf(
            pdf_path, rendered.pdf, case.doe, f"the letter was e-mailed ({message_id}) and recorded as sent"
        )
    return SentLetter(case.doe, sent, message_id, pdf_path)


def _sender_domain(settings: rendering.LetterSettings) -> str:
    """The domain of the sender's e-mail address for Message-IDs (``swarmscope.invalid`` without one)."""
    address = getattr(settings, "sender_email", None) or ""
    return address.rpartition("@")[2] or "swarmscope.invalid"


def _write_pdf(path: Path, pdf: bytes, doe: str, state: str) -> None:
    try:
        rendering.write_private(path, pdf)
    except OSError as exc:
        raise rendering.LetterError(
            f"{doe}: {state}, but the PDF {path} could not be written ({exc.strerror or exc})"
        ) from None


def _record_sent(
    store: Store,
    case_id: int,
    letter: letter_store.LetterRow,
    rendered: rendering.RenderedLetter,
    digest: str,
    message_id: str | None,
    how: str,
    actor: str,
    now_us: int,
) -> letter_store.LetterRow:
    """Mark the letter sent (right after it left) and move the case (initial letter) or note it (reminder)."""
    note = f"{letter.kind} letter {letter.payment_reference} sent ({how})"
    pdf_sha256 = hashlib.sha256(rendered.pdf).hexdigest()
    case_note = None if letter.kind == "initial" else letter_store.CaseNote(actor, note)
    try:
        sent = letter_store.mark_sent(
            store, letter.id, now_us, pdf_sha256, message_id, case_note, approved_sha256=digest
        )
        if letter.kind == "initial":
            move_case(store, case_id, CaseEvent.SEND, actor, note, now_us)
    except SwarmscopeError as exc:
        raise rendering.LetterError(
            f"letter {letter.payment_reference} left ({how}) but recording it failed: {exc}; "
            "do not send it again"
        ) from None
    return sent


def pending_approved(store: Store) -> list[str]:
    """DOE numbers whose newest letter is approved, unsent, not voided, and may go out in the case's status
    (what ``letters send`` sends; a disputed or withdrawn case's approved reminder is not pending)."""
    out = []
    for case in case_store.list_cases(store):
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
    store: Store, settings: rendering.LetterSettings, actor: str, now_us: int
) -> list[letter_store.LetterRow]:
    """Draft a reminder for every case whose newest letter was sent and is past its deadline, still open.

    The amount is the first letter's amount less what was paid; the deadline ``reminder_days`` from sending.
    """
    out = []
    for case in case_store.list_cases(store):
        letter = latest_letter(store, case.id)
        if (
            letter is None
            or letter.sent_us is None
            or letter.deadline_us > now_us
            or not may_send_letter(case.status)
        ):
            continue
        claim = letter_store.list_letters(store, case_id=case.id)[0].amount_cents
        paid = sum(
            p.amount_cents
            for p in letter_store.list_payments(store, case.id)
            if p.currency == letter.currency
        )
        note = letter_store.CaseNote(actor, f"reminder drafted after deadline of {letter.payment_reference}")
        amount = max(claim - paid, 0) or claim
        try:  # the contacts of the letter it follows (they were approved)
            base = rendering.frozen_settings(letter.settings_json)
        except rendering.LetterError:
            base = settings
        days = settings.reminder_days
        frozen = replace(
            base, amount_cents=amount, currency=letter.currency, deadline_days=days, reminder_days=days
        )
        out.append(
            letter_store.add_letter(
                store, case.id, "reminder", amount, letter.currency,
                now_us + settings.reminder_days * DAY_US, partial(rendering.payment_reference, case.id),
                now_us, note, settings_json=rendering.settings_json(frozen),
            )
        )  # fmt: skip
    return out


def expire_letters(store: Store, actor: str, now_us: int) -> list[str]:
    """Move every ``sent`` case whose newest sent letter is past its deadline to ``no_response``."""
    out = []
    for case in case_store.list_cases(store, status=CaseStatus.SENT):
        sent = [row for row in letter_store.list_letters(store, case_id=case.id) if row.sent_us is not None]
        if sent and sent[-1].deadline_us < now_us:
            note = f"deadline of {sent[-1].payment_reference} passed without payment or dispute"
            move_case(store, case.id, CaseEvent.EXPIRE, actor, note, now_us)
            out.append(case.doe)
    return out
