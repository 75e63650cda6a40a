"""``swarmscope escalations [--out FILE.csv] [--identity-key K]`` and ``escalations mark DOE --actor NAME``.

The litigation list: cases a person explicitly escalated (``mark``: no_response → escalated; a disputed case
is escalated only by counsel's separate decision, not here). One CSV row per case: DOE number, IP address,
port, infohash, file name, work, ISP, first and last verified hit (UTC), verified hits, letters sent (count,
first and last sending date, last deadline), amount claimed, amount received, currency. Subscriber
identities are included ONLY with ``--identity-key``; each one is decrypted through
:func:`swarmscope.store.subscribers.read_identity`, which writes an audit_log row naming ``--actor``.
Cells that a spreadsheet would run as a formula (``= + - @``, tab, CR) are prefixed with ``'``. The
``--out`` file is created readable by its owner only (mode 0600 whatever the umask): with identities it
lists accused people.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cases.case_proof import CaseProof, require_proven
from swarmscope.cases.exhibits import csv_cell
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.letters import write_private
from swarmscope.cases.workflow import CaseEvent, CaseStatus
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import NodeKeyOption, TrustKeyOption, workflow_trust
from swarmscope.cli.letters import move_case
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail, workflow_store
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import DEFAULT_DB, Store
from swarmscope.store.proven_evidence import EvidenceTrust, store_trust
from swarmscope.store.subscribers import read_identity

escalations_app = typer.Typer(help="The litigation list (escalated cases).")
app.add_typer(escalations_app, name="escalations")

COLUMNS = (
    "doe", "ip", "port", "infohash", "file_name", "work_title", "isp", "first_hit_utc", "last_hit_utc",
    "verified_hits", "letters_sent", "first_letter_utc", "last_letter_utc", "last_deadline_utc",
    "amount_claimed", "amount_received", "currency",
)  # fmt: skip
IDENTITY_COLUMNS = ("name", "postal_address", "email")


def _utc(us: int | None) -> str:
    return "" if us is None else datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: object) -> str:
    return csv_cell("" if value is None else clean(value))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def litigation_rows(
    store: Store,
    key: IdentityKey | None,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    refused: list[tuple[str, str]] | None = None,
) -> list[dict[str, str]]:
    """One row per escalated case (see the module docstring); identities only with ``key`` (audited).

    A case whose claim the evidence proven against the sealed ledger no longer carries
    (:class:`swarmscope.cases.case_proof.CaseProof`; ``trust`` None: the store's own node key) is left
    out, its identity never read, and (DOE number, why) goes to ``refused``.
    """
    out = []
    proof = CaseProof(store, store_trust(store, trust))
    cases, unproven = proof.split(case_store.list_cases(store, status=CaseStatus.ESCALATED))
    if refused is not None:
        refused.extend(unproven)
    for case in cases:
        facts = letter_store.case_facts(store, case.id)
        sent = [row for row in letter_store.list_letters(store, case_id=case.id) if row.sent_us is not None]
        currency = sent[0].currency if sent else ""
        received = sum(
            p.amount_cents for p in letter_store.list_payments(store, case.id) if p.currency == currency
        )
        values: dict[str, object] = {
            "doe": facts.doe, "ip": facts.ip, "port": facts.port, "infohash": facts.infohash,
            "file_name": facts.file_name, "work_title": facts.work_title, "isp": facts.isp,
            "first_hit_utc": _utc(facts.first_hit_us), "last_hit_utc": _utc(facts.last_hit_us),
            "verified_hits": facts.hits, "letters_sent": len(sent),
            "first_letter_utc": _utc(sent[0].sent_us) if sent else "",
            "last_letter_utc": _utc(sent[-1].sent_us) if sent else "",
            "last_deadline_utc": _utc(sent[-1].deadline_us) if sent else "",
            "amount_claimed": _money(sent[0].amount_cents) if sent else "",
            "amount_received": _money(received), "currency": currency,
        }  # fmt: skip
        if key is not None:
            identity = read_identity(store, key, case.id, actor, now_us)
            values |= {
                "name": identity.name,
                "postal_address": identity.postal_address,
                "email": identity.email,
            }
        out.append({name: _cell(value) for name, value in values.items()})
    return out


def litigation_csv(rows: list[dict[str, str]], identities: bool) -> str:
    """The CSV text (header row first; identity columns only when ``identities``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + (IDENTITY_COLUMNS if identities else ()))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@escalations_app.callback(invoke_without_command=True)
def export_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="CSV file to write (default: standard output).")
    ] = None,
    identity_key: Annotated[
        Path | None, typer.Option("--identity-key", help="Include identities (each read is audited).")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Export the litigation list of escalated cases as CSV.

    A case whose evidence is not proven against the sealed ledger under the trusted node key (--node-key,
    default beside the database; or --trust-key) is left out: one error line naming it, exit status 1.
    """
    if ctx.invoked_subcommand is not None:
        return
    refused: list[tuple[str, str]] = []
    try:
        key = IdentityKey.load(identity_key) if identity_key is not None else None
        now = Clock().now_us()
        with workflow_store(db) as store:
            trust = workflow_trust(db, node_key, trust_key, now)
            rows = litigation_rows(store, key, actor_name(actor), now, trust, refused)
        text = litigation_csv(rows, key is not None)
        if out is None:
            typer.echo(text, nl=False)
        else:
            try:
                write_private(out, text.encode("utf-8"))
            except OSError as exc:
                raise InputError(f"--out {out}: {exc.strerror or exc}") from None
            typer.echo(f"wrote {len(rows)} escalated cases to {clean(out)}", err=True)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    for _doe, why in refused:
        typer.echo(f"error: left out {clean(why)}", err=True)
    if refused:
        raise typer.Exit(1)


@escalations_app.command("mark")
def mark_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number), in no_response.")],
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Escalate a case with no response to the litigation list (your recorded decision).

    Refused, naming the case, when its evidence is no longer proven against the sealed ledger under the
    trusted node key (--node-key, default beside the database; or --trust-key).
    """
    try:
        now = Clock().now_us()
        with workflow_store(db) as store:
            trust = workflow_trust(db, node_key, trust_key, now)
            row = case_store.get_case(store, case)
            require_proven(store, row, trust)
            move_case(
                store,
                row.id,
                CaseEvent.ESCALATE,
                actor_name(actor),
                "put on the litigation list",
                Clock().now_us(),
            )
        typer.echo(f"{row.doe}: escalated")
    except SwarmscopeError as exc:
        raise fail(exc) from None
