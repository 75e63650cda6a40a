"""``swarmscope letters draft | preview | approve | send | remind | expire``: letters under human approval.

Parsing, printing and exit codes only: the path of a letter and its gates are
:mod:`swarmscope.cases.letter_flow` (draft, preview, approve, remind, expire) and
:mod:`swarmscope.cases.letter_send` (the sending order, the frozen settings); rendering and the approval
digest are :mod:`swarmscope.cases.letters`. ``--out`` of ``send`` is checked (a writable directory) before
anything is sent. ``draft``, ``preview``, ``approve`` and ``send`` re-judge each case under the threshold
options they are given (:mod:`swarmscope.cli.policy_options`; default: the court-tested thresholds, which a
case's build note may tighten, never loosen). The deadline printed is the sending time plus the term fixed
at drafting (``deadline_days``), so a letter approved on Monday and sent on Friday still gives the full term.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.letter_flow import (
    approve_letter,
    draft_letters,
    expire_letters,
    pending_approved,
    preview_letter,
    remind_letters,
)
from swarmscope.cases.letter_send import Delivery, check_out_dir, send_letter
from swarmscope.cases.letter_settings import LetterError, load_settings, read_settings, settings_from
from swarmscope.cases.letters import pdf_of, write_private
from swarmscope.cases.payment_reference import grouped
from swarmscope.cases.workflow import CaseStatus
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate, gated
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.numeric import LETTER_DAYS, PORT, number_option
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail, now_us
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.database import DEFAULT_DB, Store
from swarmscope.store.ledger.head_anchor import node_head
from swarmscope.store.legal import case_status

letters_app = typer.Typer(
    help="Settlement letters: draft, approve (human), send, remind, expire.", no_args_is_help=True
)
app.add_typer(letters_app, name="letters")

SettingsOption = Annotated[
    Path | None, typer.Option("--settings", help="Letter settings (TOML, [letters] table).")
]


@letters_app.command("draft")
@gated
def draft_command(
    case: Annotated[str | None, typer.Option("--case", help="One case (DOE number).")] = None,
    all_identified: Annotated[bool, typer.Option("--all-identified", help="Every identified case.")] = False,
    amount: Annotated[str | None, typer.Option("--amount", help="Amount asked, e.g. 450.00.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 code, e.g. EUR.")] = None,
    deadline_days: Annotated[
        int | None, number_option("--deadline-days", LETTER_DAYS, "Days from sending.")
    ] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Sender e-mail address.")] = None,
    sender_name: Annotated[
        str | None, typer.Option("--sender-name", help="Sender name on the letter.")
    ] = None,
    dispute_email: Annotated[str | None, typer.Option("--dispute-email", help="Where disputes go.")] = None,
    settings: SettingsOption = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    *,
    gate: Gate,
) -> None:
    """Draft initial letters, their settings frozen (they still need `letters preview` and `approve`).

    A case whose evidence is not proven against the sealed ledger under the trusted node key (--node-key,
    default beside the database; or --trust-key), or that fails the thresholds given here (--min-hits,
    --min-span, --allow-flag, --clock-threshold-ms; default: the court-tested ones; a case's build note may
    tighten them, never loosen them) gets no letter: one error line naming it, exit status 1.
    """
    failed = 0
    try:
        policy = gate.policy()
        if (case is None) == (not all_identified):
            raise InputError("give exactly one of --case DOE or --all-identified")
        chosen = load_settings(
            settings,
            {"amount": amount, "currency": currency, "deadline_days": deadline_days, "sender_email": sender,
             "sender_name": sender_name, "dispute_email": dispute_email},
        )  # fmt: skip
        now = now_us()
        with gate.open(db, now, sign=True) as (store, trust):
            dois = (
                [case]
                if case
                else [c.doe for c in case_status.list_cases(store, status=CaseStatus.IDENTIFIED)]
            )
            drafted = 0
            for doe in dois:
                try:
                    rows = draft_letters(store, chosen, [doe], actor_name(actor), now, trust, policy)
                except UnprovenCase as exc:
                    failed += 1
                    typer.echo(f"error: {clean(exc)}", err=True)
                    continue
                drafted += len(rows)
                for row in rows:
                    typer.echo(f"drafted letter {grouped(row.payment_reference)} (case id {row.case_id})")
            if not drafted and not failed:
                typer.echo("no letter drafted: no case is identified")
    except SwarmscopeError as exc:
        raise fail(exc) from None
    if failed:
        raise typer.Exit(1)


@letters_app.command("preview")
@gated
def preview_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the PDF to this file.")] = None,
    db: DbOption = DEFAULT_DB,
    *,
    gate: Gate,
) -> None:
    """Show the case's newest unsent letter as it will be sent (addressee and dates are placeholders).

    Refused for a case that fails the thresholds given here (default: the court-tested ones).
    """
    try:
        policy = gate.policy()
        with gate.open(db, now_us()) as (store, trust):
            shown = preview_letter(store, case, trust=trust, policy=policy)
        typer.echo(shown.text)
        if out is not None:
            try:
                write_private(out, pdf_of(shown.html))
            except OSError as exc:
                raise LetterError(f"--out {out}: {exc.strerror or exc}") from None
            typer.echo(f"PDF written to {clean(out)}")
        typer.echo(f"approval digest (sha256): {shown.digest}")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@letters_app.command("approve")
@gated
def approve_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    digest: Annotated[
        str | None, typer.Option("--digest", help="The digest `letters preview` showed you (checked).")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    *,
    gate: Gate,
) -> None:
    """Record your approval of the case's newest unsent letter (initial or reminder), bound to its content.

    The approval is sealed in the ledger with the node's signing key (--node-key, default beside the
    database); `letters send` sends only a letter whose content a sealed approval matches.

    Refused for a case that fails the thresholds given here (default: the court-tested ones).
    """
    try:
        policy = gate.policy()
        now = now_us()
        with gate.open(db, now, sign=True) as (store, trust):
            row = approve_letter(store, case, actor_name(actor), now, digest, trust, policy)
        ref = grouped(row.payment_reference)
        typer.echo(f"{clean(case)}: {row.kind} letter {ref} approved by {clean(row.approved_by)}")
        typer.echo(f"content sha256 {row.approved_sha256} (as `letters preview {clean(case)}` shows it)")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@letters_app.command("send")
@gated
def send_command(
    identity_key: Annotated[
        Path | None, typer.Option("--identity-key", help="Identity key file (or SWARMSCOPE_IDENTITY_KEY).")
    ] = None,
    case: Annotated[
        str | None, typer.Option("--case", help="Only this case (default: every approved letter).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="SMTP relay host.")] = None,
    smtp_port: Annotated[int, number_option("--smtp-port", PORT, "SMTP relay port.")] = 25,
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
    *,
    gate: Gate,
) -> None:
    """Send approved letters: e-mail with the PDF attached, or a PDF for postal mail.

    Letters are rendered from the settings frozen at drafting; --settings, --from, --sender-name and
    --dispute-email are only checked against them (a letter they would change is not sent), and its
    content must match an approval sealed in the ledger; the sending is sealed too (the node's signing
    key, --node-key, default beside the database). A case that
    fails the thresholds given here (default: the court-tested ones) gets none: one error line naming it.
    """
    overrides = {"sender_email": sender, "sender_name": sender_name, "dispute_email": dispute_email}
    failed = 0
    try:
        policy = gate.policy()
        given = read_settings(settings, overrides)
        settings_from(given, amount=False, contacts=False)  # unknown keys, wrong types
        key = IdentityKey.load(identity_key)
        who, delivery = actor_name(actor), Delivery(smtp_host, smtp_port, out)
        if out is not None:
            check_out_dir(out)
        with gate.open(db, now_us(), sign=True) as (store, trust):
            todo = [case] if case else pending_approved(store)
            if not todo:
                typer.echo("no letter sent: none is approved and unsent (`letters approve DOE` first)")
            for doe in todo:
                try:
                    sent = send_letter(store, doe, key, given, delivery, who, now_us(), trust, policy)
                except (SwarmscopeError, OSError) as exc:
                    failed += 1
                    text = clean(exc)  # most errors name the case already
                    prefix = "" if text.startswith(doe) else f"{clean(doe)}: "
                    typer.echo(f"error: {prefix}{text}", err=True)
                    continue
                where = f"e-mailed {sent.message_id}" if sent.message_id else f"PDF {sent.pdf_path} for post"
                typer.echo(f"{sent.doe}: {sent.letter.kind} letter sent ({clean(where)})")
            if len(todo) > failed:
                _echo_chain_head(store)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    if failed:
        raise typer.Exit(1)


def _echo_chain_head(store: Store) -> None:
    """One ``chain head:`` line: the sealing node's head after the sendings were sealed, for counsel to
    record outside the database (the case file) and check later with ``verify --db --expect-head``
    (README "Sealed ledger": the witness's limit, outside anchor)."""
    head = None if store.node is None else node_head(store, store.node.fingerprint)
    if head is not None and store.node is not None:
        typer.echo(
            f"chain head: node {store.node.fingerprint} index {head.index} head {head.entry_hash.hex()}"
            f" (record it outside the database; check it with verify --db --expect-head {head.text()})"
        )


@letters_app.command("remind")
def remind_command(
    settings: SettingsOption = None,
    reminder_days: Annotated[
        int | None, number_option("--reminder-days", LETTER_DAYS, "Days from sending.")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Draft reminders for sent letters past their deadline (each needs `letters approve`).

    Judged by the sealed history only: a case whose letter, payment or status rows contradict its sealed
    events gets none: one error line naming it, exit status 1, the other cases go on.
    """
    refused: list[str] = []
    try:
        chosen = load_settings(settings, {"reminder_days": reminder_days}, amount=False, contacts=False)
        now = now_us()
        with signing_store(db, node_key, now) as store:
            reminders = remind_letters(store, chosen, actor_name(actor), now, refused)
            for row in reminders:
                typer.echo(f"drafted reminder {grouped(row.payment_reference)} (case id {row.case_id})")
            if not reminders and not refused:
                typer.echo("no reminder drafted: no sent letter is past its deadline")
    except SwarmscopeError as exc:
        raise fail(exc) from None
    _refused(refused)


@letters_app.command("expire")
def expire_command(
    actor: ActorOption = None, db: DbOption = DEFAULT_DB, node_key: SigningKeyOption = None
) -> None:
    """Move sent cases past their deadline (no payment, no dispute) to no_response.

    Judged by the sealed history only (as `letters remind`); each expiry is sealed with the node's key
    (--node-key, default beside the database).
    """
    refused: list[str] = []
    try:
        now = now_us()
        with signing_store(db, node_key, now) as store:
            expired = expire_letters(store, actor_name(actor), now, refused)
            for doe in expired:
                typer.echo(f"{doe}: no response by the deadline")
            if not expired and not refused:
                typer.echo("no case expired: no sent letter is past its deadline")
    except SwarmscopeError as exc:
        raise fail(exc) from None
    _refused(refused)


def _refused(refused: list[str]) -> None:
    """One error line per refused case, then exit status 1 (none: return)."""
    for why in refused:
        typer.echo(f"error: {clean(why)}", err=True)
    if refused:
        raise typer.Exit(1)
