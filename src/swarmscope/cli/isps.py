"""``swarmscope isps``: the ISP directory and disclosure requests with their dates.

Cooperation rate (``isps status``): (complied + 0.5 × partially_complied) / answered, where answered
counts complied, partially_complied, contested and quashed requests; ``-`` when none was answered.
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cases import workflow
from swarmscope.cases.directory import add_isp, check_isp, check_text
from swarmscope.cases.requests import advance_request, start_request
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import (
    ActorOption,
    DbOption,
    actor_name,
    command_store,
    fail,
    now_us,
    parse_time,
)
from swarmscope.cli.text import clean, iso
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.database import DEFAULT_DB, Store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.workflow_seals import seal_current_entry

isps_app = typer.Typer(help="ISP directory and disclosure requests.", no_args_is_help=True)
app.add_typer(isps_app, name="isps")


@isps_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The ISP's name.")],
    asn: Annotated[
        list[int], number_option("--asn", num.ASN, "An autonomous system number it announces (repeat).")
    ],
    abuse_email: Annotated[
        str, typer.Option("--abuse-email", help="Where notices go: one plain address local@domain.")
    ],
    legal_address: Annotated[
        str, typer.Option("--legal-address", help="Where disclosure requests are served.")
    ],
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-2.")] = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Add an ISP to the directory, its entry sealed with the node's signing key (--node-key, default
    beside the database; created and announced when the database is new, as `monitor` does)."""
    try:  # checked before the store is opened: bad input creates no database
        check_isp(name, abuse_email, legal_address, country)
        now = now_us()
        with signing_store(db, node_key, now, create=True) as store:
            isp_id = add_isp(store, name, asn, abuse_email, legal_address, country, now)
        typer.echo(f"isp {isp_id}: {clean(name)} AS{', AS'.join(map(str, sorted(set(asn))))}")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@isps_app.command("seal")
def seal(
    name: Annotated[str, typer.Argument(help="The ISP's name.")],
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Seal the ISP's directory entry as stored now (an entry added before entries were sealed: check it
    with `isps list` first; documents use only sealed entries)."""
    try:
        now = now_us()
        with signing_store(db, node_key, now) as store:
            row = next((r for r in case_rows.list_isps(store) if r.name == name), None)
            if row is None:
                raise InputError(f"no ISP named {name!r} in the directory")
            seal_current_entry(store, "isp", row.id, now)
        typer.echo(f"isp {row.id}: {clean(row.name)}: entry sealed (AS{', AS'.join(map(str, row.asns))}, "
                   f"{clean(row.abuse_email or '-')})")  # fmt: skip
    except SwarmscopeError as exc:
        raise fail(exc) from None


@isps_app.command("list")
def list_(db: DbOption = DEFAULT_DB) -> None:
    """Every ISP with its ASNs, abuse address and legal address."""
    with command_store(db) as store:
        rows = case_rows.list_isps(store)
        for row in rows:
            asns = ",".join(f"AS{a}" for a in row.asns)
            typer.echo(
                f"{row.id}  {clean(row.name)}  {asns}  abuse={clean(row.abuse_email or '-')}  "
                f"country={clean(row.country or '-')}  address={clean(row.legal_address or '-')}"
            )
        if not rows:
            typer.echo("no ISPs")


@isps_app.command("status")
def status(db: DbOption = DEFAULT_DB) -> None:
    """Per ISP: disclosure requests by status, answered requests and the cooperation rate."""
    with command_store(db) as store:
        entries = case_status.cooperation(store)
        if not entries:
            typer.echo("no ISPs")
        for entry in entries:
            counts = ", ".join(f"{s}={entry.counts[s]}" for s in workflow.RequestStatus if s in entry.counts)
            rate = "-" if entry.rate is None else f"{entry.rate:.0%}"
            typer.echo(
                f"{clean(entry.name)}: {counts or 'no requests'}; "
                f"answered={entry.answered} cooperation={rate}"
            )
            for request in case_status.request_rows(store, isp_id=entry.isp_id):
                cases = len(case_status.list_cases(store, request_id=request.id))
                region = f" region={clean(request.region)}" if request.region else ""
                typer.echo(
                    f"    request {request.id}{region}: {request.status} "
                    f"since {iso(request.status_us)}, {cases} case(s)"
                )


@isps_app.command("request")
def request(
    isp: Annotated[str, typer.Argument(help="ISP name or id.")],
    status_: Annotated[str, typer.Option("--status", help="drafted (a new request) or the new status.")],
    request_id: Annotated[
        int | None, number_option("--request", num.ROW_ID, "Request id (default: the latest open).")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region of a new request.")] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="When it took effect (ISO 8601, UTC); default now.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text (never personal data).")] = None,
    attach: Annotated[
        bool, typer.Option("--attach/--no-attach", help="New request: name the ISP's open candidates.")
    ] = True,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Start a disclosure request (``--status drafted``) or record its next status with its date.

    When a request is served, the candidate cases it names move to ``requested``
    (:mod:`swarmscope.cases.requests`). Each status and each case the request names are sealed with the
    node's signing key (--node-key, default beside the database).
    """
    try:
        with signing_store(db, node_key, now_us()) as store:
            _request(store, isp, status_, request_id, region, date, note, attach, actor_name(actor))
    except SwarmscopeError as exc:
        raise fail(exc) from None


def _request(
    store: Store, isp: str, status_: str, request_id: int | None, region: str | None, date: str | None,
    note: str | None, attach: bool, who: str,
) -> None:  # fmt: skip
    check_text("--region", region)  # printed on the request's exhibits, like an ISP name
    target = workflow.request_status(status_)
    row = case_rows.get_isp(store, isp)
    when = parse_time(date, "--date") if date is not None else None
    if target is workflow.RequestStatus.DRAFTED:
        rid, named = start_request(store, row, region, when or now_us(), who, attach=attach)
        typer.echo(f"request {rid}: drafted for {clean(row.name)}, {named} case(s)")
        return
    done = advance_request(
        store, row, target, request_id=request_id, actor=who, note=note, now_us=now_us(), at_us=when
    )
    typer.echo(f"request {done.id}: {done.status} since {iso(done.status_us)}")
