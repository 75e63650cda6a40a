"""``swarmscope works``: a rights holder's works and the torrents that carry them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cases.campaigns import link_work, reference_check
from swarmscope.cases.directory import add_work, check_work
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.options import DbOption, command_store, fail, now_us
from swarmscope.cli.text import clean
from swarmscope.errors import SwarmscopeError
from swarmscope.store.database import DEFAULT_DB
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.workflow_seals import seal_current_entry

works_app = typer.Typer(help="Works of rights holders and the torrents linked to them.", no_args_is_help=True)
app.add_typer(works_app, name="works")


@works_app.command("add")
def add(
    client: Annotated[str, typer.Option("--client", help="The rights holder (created when new).")],
    title: Annotated[str, typer.Option("--title", help="Title of the work.")],
    registration: Annotated[
        str | None, typer.Option("--registration", help="Copyright registration number.")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference content: a copy of the work (file or folder)."),
    ] = None,
    contact: Annotated[str | None, typer.Option("--contact", help="Contact of a new client.")] = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Add a work of a client; prints its id. The entry (with the SHA-256 of the reference content) is
    sealed with the node's signing key (--node-key, default beside the database; created and announced
    when the database is new, as `monitor` does)."""
    try:  # checked before the store is opened: bad input creates no database
        check_work(client, title, registration, contact, reference)
        now = now_us()
        with signing_store(db, node_key, now, create=True) as store:
            work_id = add_work(store, client, title, registration, reference, contact, now)
        typer.echo(f"work {work_id}: {clean(title)} ({clean(client)})")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@works_app.command("seal")
def seal(
    work: Annotated[str, typer.Argument(help="Work id or title.")],
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Seal the work's entry as stored now, with the SHA-256 of its reference content on disk now (an entry
    added before entries were sealed: check it with `works list` first; documents use only sealed
    entries)."""
    try:
        now = now_us()
        with signing_store(db, node_key, now) as store:
            row = case_rows.get_work(store, work)
            seal_current_entry(store, "work", row.id, now)
        typer.echo(f"work {row.id}: {clean(row.title)} ({clean(row.client)}): entry sealed")
    except SwarmscopeError as exc:
        raise fail(exc) from None


@works_app.command("link")
def link(
    work: Annotated[str, typer.Argument(help="Work id or title.")],
    torrent: Annotated[
        str, typer.Option("--torrent", help="A .torrent file, or an infohash the store knows.")
    ],
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Link a torrent to a work; with reference content its pieces are checked (confirmed or fake). The
    link and its verdict are sealed with the node's signing key (--node-key, default beside the
    database; it must exist). A check that compared no piece is unverified: it makes no case."""
    try:
        now = now_us()
        with signing_store(db, node_key, now) as store:  # the work must exist: never creates a database
            row = link_work(store, work, torrent, now, compare=reference_check)
            has_reference = case_rows.get_work(store, row.work_id).reference_path is not None
    except SwarmscopeError as exc:
        raise fail(exc) from None
    detail = f" ({clean(row.detail)})" if row.detail else ""
    typer.echo(
        f"{row.infohash}: {row.status}, {row.matched_pieces}/{row.checked_pieces} pieces match{detail}"
    )
    if has_reference and row.status == "linked":
        typer.echo(
            "unverified: no piece was compared with the work's reference content, so this link proves "
            "nothing and makes no case (give the .torrent file, or a reference holding whole pieces)"
        )


@works_app.command("list")
def list_(db: DbOption = DEFAULT_DB) -> None:
    """Every work with its client, registration, reference content and linked torrents."""
    with command_store(db) as store:
        works = case_rows.work_rows(store)
        for row in works:
            typer.echo(
                f"{row.id}  {clean(row.title)}  client={clean(row.client)}  "
                f"registration={clean(row.registration or '-')}  reference={clean(row.reference_path or '-')}"
            )
            for t in case_rows.work_torrents(store, work_id=row.id):
                typer.echo(
                    f"    {t.infohash}  {t.status}  {t.matched_pieces}/{t.checked_pieces} pieces match"
                )
        if not works:
            typer.echo("no works")
