"""``swarmscope research``: aggregate, pseudonymised, small-cell-suppressed statistics for studies.

``research key FILE`` creates a study key (32 random bytes as hex, mode 0600; never over an existing
file). ``research export --out DIR`` writes CSV tables, PNG and SVG plots and a README of the proven
evidence (:mod:`swarmscope.research`, docs/research.md): addresses are replaced by keyed pseudonyms
before counting, no address and no pseudonym leaves, and a cell of fewer than ``--k`` distinct addresses
is never released. Without ``--key-file`` the pseudonyms are keyed with an ephemeral key, drawn for that
export and never stored (such an export links to no other). Every bad option is one line and exit
status 1, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import NodeKeyOption, TrustKeyOption, refuse_default_trust, workflow_trust
from swarmscope.cli.numeric import STUDY_K, number_option
from swarmscope.cli.options import DbOption, command_store, fail, now_us, parse_infohash
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.research.export import DEFAULT_K, StudyOptions, export_study
from swarmscope.research.study_key import create_study_key, load_study_key
from swarmscope.store.database import DEFAULT_DB, Store
from swarmscope.store.ledger.queries import resolve_infohash

research_app = typer.Typer(
    help="Aggregate, pseudonymised statistics of the evidence for research.", no_args_is_help=True
)
app.add_typer(research_app, name="research")


@research_app.command("key")
def key(path: Annotated[Path, typer.Argument(help="The new study key file (must not exist).")]) -> None:
    """Create a study key file (keep it secret: whoever holds it can test an address against a study)."""
    try:
        create_study_key(path)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    typer.echo(f"study key written to {clean(str(path))} (mode 0600)")


@research_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="A new directory for the tables, plots and README.")],
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="The study key (from 'research key'); default: an ephemeral key."),
    ] = None,
    k: Annotated[
        int, number_option("--k", STUDY_K, "Release no cell of fewer distinct addresses than this.")
    ] = DEFAULT_K,
    truncate: Annotated[
        bool, typer.Option("--truncate", help="Count /24 (IPv4) and /48 (IPv6) networks, not addresses.")
    ] = False,
    infohash: Annotated[
        list[str] | None, typer.Option("--infohash", help="Only this swarm (repeatable; default: all).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Write the research export of the proven evidence (only records proven against the sealed ledger
    under the trusted node key count: --node-key, default beside the database; or --trust-key)."""
    try:  # options first: a bad one opens and creates nothing
        study_key = None if key_file is None else load_study_key(key_file)
        wanted = None if infohash is None else [parse_infohash(h) for h in infohash]
    except InputError as exc:
        raise fail(exc) from None
    with command_store(db) as store:
        try:
            swarms = None if wanted is None else frozenset(_stored(store, h) for h in wanted)
            options = StudyOptions(k=k, truncate=truncate, key=study_key, swarms=swarms)
            trust = workflow_trust(db, node_key, trust_key, now_us())
            refuse_default_trust(db, trust, node_key, trust_key, store)
            result = export_study(store, trust, options, out, trust.now_us)
        except (SwarmscopeError, OSError) as exc:
            raise fail(exc) from None
    facts = result.facts
    suppressed = sum(t.suppressed_cells for t in result.tables)
    typer.echo(
        f"research export {clean(str(out))}: {facts.swarms} swarm(s), {facts.sightings} sightings and "
        f"{facts.observations} observations counted, k = {facts.k}, {suppressed} cell(s) suppressed, "
        f"{len(result.files)} files; study {facts.study_id}"
    )
    for state, count in sorted(facts.left_out.items()):
        if count:
            typer.echo(f"left out: {count} {state} record(s) (not proven evidence)", err=True)


def _stored(store: Store, infohash: str) -> str:
    """The stored swarm id of ``--infohash`` (either infohash of a hybrid torrent)."""
    found = resolve_infohash(store, infohash)
    if found is None:
        raise InputError(f"--infohash {infohash}: no such swarm in the database")
    return found
