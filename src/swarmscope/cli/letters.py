"""``swarmscope letters draft | approve | send | remind | expire``: settlement letters under human approval.

The path of a letter (issue 5 item 7): ``draft`` (case identified → drafted, amount and term fixed) →
``approve DOE --actor NAME`` (a person's recorded decision: approved_by/approved_us and a case_event) →
``send`` (only an approved letter, only while :func:`swarmscope.cases.workflow.may_send_letter` allows; the
identity is decrypted through the audited ``read_identity``; e-mail with the PDF attached when the
subscriber has an address, else the PDF is written for postal mail) → ``expire`` (sent past its deadline →
no_response). ``remind`` drafts a reminder (kind "reminder", the outstanding amount, a new term) for a sent
letter past its deadline; it needs its own approval. A dispute stops every further letter.

The deadline printed is the sending time plus the term fixed at drafting (``deadline_days``), so a letter
approved on Monday and sent on Friday still gives the full term.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from swarmscope.cases import letters as rendering
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.workflow import CaseEvent, CaseStatus, may_send_letter, next_case_status
from swarmscope.cli.app import app
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.net.smtp_client import send_message
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.subscribers import read_identity

DAY_US = 86_400 * 1_000_000
letters_app = typer.Typer(
    help="Settlement letters: draft, approve (human), send, remind, expire.", no_args_is_help=True
)
app.add_typer(letters_app, name="letters")

DbOption = Annotated[str, typer.Option("--db", help="Evidence database: SQLite path or SQLAlchemy URL.")]
ActorOption = Annotated[str | None, typer.Option("--actor", help="Who decides (default: the OS user name).")]
SettingsOption = Annotated[
    Path | None, typer.Option("--settings", help="Letter settings (TOML, [letters] table).")
]


def actor_name(actor: str | None) -> str:
    """``--actor`` or the OS user name; never blank. Raises InputError."""
    name = (actor if actor is not None else getpass.getuser()).strip()
    if not name:
        raise InputError("--actor: who decides must be named")
    return name


@contextmanager
def workflow_store(db: str) -> Iterator[Store]:
    """The existing store, opened for workflow writes (no node key: letters are not sealed evidence)."""
    store = open_store(db, create=False)
    try:
        yield store
    finally:
        store.close()


def fail(exc: SwarmscopeError) -> typer.Exit:
    """Print ``error: ...`` to stderr and return the exit to raise."""
    typer.echo(f"error: {clean(exc)}", err=True)
    return typer.Exit(1)


def move_case(store: Store, case_id: int, event: CaseEvent, actor: str, note: str, now_us: int) -> None:
    """Apply a workflow event through the store (the check runs in its write transaction)."""
    case_store.set_case_status(store, case_id, event, actor, note, now_us, rule=next_case_status)


def latest_letter(store: Store, case_id: int) -> letter_store.LetterRow | None:
    """The case's newest letter (a redraft or reminder supersedes older ones), or None."""
    rows = letter_store.list_letters(store, case_id=case_id)
    return rows[-1] if rows else None


def draft_letters(
    store: Store, settings: rendering.LetterSettings, dois: list[str], actor: str, now_us: int
) -> list[letter_store.LetterRow]:
    """Draft an initial letter for each case (identified, or a drafted/approved one being revised).

    Raises:
        WorkflowError: a case whose status allows no draft (e.g. disputed). StoreError: unknown case.
    """
    out = []
    for doe in dois:
        case = case_store.get_case(store, doe)
        amount = rendering.format_amount(settings.amount_cents, settings.currency)
        note = f"letter drafted: {amount}, {settings.deadline_days} days"
        move_case(store, case.id, CaseEvent.DRAFT, actor, note, now_us)
        out.append(
            letter_store.add_letter(
                store, case.id, "initial", settings.amount_cents, settings.currency,
                now_us + settings.deadline_days * DAY_US, partial(rendering.payment_reference, case.id),
                now_us,
            )
        )  # fmt: skip
    return out


def approve_letter(store: Store, doe: str, actor: str, now_us: int) -> letter_store.LetterRow:
    """Record a person's approval of the case's newest unsent letter.

    Raises:
        LetterError: no unsent letter. WorkflowError: the case cannot take an approval (or a reminder
            cannot go out in its status).
    """
    case = case_store.get_case(store, doe)
    letter = latest_letter(store, case.id)
    if letter is None or letter.sent_us is not None:
        raise rendering.LetterError(f"{case.doe} has no unsent letter to approve; draft one first")
    note = f"{letter.kind} letter {letter.payment_reference} approved"
    if letter.kind == "initial":
        move_case(store, case.id, CaseEvent.APPROVE, actor, note, now_us)
        return letter_store.approve_letter(store, letter.id, actor, now_us)
    if not may_send_letter(case.status):
        raise rendering.LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    return letter_store.approve_letter(store, letter.id, actor, now_us, letter_store.CaseNote(actor, note))


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


def _check_sendable(case: Any, letter: letter_store.LetterRow | None) -> letter_store.LetterRow:
    if letter is None or letter.sent_us is not None:
        raise rendering.LetterError(f"{case.doe} has no unsent letter")
    if letter.approved_us is None:
        raise rendering.LetterError(
            f"{case.doe}: letter {letter.payment_reference} is not approved; nothing sent"
        )
    if letter.kind == "initial":
        next_case_status(case.status, CaseEvent.SEND)  # the workflow gate: only from approved
    elif not may_send_letter(case.status):
        raise rendering.LetterError(f"{case.doe} is {case.status}: no further letter may go out")
    return letter


def send_letter(
    store: Store,
    doe: str,
    key: IdentityKey,
    settings: rendering.LetterSettings,
    delivery: Delivery,
    actor: str,
    now_us: int,
) -> SentLetter:
    """Send the case's approved letter: decrypt the identity (audited), render, e-mail or write the PDF.

    Raises:
        LetterError: not approved, no way to deliver. WorkflowError: the case may not receive it.
        MailError: the SMTP server refused (nothing is recorded as sent). IdentityError: wrong key.
    """
    case = case_store.get_case(store, doe)
    letter = _check_sendable(case, latest_letter(store, case.id))
    identity = read_identity(store, key, case.id, actor, now_us)
    to = rendering.Addressee(identity.name, identity.postal_address, identity.email)
    facts = letter_store.case_facts(store, case.id)
    final = replace(letter, sent_us=now_us, deadline_us=now_us + letter.deadline_us - letter.created_us)
    rendered = rendering.render_letter(facts, final, to, settings)
    message_id, pdf_path = None, None
    if to.email and delivery.smtp_host:
        message = rendering.build_message(facts, final, rendered, to, settings, now_us)
        message_id = asyncio.run(
            send_message(delivery.smtp_host, delivery.smtp_port, message, timeout=delivery.timeout)
        )
    elif delivery.out is None:
        raise rendering.LetterError(
            f"{case.doe}: no e-mail route for this subscriber; pass --out DIR for postal mail"
        )
    if delivery.out is not None:
        delivery.out.mkdir(parents=True, exist_ok=True)
        pdf_path = delivery.out / f"{case.doe}-{letter.kind}-{letter.id}.pdf"
        pdf_path.write_bytes(rendered.pdf)
    how = f"e-mailed, Message-ID {message_id}" if message_id else f"PDF written for postal mail: {pdf_path}"
    note = f"{letter.kind} letter {letter.payment_reference} sent ({how})"
    digest = hashlib.sha256(rendered.pdf).hexdigest()
    if letter.kind == "initial":
        sent = letter_store.mark_sent(store, letter.id, now_us, digest, message_id)
        move_case(store, case.id, CaseEvent.SEND, actor, note, now_us)
    else:
        sent = letter_store.mark_sent(
            store, letter.id, now_us, digest, message_id, letter_store.CaseNote(actor, note)
        )
    return SentLetter(case.doe, sent, message_id, pdf_path)


def pending_approved(store: Store) -> list[str]:
    """DOE numbers whose newest letter is approved and unsent (what ``letters send`` sends)."""
    out = []
    for case in case_store.list_cases(store):
        letter = latest_letter(store, case.id)
        if letter is not None and letter.approved_us is not None and letter.sent_us is None:
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
        out.append(
            letter_store.add_letter(
                store, case.id, "reminder", max(claim - paid, 0) or claim, letter.currency,
                now_us + settings.reminder_days * DAY_US, partial(rendering.payment_reference, case.id),
                now_us, note,
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


def _settings(path: Path | None, overrides: dict[str, Any], *, amount: bool) -> rendering.LetterSettings:
    return rendering.load_settings(path, overrides, amount=amount, contacts=not amount)


def _now() -> int:
    return Clock().now_us()


@letters_app.command("draft")
def draft_command(
    case: Annotated[str | None, typer.Option("--case", help="One case (DOE number).")] = None,
    all_identified: Annotated[bool, typer.Option("--all-identified", help="Every identified case.")] = False,
    amount: Annotated[str | None, typer.Option("--amount", help="Amount asked, e.g. 450.00.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 code, e.g. EUR.")] = None,
    deadline_days: Annotated[
        int | None, typer.Option("--deadline-days", min=1, help="Days from sending.")
    ] = None,
    settings: SettingsOption = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Draft initial letters (they still need `letters approve`)."""
    try:
        if (case is None) == (not all_identified):
            raise InputError("give exactly one of --case DOE or --all-identified")
        chosen = _settings(
            settings, {"amount": amount, "currency": currency, "deadline_days": deadline_days}, amount=True
        )
        with workflow_store(db) as store:
            dois = (
                [case]
                if case
                else [c.doe for c in case_store.list_cases(store, status=CaseStatus.IDENTIFIED)]
            )
            for row in draft_letters(store, chosen, dois, actor_name(actor), _now()):
                typer.echo(
                    f"drafted letter {rendering.grouped(row.payment_reference)} (case id {row.case_id})"
                )
    except SwarmscopeError as exc:
        raise fail(exc) from None


@letters_app.command("approve")
def approve_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record your approval of the case's newest unsent letter (initial or reminder)."""
    try:
        with workflow_store(db) as store:
            row = approve_letter(store, case, actor_name(actor), _now())
        ref = rendering.grouped(row.payment_reference)
        typer.echo(f"{clean(case)}: {row.kind} letter {ref} approved by {clean(row.approved_by)}")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@letters_app.command("send")
def send_command(
    identity_key: Annotated[
        Path | None, typer.Option("--identity-key", help="Identity key file (or SWARMSCOPE_IDENTITY_KEY).")
    ] = None,
    case: Annotated[
        str | None, typer.Option("--case", help="Only this case (default: every approved letter).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="SMTP relay host.")] = None,
    smtp_port: Annotated[int, typer.Option("--smtp-port", help="SMTP relay port.")] = 25,
    sender: Annotated[str | None, typer.Option("--from", help="Sender e-mail address.")] = None,
    sender_name: Annotated[
        str | None, typer.Option("--sender-name", help="Sender name on the letter.")
    ] = None,
    dispute_email: Annotated[str | None, typer.Option("--dispute-email", help="Where disputes go.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the PDFs (postal letters need it).")
    ] = None,
    settings: SettingsOption = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Send approved letters: e-mail with the PDF attached, or a PDF for postal mail."""
    overrides = {"sender_email": sender, "sender_name": sender_name, "dispute_email": dispute_email}
    failed = 0
    try:
        chosen = _settings(settings, overrides, amount=False)
        key = IdentityKey.load(identity_key)
        who, delivery = actor_name(actor), Delivery(smtp_host, smtp_port, out)
        with workflow_store(db) as store:
            for doe in [case] if case else pending_approved(store):
                try:
                    sent = send_letter(store, doe, key, chosen, delivery, who, _now())
                except SwarmscopeError as exc:
                    failed += 1
                    typer.echo(f"error: {clean(doe)}: {clean(exc)}", err=True)
                    continue
                where = f"e-mailed {sent.message_id}" if sent.message_id else f"PDF {sent.pdf_path} for post"
                typer.echo(f"{sent.doe}: {sent.letter.kind} letter sent ({clean(where)})")
    except SwarmscopeError as exc:
        raise fail(exc) from None
    if failed:
        raise typer.Exit(1)


@letters_app.command("remind")
def remind_command(
    settings: SettingsOption = None,
    reminder_days: Annotated[
        int | None, typer.Option("--reminder-days", min=1, help="Days from sending.")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Draft reminders for sent letters past their deadline (each needs `letters approve`)."""
    try:
        chosen = rendering.load_settings(
            settings, {"reminder_days": reminder_days}, amount=False, contacts=False
        )
        with workflow_store(db) as store:
            for row in remind_letters(store, chosen, actor_name(actor), _now()):
                typer.echo(
                    f"drafted reminder {rendering.grouped(row.payment_reference)} (case id {row.case_id})"
                )
    except SwarmscopeError as exc:
        raise fail(exc) from None


@letters_app.command("expire")
def expire_command(actor: ActorOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Move sent cases past their deadline (no payment, no dispute) to no_response."""
    try:
        with workflow_store(db) as store:
            for doe in expire_letters(store, actor_name(actor), _now()):
                typer.echo(f"{doe}: no response by the deadline")
    except SwarmscopeError as exc:
        raise fail(exc) from None
