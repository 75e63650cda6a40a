"""``swarmscope timestamp``: RFC 3161 tokens for sealed batches that have none yet.

The monitor asks its ``--tsa-url`` for a token after every sealed batch; an authority that was down leaves
batches without one, and ``swarmscope verify`` reports them when the run's sealed settings named an
authority. This command fills the gap afterwards: each token proves the batch existed no later than the
token's time (a late token is weaker, never false). Without ``--tsa-url`` it uses the authority sealed in
the latest run's settings; with none at all it stops with a clear error (RFC 3161; README "Sealed ledger").
A token vouches for a chain, so, as every command that reads the chain to act on it, a database whose
chain lacks the head witnessed beside the node key file (or says a witness was kept and none is there)
is refused in one line before any authority is asked (README "Sealed ledger", chain-head witness).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import NodeKeyOption
from swarmscope.cli.node_identity import check_witness
from swarmscope.cli.numeric import TSA_TIMEOUT_SECONDS, number_option
from swarmscope.cli.text import error_console, escaped
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.records import RunStarted
from swarmscope.monitor.late_stamps import TimestampOutcome, stamp_unstamped
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.ledger.entries import load_ledger


def sealed_tsa_url(store: Store) -> str | None:
    """The ``tsa_url`` of the latest sealed run settings that name one, or None."""
    url: str | None = None
    for _, kind, data in load_ledger(store):
        if kind != "run_started" or data is None:
            continue
        record = record_from_canonical(data)
        if isinstance(record, RunStarted):
            url = json.loads(record.settings_json).get("tsa_url") or url
    return url


def run_timestamp(
    db: str, tsa_url: str | None, *, timeout: float = 10.0, node_key: Path | None = None
) -> TimestampOutcome:
    """Stamp every sealed batch without a token; returns what was done. ``node_key``: the node's key file
    (or public key) when it is kept apart from the database, whose witness is checked (default: beside
    ``db``).

    Raises:
        TimestampNotConfiguredError: no ``tsa_url`` given and none in the sealed settings.
        StoreError: the database cannot be opened or refuses the token rows; its chain lacks the head
            witnessed beside ``node_key`` (or the default key path), or has no witness there while it says one
            was kept
            (:func:`swarmscope.cli.node_identity.check_witness`).
    """
    with open_store(db, create=False) as store:
        check_witness(store, db, node_key, unchecked=False)
        return stamp_unstamped(store, tsa_url or sealed_tsa_url(store), Clock(), timeout=timeout)


@app.command()
def timestamp(
    db: str = typer.Option(DEFAULT_DB, "--db", help="evidence database (SQLite path or SQLAlchemy URL)"),
    tsa_url: str = typer.Option(
        None, "--tsa-url", help="RFC 3161 time-stamp authority (default: the one in the sealed run settings)"
    ),
    timeout: float = number_option(
        "--timeout", TSA_TIMEOUT_SECONDS, "seconds per token request", default=10.0
    ),
    node_key: NodeKeyOption = None,
) -> None:
    """Get RFC 3161 tokens for sealed batches that have none (e.g. the authority was down)."""
    try:
        outcome = run_timestamp(db, tsa_url, timeout=timeout, node_key=node_key)
    except SwarmscopeError as exc:
        error_console().print(f"[red]error:[/] {escaped(exc)}")
        raise typer.Exit(1) from None
    typer.echo(f"{outcome.stamped} batch(es) stamped by {outcome.tsa_url}")
    for problem in outcome.failed:
        error_console().print(f"[yellow]not stamped:[/] {escaped(problem)}")
    if outcome.failed:
        raise typer.Exit(1)
