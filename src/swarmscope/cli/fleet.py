"""``swarmscope fleet``: register the swarms a fleet of monitor nodes watches, and see how it is doing.

The fleet lives in a PostgreSQL store (``--db postgresql+psycopg://...``); any other database is refused
in one line before anything is created. Nodes are started with ``swarmscope node``.

``fleet timestamping`` and ``fleet retention`` configure the fleet's periodic duties (RFC 3161 tokens for
unstamped sealed batches; the retention purges of ``swarmscope purge``), stored for the whole fleet and
run once per period by one node (:mod:`swarmscope.store.fleet.duties`, :mod:`swarmscope.cli.fleet_duties`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from swarmscope.cases.retention import DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE, DEFAULT_IP_EVIDENCE_DAYS
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import command_store, fail
from swarmscope.cli.text import one_line
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE, vantage_of_address
from swarmscope.monitor.targets import load_target
from swarmscope.net.tsa_client import require_tsa_url
from swarmscope.store.fleet.duties import Duty
from swarmscope.store.fleet.handle import NEEDS_POSTGRESQL, Fleet, is_postgresql
from swarmscope.store.fleet.registry import ADDED, TORRENT_KEPT, FleetSwarm
from swarmscope.store.fleet.status import DEAD_LEASES, FleetStatus, NodeStatus
from swarmscope.store.legal.cases import work_rows

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
    work: Annotated[
        str | None,
        typer.Option(
            "--work",
            help="The work these swarms carry (a work's title: nodes use its reference copy)."
            " A label for the nodes only: cases need the swarm linked to the work"
            " (works add, then works link).",
        ),
    ] = None,
    vantages: Annotated[
        int | None,
        number_option(
            "--vantages",
            num.VANTAGES,
            "nodes (distinct source addresses) per swarm; default 2, a registered swarm keeps its own",
        ),
    ] = None,
) -> None:
    """Register swarms for the fleet to watch. Again: update their work and vantages, and their source (a
    .torrent given again replaces the stored one, e.g. to change its trackers; nodes read it when they
    lease the swarm)."""
    try:  # every target is read before the store is touched: one bad one registers nothing
        loaded = [load_target(t) for t in targets]
    except InputError as exc:
        raise fail(exc) from None
    with fleet_store(db, create=True) as fleet:
        for t in loaded:
            raw = t.meta.raw if t.meta is not None else None
            swarm = FleetSwarm(t.swarm, t.name, raw, None if raw else t.origin, work, vantages or 2)
            done = fleet.add_swarm(swarm, keep_vantages=vantages is None)
            verb = "added" if done == ADDED else "updated"
            note = "; its stored .torrent's trackers stay in use" if done == TORRENT_KEPT else ""
            (stored,) = fleet.swarms([t.swarm])  # its vantages as stored (kept without --vantages)
            points = f"{stored.vantages} vantage{'' if stored.vantages == 1 else 's'}"
            typer.echo(f"{verb} {t.swarm} {one_line(t.name)} ({points}{note})")
        if work is not None and not any(w.title == work for w in work_rows(fleet.store)):
            typer.echo(
                f"warning: --work {one_line(work)!r} names no work (yet): the swarms are registered; nodes"
                " use its reference copy once a work of that exact title is added (swarmscope works add)",
                err=True,
            )


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
        raise fail(InputError(f"not registered: {', '.join(one_line(h) for h in unknown)}"))


@fleet_app.command("retire")
def retire(
    name: Annotated[str, typer.Argument(help="The node gone for good (its evidence stays).")],
    db: FleetDb,
) -> None:
    """Remove a dead node (no live lease, silent for more than 3 lease periods): frees its range and key."""
    with fleet_store(db) as fleet:
        removed = fleet.retire_node(name)
    typer.echo(f"retired node {one_line(name)} ({removed} expired leases removed; its evidence stays)")


@fleet_app.command("status")
def status(db: FleetDb) -> None:
    """Nodes (heartbeat, leases, writer lag, last batch), then swarms (holders; under-covered ones marked)."""
    with fleet_store(db) as fleet:
        for line in status_lines(fleet.status()) + duty_lines(fleet.duties()):
            typer.echo(line)


def status_lines(state: FleetStatus) -> list[str]:
    """The printed status: one line per node, one per swarm (ages in seconds, database time)."""
    lines = [f"nodes: {len(state.nodes)}"]
    shared = shared_vantages(state.nodes)
    for n in state.nodes:
        lag = "-" if n.writer_lag is None else f"{n.writer_lag:.1f}s"
        where = "stopped" if n.stopped else f"heartbeat {n.heartbeat_age:.1f}s ago"
        if n.dead:
            where += f" DEAD (silent > {DEAD_LEASES} lease periods: fleet retire {one_line(n.name)})"
        lines.append(
            f"  {one_line(n.name)} {n.fingerprint[:16]} {n.source_ip or '-'} {where} leases {n.leases}/"
            f"{n.capacity} writer lag {lag} last batch {_batch_age(n.last_batch_age)}{_clock(n)}"
            f"{shared.get(n.name, '')}"
        )
    under = [s for s in state.swarms if s.under_covered]
    lines.append(f"swarms: {len(state.swarms)}, under-covered: {len(under)}")
    for s in state.swarms:
        mark = " UNDER-COVERED" if s.under_covered else " OVER-COVERED" if s.over_covered else ""
        mark += f": {s.shared_vantage}" if s.under_covered and s.shared_vantage else ""
        holders = ",".join(one_line(h) for h in s.holders) or "-"
        lines.append(f"  {s.infohash} {one_line(s.name)} {len(s.holders)}/{s.vantages} [{holders}]{mark}")
    return lines


def shared_vantages(nodes: list[NodeStatus]) -> dict[str, str]:
    """`` ONE VANTAGE with ...`` for each node not stopped whose vantage point (source network, or the
    default route without --bind: :mod:`swarmscope.evidence.bundle.vantage`) another such node shares,
    `` BEHIND NAT`` for one bound to a private or shared address without --public-ip:
    their hits corroborate nothing for each other; nor does a node without --bind beside bound ones
    (``DEFAULT_ROUTE`` corroborates nothing: :func:`swarmscope.evidence.bundle.vantage.vantage_count`)."""
    by_vantage: dict[str, list[str]] = {}
    for n in nodes:
        if not n.stopped:
            by_vantage.setdefault(vantage_of_address(n.source_ip), []).append(n.name)
    out: dict[str, str] = {}
    for vantage, names in by_vantage.items():
        for name in names if len(names) > 1 else []:
            others = ",".join(one_line(o) for o in names if o != name)
            out[name] = f" ONE VANTAGE ({vantage}) with {others}: not corroborating each other"
    alone = by_vantage.get(DEFAULT_ROUTE, [])
    if len(alone) == 1 and len(by_vantage) > 1:  # its source may be any address, a bound node's included
        out[alone[0]] = " NO --bind: its hits corroborate no other node's"
    for n in nodes:  # RFC 1918/6598: the peers see the NAT gateway, not this network
        if not n.stopped and n.source_ip and vantage_of_address(n.source_ip) == DEFAULT_ROUTE:
            out[n.name] = " BEHIND NAT (no --public-ip): no vantage, its hits corroborate no other node's"
    return out


def _batch_age(age: float | None) -> str:
    """The last batch's age; a seal time ahead of the database (a node clock ahead, not measured) says so."""
    if age is None:
        return "-"
    return f"{age:.1f}s ago" if age >= 0 else f"sealed {-age:.1f}s ahead of database time (node clock ahead)"


def _clock(node: NodeStatus) -> str:
    """`` clock N.NNNs behind database`` (or ``ahead of``) and `` CLOCK OFF`` past the node's threshold.

    The stored offset is database time minus node time (RFC 4330 section 5, the database as server):
    positive when the node's clock is behind (stepped back), so it is shown as a direction, never as a
    bare sign a reader takes for node minus database."""
    offset = node.clock_offset
    if offset is None:
        return ""
    way = "behind" if offset > 0 else "ahead of" if offset < 0 else "off"
    shown = f" clock {abs(offset):.3f}s {way} database"
    if not node.clock_off or node.clock_threshold is None:
        return shown
    return f"{shown} CLOCK OFF (> {node.clock_threshold * 1000:g} ms: hits flagged)"


Every = Annotated[int, number_option("--every", num.DUTY_SECONDS, "seconds between runs")]
Off = Annotated[bool, typer.Option("--off", help="Stop running this duty.")]


@fleet_app.command("timestamping")
def timestamping(
    db: FleetDb,
    tsa_url: Annotated[str | None, typer.Option("--tsa-url", help="RFC 3161 time-stamp authority")] = None,
    every: Every = 600,
    timeout: Annotated[
        float, number_option("--timeout", num.TSA_TIMEOUT_SECONDS, "seconds per token request")
    ] = 10.0,
    off: Off = False,
) -> None:
    """Get RFC 3161 tokens for every unstamped sealed batch, every --every seconds, on one node."""
    try:
        url = None if off else require_tsa_url(tsa_url)
    except InputError as exc:
        raise fail(exc) from None
    with fleet_store(db) as fleet:
        if url is None:
            typer.echo("timestamping " + ("off" if fleet.drop_duty("timestamp") else "was not on"))
            return
        fleet.set_duty("timestamp", every, {"tsa_url": url, "timeout": timeout})
        typer.echo(f"timestamping every {every}s by {url}")


@fleet_app.command("retention")
def retention(
    db: FleetDb,
    every: Every = 86_400,
    ip_evidence_days: Annotated[
        int, number_option("--ip-evidence-days", num.RETENTION_DAYS, "Keep unresolved IP evidence this long.")
    ] = DEFAULT_IP_EVIDENCE_DAYS,
    identity_months: Annotated[
        int, number_option("--identity-months", num.RETENTION_MONTHS, "Keep identities after close.")
    ] = DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE,
    off: Off = False,
) -> None:
    """Apply the retention schedules (as `swarmscope purge`) every --every seconds, on one node."""
    with fleet_store(db) as fleet:
        if off:
            typer.echo("retention purges " + ("off" if fleet.drop_duty("purge") else "were not on"))
            return
        settings = {"ip_evidence_days": ip_evidence_days, "identity_months": identity_months}
        fleet.set_duty("purge", every, settings)
        typer.echo(
            f"retention purges every {every}s (IP evidence {ip_evidence_days} days, "
            f"identities {identity_months} months after close)"
        )


def duty_lines(duties: list[Duty]) -> list[str]:
    """One line per configured duty: period, last run (UTC, node, outcome)."""
    lines = [f"duties: {len(duties)}"]
    for d in duties:
        if d.started_us is None:
            last = "never ran"
        else:
            state = "running" if d.finished_us is None else one_line(d.outcome or "")
            last = f"last {utc(d.started_us)} on {one_line(d.node_name or '-')}: {state}"
        lines.append(f"  {d.name} every {d.every_s}s, {last}")
    return lines


def utc(us: int) -> str:
    """UTC microseconds as ISO 8601 to the second."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
