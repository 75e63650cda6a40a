"""``swarmscope subscribers keygen | import | show | audit``: identities from ISP disclosures, kept apart.

Identities are stored encrypted (:mod:`swarmscope.cases.identities`); the key comes from ``--identity-key
PATH`` or ``SWARMSCOPE_IDENTITY_KEY`` and is never written to the database. Every import and every ``show``
is recorded in the audit log with ``--actor`` (default: the OS user name). ``audit`` lists that log; it
holds DOE numbers and key fingerprints, never personal data; a ``show`` that could not decrypt (wrong key)
is listed as ``read_failed``, distinct from a ``read``.

``import`` identifies a case from a disclosure row only when: same IP address; the row's window covers
EVERY counted hit of the case (first .. last hit, inclusive; partial coverage is reported, e.g. "window
covers 1 of 3 hits", and not imported); the optional ``port`` column, when given, equals the case's port
(carrier-grade NAT); no other row of the file names the same case (both rows are reported as a conflict and
neither is imported, also with ``--partial``: file order never decides); the case's disclosure request is
served, complied or partially complied (never drafted, contested or quashed). E-mail addresses must be one
plain ``local@domain``; names hold no control characters or line breaks; postal addresses only line breaks.

Exit status: 0 on success, 1 when a disclosure is rejected, an identity cannot be read, or for a usage
error (see :mod:`swarmscope.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swarmscope.cases.identities import IdentityKey, file_sha256, parse_disclosure, write_key_file
from swarmscope.cases.requests import record_disclosure
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.options import ActorOption, DbOption, actor_name, now_us
from swarmscope.cli.text import escaped, plain
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import DEFAULT_DB, open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import subscribers as subscriber_store

group = typer.Typer(
    help="Subscriber identities from ISP disclosures (encrypted, every access audited).", no_args_is_help=True
)
app.add_typer(group, name="subscribers")

KeyOption = Annotated[
    Path | None,
    typer.Option("--identity-key", help="Identity key file (default: $SWARMSCOPE_IDENTITY_KEY, base64)."),
]


def _fail(console: Console, exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {escaped(exc)}")
    return typer.Exit(1)


@group.command()
def keygen(out: Annotated[Path, typer.Option("--out", help="Key file to create (mode 0600).")]) -> None:
    """Create a new identity key file (refuses to overwrite one)."""
    console = Console()
    key = IdentityKey.generate()
    try:
        write_key_file(out, key)
    except SwarmscopeError as exc:
        raise _fail(console, exc) from None
    console.print(
        f"identity key {key.key_id} written to {escaped(out)}; keep it out of the database host's backups"
    )


def run_import(
    path: Path,
    *,
    db: str,
    key: IdentityKey,
    isp: str | None,
    actor: str,
    partial: bool,
    now_us: int,
    node_key: Path | None = None,
) -> subscriber_store.ImportReport:
    """Parse, match and store one disclosure file (:func:`swarmscope.cases.requests.record_disclosure`),
    each identification sealed with the node key (``node_key``; None: the key file beside the database).

    Raises:
        DisclosureError: malformed rows (nothing imported). SwarmscopeError: unknown ISP, database, no
            usable node key (nothing imported).
    """
    data = path.read_bytes()
    rows = parse_disclosure(data)
    with signing_store(db, node_key, now_us) as store:
        return record_disclosure(
            store, key, rows, file_sha256(data), isp=isp, actor=actor, partial=partial, now_us=now_us
        )


@group.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="The ISP's disclosure CSV: ip,start,end,name,postal_address[,email][,port]."),
    ],
    identity_key: KeyOption = None,
    isp: Annotated[str | None, typer.Option("--isp", help="Only match cases of this ISP.")] = None,
    actor: ActorOption = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial", help="Import the matched rows even if others do not match (never conflicting rows)."
        ),
    ] = False,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Import an ISP disclosure: match rows to cases by IP and time, store identities encrypted; each
    case identified is sealed with the node's key (--node-key, default beside the database).

    A row identifies a case only when its window covers EVERY hit of the case (first to last hit,
    inclusive), its port (if given) is the case's port, no other row names the same case (a conflict:
    neither row is imported, whatever the file order) and the case's disclosure request is served,
    complied or partially complied (not contested or quashed). Invalid e-mail addresses and control
    characters in names/addresses are refused per line.
    """
    console = Console(soft_wrap=True)  # each problem and the verdict stay one line each
    try:
        key = IdentityKey.load(identity_key)
        report = run_import(
            file, db=db, key=key, isp=isp, actor=actor_name(actor), partial=partial, now_us=now_us(),
            node_key=node_key,
        )  # fmt: skip
    except (SwarmscopeError, OSError) as exc:
        raise _fail(console, exc) from None
    for line, doe in report.imported:
        console.print(f"line {line}: identified {escaped(doe)}")
    for line, problem in report.problems:
        console.print(f"[yellow]line {line}:[/yellow] {escaped(problem)}")
    if report.problems and not report.imported:
        console.print(f"[red]nothing imported[/red]: {_why_nothing(report, partial)}")
        raise typer.Exit(1)
    console.print(f"{len(report.imported)} identities imported from {report.source_sha256}")


def _why_nothing(report: subscriber_store.ImportReport, partial: bool) -> str:
    """Why an import with problems stored nothing, and what would help (``--partial`` only when it would)."""
    if report.matched and not partial:
        return f"{report.matched} row(s) match a case; fix the lines above, or use --partial to import those"
    return "no row identifies a case (fix the lines above)"


@group.command()
def show(
    case: Annotated[str, typer.Argument(help="Case DOE number (or id).")],
    identity_key: KeyOption = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Print a case's subscriber identity and what the ISP disclosed it for (each call is audited).

    An identity stored before identities were bound to the disclosed address is refused: import the
    disclosure again.
    """
    console = Console(soft_wrap=True)  # one line each
    target: int | str = int(case) if case.isdigit() else case
    try:
        key = IdentityKey.load(identity_key)
        store = open_store(db, create=False)
        try:
            identity = subscriber_store.read_identity(store, key, target, actor_name(actor), now_us())
            row = subscriber_store.stored_identity(store, case_status.get_case(store, target).id)
        finally:
            store.close()
    except SwarmscopeError as exc:
        raise _fail(console, exc) from None
    console.print(plain(f"name: {identity.name}"))
    console.print(plain(f"postal address: {identity.postal_address}"))
    console.print(plain(f"e-mail: {identity.email or '-'}"))
    if row is not None and row.disclosed is not None:
        console.print(plain(f"disclosed for: {row.disclosed.describe()}"))


@group.command()
def audit(
    case: Annotated[str | None, typer.Option("--case", help="Only this case (DOE number).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List the identity audit log (imports, reads, purges); no personal data."""
    console = Console()
    try:
        store = open_store(db, create=False)
        try:
            rows = subscriber_store.audit_rows(store, subject=None if case is None else f"case:{case}")
        finally:
            store.close()
    except SwarmscopeError as exc:
        raise _fail(console, exc) from None
    table = Table("at (UTC)", "actor", "action", "subject", "detail")
    for row in rows:
        table.add_row(
            us_to_iso(row.at_us), plain(row.actor), row.action, plain(row.subject), plain(row.detail or "")
        )
    console.print(table)
