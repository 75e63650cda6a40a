"""``swarmscope notices``: ACNS 2.0 (v1.2) notices per case, written to ``--out`` and (``--send``) e-mailed.

Validation (decided here): with ``--xsd PATH`` every notice is validated against the ACNS schema before it
is written, recorded or sent (its xmldsig/xmlmime imports are read from the same directory, never
fetched); without it the notices are written unvalidated and the summary says so. ``--send`` refuses to
run without ``--xsd`` unless ``--no-validate`` is given explicitly: nothing leaves unvalidated by accident.

Complainant: ``--complainant-file FILE.toml`` (keys entity, email, contact, address, phone, url) or the
``--complainant-*`` options (which override the file's keys); otherwise each case's client (its contact
must be an e-mail address). A case that cannot get a notice (no complainant e-mail, ISP without an abuse
address) is skipped: one ``error: skipped DOE: why`` line each on standard error, after the other cases
went on, and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from swarmscope.cases.acns import Complainant, load_schema
from swarmscope.cases.directory import check_complainant
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.notices import Delivery, NoticeBatch, load_complainant, prepare_notices, send_notices
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate, gated
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import DbOption, fail
from swarmscope.cli.text import clean, escaped
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB, Store

_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


@dataclasses.dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how ``--send`` delivers (see :func:`swarmscope.net.smtp_client.send_message`)."""

    host: str
    port: int
    sender: str
    timeout: float = 30.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None


def complainant_from(file: Path | None, **options: str | None) -> Complainant | None:
    """The complainant from a TOML file and/or options (options win); None when neither is given.

    Raises:
        InputError: bad file, or options without the required entity and e-mail.
    """
    base = dataclasses.asdict(load_complainant(file)) if file is not None else {}
    given = {k: v for k, v in options.items() if v is not None}
    if not base and not given:
        return None
    merged = base | given
    if not merged.get("entity") or not merged.get("email"):
        raise InputError("complainant: --complainant-entity and --complainant-email are both required")
    named = Complainant(**merged)
    check_complainant(named)
    return named


def run_notices(
    *,
    db: str,
    out: Path,
    now_us: int,
    isp: str | None = None,
    complainant: Complainant | None = None,
    id_prefix: str = "SWS",
    xsd: Path | None = None,
    smtp: SmtpSettings | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
    gate: Gate,
    policy: DocumentPolicy = COURT_TESTED,
) -> tuple[NoticeBatch, list[Delivery]]:
    """Render (validate with ``xsd``), write, record and — with ``smtp`` — send the notices.

    ``policy``: the thresholds each case is re-judged under (:mod:`swarmscope.cli.policy_options`).

    Returns:
        The batch and the deliveries (empty without ``smtp``).

    Raises:
        InputError: bad ``id_prefix``. NoticeError: bad schema, a notice failing validation.
        StoreError: database problems. OSError: ``out`` not writable. InputError: no trusted node key
            in ``gate`` (:meth:`swarmscope.cli.document_gate.Gate.trust`); a case its proven evidence no
            longer carries is skipped, named.
    """
    if not _PREFIX.fullmatch(id_prefix):
        raise InputError(
            f"--id-prefix {id_prefix!r}: 1-32 letters, digits, '-' or '_' (starting alphanumeric)"
        )
    schema = load_schema(xsd) if xsd is not None else None
    with gate.open(db, now_us) as (store, trust):
        batch = prepare_notices(
            store, out, now_us=now_us, isp_name=isp, complainant=complainant, id_prefix=id_prefix,
            schema=schema, trust=trust, policy=policy,
        )  # fmt: skip
        deliveries = _deliver(store, batch, smtp, clock) if smtp is not None else []
    if console is not None:
        _summary(console, batch, deliveries, validated=schema is not None)
    return batch, deliveries


def _deliver(store: Store, batch: NoticeBatch, smtp: SmtpSettings, clock: Clock | None) -> list[Delivery]:
    """E-mail every unsent notice of ``batch`` through ``smtp`` (see :func:`send_notices`)."""
    return asyncio.run(
        send_notices(
            store, batch.notices, host=smtp.host, port=smtp.port, sender=smtp.sender, clock=clock or Clock(),
            timeout=smtp.timeout, starttls=smtp.starttls, username=smtp.username, password=smtp.password,
        )
    )  # fmt: skip


def _summary(console: Console, batch: NoticeBatch, deliveries: list[Delivery], *, validated: bool) -> None:
    state = "validated against the ACNS 1.2 schema" if validated else "NOT validated (no --xsd)"
    console.print(f"{len(batch.notices)} notice(s) written, {state}")
    for doe, reason in batch.skipped:  # one line each, never wrapped (stderr: the exit status is 1)
        typer.echo(f"error: skipped {clean(doe)}: {clean(reason)}", err=True)
    for d in deliveries:
        if d.error is None:
            console.print(f"sent {escaped(d.notice_id)} to {escaped(d.to)} ({escaped(d.message_id)})")
        else:
            console.print(f"[red]NOT sent[/] {escaped(d.notice_id)} to {escaped(d.to)}: {escaped(d.error)}")


@app.command()
@gated
def notices(
    out: Annotated[Path, typer.Option("--out", help="Directory for <case id>.xml and <case id>.txt files.")],
    isp: Annotated[str | None, typer.Option("--isp", help="Only this ISP (its name).")] = None,
    db: DbOption = DEFAULT_DB,
    xsd: Annotated[
        Path | None, typer.Option("--xsd", help="ACNS 1.2 schema (1.2-acns.xsd): validate every notice.")
    ] = None,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Allow --send without --xsd (not recommended).")
    ] = False,
    send: Annotated[bool, typer.Option("--send", help="E-mail each unsent notice to its ISP.")] = False,
    smtp_host: Annotated[str, typer.Option("--smtp-host", help="SMTP server.")] = "localhost",
    smtp_port: Annotated[int, number_option("--smtp-port", num.PORT, "SMTP port.")] = 25,
    smtp_timeout: Annotated[
        float, number_option("--smtp-timeout", num.SMTP_TIMEOUT_SECONDS, "Seconds per step.")
    ] = 30.0,
    starttls: Annotated[bool, typer.Option("--starttls", help="Require STARTTLS (RFC 3207).")] = False,
    sender: Annotated[str | None, typer.Option("--from", help="From address (required with --send).")] = None,
    id_prefix: Annotated[str, typer.Option("--id-prefix", help="ACNS Case ID prefix.")] = "SWS",
    complainant_file: Annotated[
        Path | None, typer.Option("--complainant-file", help="TOML: entity, email, contact, address...")
    ] = None,
    complainant_entity: Annotated[str | None, typer.Option("--complainant-entity")] = None,
    complainant_email: Annotated[str | None, typer.Option("--complainant-email")] = None,
    complainant_contact: Annotated[str | None, typer.Option("--complainant-contact")] = None,
    complainant_address: Annotated[str | None, typer.Option("--complainant-address")] = None,
    complainant_phone: Annotated[str | None, typer.Option("--complainant-phone")] = None,
    complainant_url: Annotated[str | None, typer.Option("--complainant-url")] = None,
    *,
    gate: Gate,
) -> None:
    """Write ACNS 2.0 notices per case (text above the XML) and, with --send, e-mail them to each ISP.

    A case whose evidence is not proven against the sealed ledger under the trusted node key (--node-key,
    default beside the database; or --trust-key) gets no notice; it is named in one error line, the other
    cases go on, and the exit status is 1. So is a case that fails the thresholds given here (--min-hits,
    --min-span, --allow-flag, --clock-threshold-ms; default: the court-tested ones; a case's build note may
    tighten them, never loosen them), or whose status its sealed history contradicts.
    """
    try:
        policy = gate.policy()
        if send and sender is None:
            raise InputError("--send needs --from ADDRESS")
        if send and xsd is None and not no_validate:
            raise InputError("--send needs --xsd PATH (validate before sending) or an explicit --no-validate")
        complainant = complainant_from(
            complainant_file, entity=complainant_entity, email=complainant_email, contact=complainant_contact,
            address=complainant_address, phone=complainant_phone, url=complainant_url,
        )  # fmt: skip
        smtp = SmtpSettings(smtp_host, smtp_port, sender, smtp_timeout, starttls) if send and sender else None
        clock = Clock()
        batch, deliveries = run_notices(
            db=db, out=out, now_us=clock.now_us(), isp=isp, complainant=complainant, id_prefix=id_prefix,
            xsd=xsd, smtp=smtp, clock=clock, gate=gate, console=Console(),
            policy=policy,
        )  # fmt: skip
    except (SwarmscopeError, OSError) as exc:
        raise fail(exc) from None
    if any(d.error is not None for d in deliveries) or batch.skipped:
        raise typer.Exit(1)  # a failed delivery, or a case that got no notice (the others went on)
