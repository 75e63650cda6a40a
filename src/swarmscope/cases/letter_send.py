"""Sending an approved settlement letter: e-mail with the PDF attached, or a PDF for postal mail.

Only an approved letter whose content still has the approved digest, and whose approval of that digest is
sealed in the ledger under a trusted node key (:mod:`swarmscope.cases.sealed_history`: an edited letter
row with a recomputed ``approved_sha256`` matches no sealed approval), is sent, only while
:func:`swarmscope.cases.workflow.may_send_letter` allows; it is rendered from the settings frozen at
drafting only — a send-time setting that differs from them is refused
(:func:`swarmscope.cases.letter_settings.settings_conflicts`). The identity is decrypted through the
audited :func:`swarmscope.store.legal.subscribers.read_identity`, only when the ISP disclosed it for the
address, port and window of the proven hits the case claims
(:func:`swarmscope.cases.disclosure_check.read_disclosed_identity`).

Sending order: the ``out`` directory is checked (a writable directory) before anything is sent; an e-mailed
letter is claimed (its Message-ID stored) before the SMTP exchange, recorded as sent (sent_us, Message-ID)
as soon as the SMTP server accepted it (RFC 5321 section 6.1: the 250 reply to the end of data hands the
server the responsibility for delivery), and only then is its PDF copy written — a later failure is
reported but never causes a second sending. PDFs are written 0600. The deadline is the sending time plus
the term fixed at drafting (``deadline_days``), so a letter approved on Monday and sent on Friday still
gives the full term. The sending is sealed too (``letter_sent``), with the node's key: sending needs it.
A letter never leaves while the case's sealed history stops it, whatever its rows say now
(:func:`swarmscope.cases.case_state.sending_problem`): a sealed sending of the initial letter (a retry
never sends it twice), a sealed dispute or payments settling the claim (no further letters), or sent
letter, payment and dispute rows that differ from the sealed ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.case_proof import require_proven
from swarmscope.cases.case_state import require_status, sending_problem
from swarmscope.cases.disclosure_check import read_disclosed_identity, require_disclosed
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.letter_flow import check_request_allows_letters, latest_letter
from swarmscope.cases.letter_settings import LetterError, LetterSettings, frozen_settings, settings_conflicts
from swarmscope.cases.letters import (
    Addressee,
    RenderedLetter,
    approval_digest,
    build_message,
    render_letter,
    write_private,
)
from swarmscope.cases.sealed_history import (
    SENT,
    recipient_sha256,
    require_sealed_approval,
    seal_step,
    sent_content,
)
from swarmscope.cases.workflow import CaseEvent, may_send_letter, next_case_status
from swarmscope.errors import SwarmscopeError
from swarmscope.net.smtp_client import MailError, send_message
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.workflow_seals import signer, workflow_history


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
        raise LetterError(f"--out {out}: not a directory; nothing sent")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".swarmscope-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LetterError(
            f"--out {out}: not a writable directory ({exc.strerror or exc}); nothing sent"
        ) from None


def _check_sendable(case: case_rows.CaseRow, letter: letter_store.LetterRow | None) -> letter_store.LetterRow:
    if letter is None or letter.sent_us is not None or letter.voided_us is not None:
        raise LetterError(f"{case.doe} has no unsent letter")
    if letter.message_id is not None:
        raise LetterError(
            f"{case.doe}: letter {letter.payment_reference} was handed to the SMTP server as "
            f"{letter.message_id} but its sending was not recorded (outcome unknown); check the server's "
            "log, then redraft and approve it again to send a new one"
        )
    if letter.approved_us is None:
        raise LetterError(f"{case.doe}: letter {letter.payment_reference} is not approved; nothing sent")
    if letter.kind == "initial":
        next_case_status(case.status, CaseEvent.SEND)  # the workflow gate: only from approved
    elif not may_send_letter(case.status):
        raise LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    return letter


def _bound_content(
    store: Store,
    case: case_rows.CaseRow,
    letter: letter_store.LetterRow,
    given: Mapping[str, Any],
    trust: EvidenceTrust | None,
) -> tuple[letter_store.CaseFacts, LetterSettings, str]:
    """The facts, frozen settings and digest of ``letter``, checked against its approval and ``given``."""
    frozen = frozen_settings(letter.settings_json)
    changed = settings_conflicts(frozen, given)
    if changed:
        raise LetterError(
            f"{case.doe}: the send-time settings change {', '.join(changed)} from what was drafted and "
            "approved; nothing sent (to change them, draft and approve the letter again)"
        )
    facts = letter_facts(store, case.id, trust)
    digest = approval_digest(facts, letter, frozen, recipient_sha256(store, case))
    if digest != letter.approved_sha256:
        raise LetterError(
            f"{case.doe}: the approval does not cover this letter: its content or its addressee (the "
            f"identity stored for the case) differs from what was approved (sha256 {digest}), or it was "
            "approved before approvals bound the addressee; nothing sent — preview and approve it again"
        )
    return facts, frozen, digest


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A letter ready to leave: checked, bound to its approval, rendered for its addressee."""

    case: case_rows.CaseRow
    letter: letter_store.LetterRow
    digest: str
    rendered: RenderedLetter
    pdf_path: Path | None
    actor: str
    now_us: int


def send_letter(
    store: Store,
    doe: str,
    key: IdentityKey,
    given: Mapping[str, Any],
    delivery: Delivery,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    policy: DocumentPolicy = COURT_TESTED,
) -> SentLetter:
    """Send the case's approved letter: decrypt the identity (audited), render, e-mail or write the PDF.

    Args:
        given: send-time settings keys (file + CLI options); any contact that differs from the frozen
            settings refuses the letter. delivery: SMTP relay and ``out`` directory (checked first).
        policy: the thresholds the case is re-judged under (its build note only tightens them).

    Raises:
        LetterError: not approved, content changed since approval, no way to deliver, ``out`` unusable;
            or the letter was e-mailed and recorded but its PDF copy could not be written.
        WorkflowError: the case may not receive it. MailError: the SMTP server refused (nothing is
        recorded as sent). IdentityError: wrong key, or the stored disclosure was altered. UnprovenCase:
        the case's proven evidence no longer carries it, or (``UndisclosedCase``) its identity was
        disclosed for another address, port or window (checked before anything is decrypted or sent).
    """
    case = case_status.get_case(store, doe)
    require_proven(store, case, trust, policy)
    require_status(store, case, trust)
    require_disclosed(store, case, trust)
    check_request_allows_letters(store, case, trust)
    letter = _check_sendable(case, latest_letter(store, case.id))
    facts, frozen, digest = _bound_content(store, case, letter, given, trust)
    history = workflow_history(store, store_trust(store, trust))
    require_sealed_approval(history, case, letter, digest)
    stopped = sending_problem(store, history, case, letter)
    if stopped is not None:
        raise LetterError(stopped)
    signer(store, "letters send")  # its sending is sealed: refused before anything leaves
    if delivery.out is not None:
        check_out_dir(delivery.out)
    identity = read_disclosed_identity(store, key, case.id, actor, now_us, trust)
    to = Addressee(identity.name, identity.postal_address, identity.email)
    by_mail = bool(to.email and delivery.smtp_host)
    if not by_mail and delivery.out is None:
        raise LetterError(f"{case.doe}: no e-mail route for this subscriber; pass --out DIR for postal mail")
    final = replace(letter, sent_us=now_us, deadline_us=now_us + letter.deadline_us - letter.created_us)
    rendered = render_letter(facts, final, to, frozen)
    pdf_path = delivery.out / f"{case.doe}-{letter.kind}-{letter.id}.pdf" if delivery.out else None
    outgoing = _Outgoing(case, letter, digest, rendered, pdf_path, actor, now_us)
    if not by_mail:
        return _send_by_post(store, outgoing)
    message = build_message(facts, final, rendered, to, frozen, now_us)
    del message["Message-ID"]
    message["Message-ID"] = make_msgid(domain=_sender_domain(frozen))
    return _send_by_mail(store, outgoing, message, delivery)


def _send_by_post(store: Store, out: _Outgoing) -> SentLetter:
    """Write the PDF for postal mail, then record the letter as sent."""
    assert out.pdf_path is not None
    _write_pdf(out.pdf_path, out.rendered.pdf, out.case.doe, "nothing sent")
    sent = _record_sent(store, out, None, f"PDF written for postal mail: {out.pdf_path}")
    return SentLetter(out.case.doe, sent, None, out.pdf_path)


def _send_by_mail(store: Store, out: _Outgoing, message: EmailMessage, delivery: Delivery) -> SentLetter:
    """Claim the letter, hand it to the SMTP relay, record it as sent, then write its PDF copy (if asked)."""
    assert delivery.smtp_host is not None
    letter = out.letter
    if not letter_store.claim_sending(store, letter.id, str(message["Message-ID"])):
        raise LetterError(f"{out.case.doe}: letter {letter.payment_reference} is being sent already")
    try:
        message_id = asyncio.run(
            send_message(delivery.smtp_host, delivery.smtp_port, message, timeout=delivery.timeout)
        )
    except MailError:  # the server refused or was unreachable: nothing left, the claim is released
        letter_store.release_claim(store, letter.id, str(message["Message-ID"]))
        raise
    sent = _record_sent(store, out, message_id, f"e-mailed, Message-ID {message_id}")
    if out.pdf_path is not None:
        state = f"the letter was e-mailed ({message_id}) and recorded as sent"
        _write_pdf(out.pdf_path, out.rendered.pdf, out.case.doe, state)
    return SentLetter(out.case.doe, sent, message_id, out.pdf_path)


def _sender_domain(settings: LetterSettings) -> str:
    """The domain of the sender's e-mail address for Message-IDs (``swarmscope.invalid`` without one)."""
    address = getattr(settings, "sender_email", None) or ""
    return address.rpartition("@")[2] or "swarmscope.invalid"


def _write_pdf(path: Path, pdf: bytes, doe: str, state: str) -> None:
    try:
        write_private(path, pdf)
    except OSError as exc:
        raise LetterError(
            f"{doe}: {state}, but the PDF {path} could not be written ({exc.strerror or exc})"
        ) from None


def _record_sent(store: Store, out: _Outgoing, message_id: str | None, how: str) -> letter_store.LetterRow:
    """Mark the letter sent (right after it left) and move the case (initial letter) or note it (reminder)."""
    letter, actor, now_us = out.letter, out.actor, out.now_us
    note = f"{letter.kind} letter {letter.payment_reference} sent ({how})"
    pdf_sha256 = hashlib.sha256(out.rendered.pdf).hexdigest()
    case_note = None if letter.kind == "initial" else letter_store.CaseNote(actor, note)
    try:
        sent = letter_store.mark_sent(
            store, letter.id, now_us, pdf_sha256, message_id, case_note, approved_sha256=out.digest
        )
        seal_step(store, out.case, SENT, sent_content(sent), now_us)
        if letter.kind == "initial":
            move_case(store, out.case.id, CaseEvent.SEND, actor, note, now_us)
    except SwarmscopeError as exc:
        raise LetterError(
            f"letter {letter.payment_reference} left ({how}) but recording it failed: {exc}; "
            "do not send it again"
        ) from None
    return sent
