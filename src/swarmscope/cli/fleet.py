"""``swarmscope fleet``: register the swarms a fleet of monitor nodes watches, and see how it is doing.

The fleet lives in a PostgreSQL store (``--db postgresql+psycopg://...``); any other database is refused
in one line before anything is created. Nodes are started with ``swarmscope node``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import command_store, fail
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.monitor.targets import load_target
from swarmscope.store.fleet.handle import NEEDS_POSTGRESQL, Fleet, is_postgresql
from swarmscope.store.fleet.registry import FleetSwarm
from swarmscope.store.fleet.status import FleetStatus

fleet_app = typer.Typer(help="Swarms watched by a fleet of monitor nodes (PostgreSQL).", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")

FleetDb = Annotated[str, typer.Option("--db", help="The fleet's PostgreSQL store (SQLAlchemy URL).")]


@contextmanager
def fleet_store(db: str, *, create: bool = False) -> Iterator[Fleet]:
    """The fleet of ``db``; not PostgreSQL, or any store error: one ``error:`` line, exit status 1."""
    if not is_postgresql(db):
        raise fail(InputError(f"--db {db}: {NEEDS_POSTGRESQL}"))
    with command_store(db, create=create) as store:
        try:
            yield Fleet(store)
        except SwarmscopeError as exc:
            raise fail(exc) from None


@fleet_app.command("add")
def add(
    targets: Annotated[list[str], typer.Argument(metavar="TORRENT_OR_MAGNET...", help=".torrent or magnet")],
    db: FleetDb,
    work: Annotated[str | None, typer.Option("--work", help="The work these swarms carry.")] = None,
    vantages: Annotated[
        int, number_option("--vantages", num.VANTAGES, "nodes (distinct source addresses) per swarm")
    ] = 2,
) -> None:
    """Register swarms for the fleet to watch (again: update their work and vantages)."""
    try:  # every target is read before the store is touched: one bad one registers nothing
        loaded = [load_target(t) for t in targets]
    except InputError as exc:
        raise fail(exc) from None
    with fleet_store(db, create=True) as fleet:
        for t in loaded:
            raw = t.meta.raw if t.meta is not None else None
            swarm = FleetSwarm(t.swarm, t.name, raw, None if raw else t.origin, work, vantages)
            new = fleet.add_swarm(swarm)
            typer.echo(f"{'added' if new else 'updated'} {t.swarm} {clean(t.name)} ({vantages} vantages)")


@fleet_app.command("remove")
def remove(
    infohashes: Annotated[list[str], typer.Argument(metavar="INFOHASH...", help="swarms to stop watching")],
    db: FleetDb,
) -> None:
    """Stop watching swarms (their nodes drop them at their next renewal; the evidence stays)."""
    with fleet_store(db) as fleet:
        unknown = [h for h in infohashes if not fleet.remove_swarm(h)]
        for h in infohashes:
            if h not in unknown:
                typer.echo(f"removed {h.lower()}")
    if unknown:
        raise fail(InputError(f"not registered: {', '.join(clean(h) for h in unknown)}"))


@fleet_app.command("status")
def status(db: FleetDb) -> None:
    """Nodes (heartbeat, leases, writer lag), then swarms (holders; under-covered ones marked)."""
    with fleet_store(db) as fleet:
        for line in status_lines(fleet.status()):
            typer.echo(line)


def status_lines(state: FleetStatus) -> list[str]:
    """The printed status: one line per node, one per swarm (ages in seconds, database time)."""
    lines = [f"nodes: {len(state.nodes)}"]
    for n in state.nodes:
        lag = "-" if n.writer_lag is None else f"{n.writer_lag:.1f}s"
        where = "stopped" if n.stopped else f"heartbeat {n.heartbeat_age:.1f}s ago"
        lines.append(
            f"  {clean(n.name)} {n.fingerprint[:16]} {n.source_ip or '-'} {where} leases {n.leases}/"
            f"{n.capacity} writer lag {lag}"
        )
    under = [s for s in state.swarms if s.under_covered]
    lines.append(f"swarms: {len(state.swarms)}, under-covered: {len(under)}")
    for s in state.swarms:
        mark = " UNDER-COVERED" if s.under_covered else ""
        holders = ",".join(clean(h) for h in s.holders) or "-"
        lines.append(f"  {s.infohash} {clean(s.name)} {len(s.holders)}/{s.vantages} [{holders}]{mark}")
    return lines
