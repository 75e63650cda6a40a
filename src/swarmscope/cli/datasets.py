"""``swarmscope datasets``: register, list, deactivate and download IP datasets (README "The legal workflow").

Geolocation from these datasets is advisory; the ASN and its organisation decide the ISP.
Every text from a dataset file or the database goes through :mod:`swarmscope.cli.text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swarmscope.attribution.datasets import KINDS, Fingerprint, fingerprint
from swarmscope.cli.app import app
from swarmscope.cli.options import DbOption, fail, now_us
from swarmscope.cli.text import escaped, plain
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.net.maxmind_download import DEFAULT_BASE_URL, download_edition
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.ledger.datasets import (
    DatasetRow,
    deactivate_dataset,
    find_dataset,
    list_datasets,
    register_dataset,
    resolve_dataset,
)

datasets_app = typer.Typer(
    help="IP datasets (MaxMind MMDB, hosting/VPN/Tor lists) used for attribution.", no_args_is_help=True
)
app.add_typer(datasets_app, name="datasets")


def add_file(store: Store, path: Path | Fingerprint, kind: str | None, console: Console) -> DatasetRow:
    """Register a dataset (``path``, or its fingerprint) or reactivate it; prints one line.

    Raises:
        InputError: the file is no dataset of ``kind``.
    """
    fp = path if isinstance(path, Fingerprint) else fingerprint(path, kind)
    before = find_dataset(store, fp.sha256)
    row = register_dataset(
        store, name=fp.name, kind=fp.kind, database_type=fp.database_type, build_us=fp.build_us,
        sha256=fp.sha256, size=fp.size, path=fp.path, now_us=now_us(),
    )  # fmt: skip
    state = "registered" if before is None else ("already active" if before.active else "reactivated")
    console.print(f"{state}: dataset {row.id} {escaped(row.kind)} {escaped(row.name)} sha256 {row.sha256}")
    return row


@datasets_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="An MMDB file, or a list file (one CIDR or IP per line).")],
    kind: Annotated[
        str | None, typer.Option("--kind", help=f"Dataset kind ({'|'.join(KINDS)}); required for list files.")
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Register a dataset file with its fingerprint (name, build date, sha256, size)."""
    try:
        fp = fingerprint(path, kind)  # before the store is opened: a bad file creates no database
        with open_store(db) as store:
            add_file(store, fp, kind, Console())
    except SwarmscopeError as exc:
        raise fail(exc) from None


def dataset_table(rows: list[DatasetRow]) -> Table:
    """Rich table of dataset rows (hostile text shown plain)."""
    table = Table(title="IP datasets (geolocation is advisory)")
    for column in ("id", "kind", "name", "built (UTC)", "sha256", "size", "active", "path"):
        table.add_column(column)
    for r in rows:
        built = us_to_iso(r.build_us) if r.build_us is not None else "-"
        table.add_row(
            str(r.id), plain(r.kind), plain(r.name), built, r.sha256[:16] + "…", str(r.size),
            "yes" if r.active else "no", plain(r.path),
        )  # fmt: skip
    return table


@datasets_app.command("list")
def list_command(
    active_only: Annotated[bool, typer.Option("--active", help="Only active datasets.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List registered datasets with their fingerprints."""
    try:
        with open_store(db, create=False) as store:
            rows = list_datasets(store, active_only=active_only)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    Console().print(dataset_table(rows))


@datasets_app.command("remove")
def remove(
    ref: Annotated[str, typer.Argument(help="Dataset id, or at least 8 hex digits of its sha256.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Deactivate a dataset: no new attributions use it; its fingerprint row is kept."""
    try:
        with open_store(db, create=False) as store:
            row = deactivate_dataset(store, resolve_dataset(store, ref).id)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    Console().print(f"deactivated: dataset {row.id} {escaped(row.name)} (history kept)")


@datasets_app.command("download")
def download(
    edition: Annotated[str, typer.Option("--edition", help="MaxMind edition id, e.g. GeoLite2-ASN.")],
    licence_key: Annotated[
        str | None,
        typer.Option(
            "--licence-key", envvar="MAXMIND_LICENSE_KEY", help="MaxMind licence key.", show_default=False
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the .mmdb into.")] = Path("."),
    base_url: Annotated[str, typer.Option("--base-url", help="Download server (scheme://host[:port]).")] = (
        DEFAULT_BASE_URL
    ),
    register: Annotated[bool, typer.Option("--add/--no-add", help="Register the file in --db.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Download a MaxMind database with a licence key (checked against MaxMind's sha256 file)."""
    console = Console()
    try:
        result = download_edition(licence_key, edition, out, base_url=base_url)
        checked = "sha256 checked" if result.checksum_verified else "no checksum file offered"
        console.print(f"downloaded {escaped(result.path)} ({checked})")
        if register:
            with open_store(db) as store:
                add_file(store, result.path, None, console)
    except SwarmscopeError as exc:
        raise fail(exc) from None
