"""``swarmscope report``: one row per (swarm, peer address) from the evidence store, as table, CSV or JSON.

Only sealed records proven equal to their sealed record are evidence
(:mod:`swarmscope.store.ledger.seal_state`,
:func:`~swarmscope.store.ledger.seal_state.proven_peer_records`), under the node keys the workflow commands
trust (``--node-key``, ``--trust-key``, else the key file beside the database). Each row's ``evidence``
field names the state of its records: ``sealed`` (proven), ``unchecked`` (sealed, but no trusted key was
available: counted, with a warning), ``unsealed``, ``quarantined`` or ``altered`` (in a sealed batch but
no longer equal to its sealed record; each such row is named on standard error). An address's records
that are not evidence get a row of their own whose ``tier`` is that state; they never raise the tier of
its evidence row and are not in the tier counts. ``clock`` says whether the address's hits were
clock-flagged (:mod:`swarmscope.evidence.summary`, module rules). ``--infohash`` must name a stored swarm
(an unknown one is an error naming it, not an empty report).
"""

from __future__ import annotations

import csv
import enum
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import NodeKeyOption, TrustKeyOption, refuse_default_trust, workflow_trust
from swarmscope.cli.options import parse_infohash
from swarmscope.cli.text import plain
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.evidence.summary import (
    EVIDENCE_ORDER,
    JUDGED,
    PeerSummary,
    SwarmTotals,
    sort_summaries,
    summarize,
    swarm_totals,
)
from swarmscope.store.database import DEFAULT_DB, StoreError, open_store
from swarmscope.store.ledger import queries, seal_state
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.proven import EvidenceTrust

COLUMNS = (
    "infohash",
    "ip",
    "port",
    "port_seen",
    "source_ports",
    "tier",
    "evidence",
    "clock",
    "client",
    "peer_id",
    "completion",
    "first_seen",
    "last_seen",
    "verified_pieces",
    "failed_pieces",
    "verified_blocks",
    "failed_blocks",
    "bytes_received",
    "observations",
    "sources",
    "failure",
    "yourip",
    "encrypted",
    "quirks",
)


class ReportFormat(enum.StrEnum):
    """Output formats of ``swarmscope report``."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def peer_record(p: PeerSummary) -> dict[str, Any]:
    """The JSON object of one peer summary (keys in :data:`COLUMNS` order; times ISO 8601 UTC)."""
    return {
        "infohash": p.infohash,
        "ip": p.ip,
        "port": p.port,
        "port_seen": p.port_seen,
        "source_ports": list(p.source_ports),
        "tier": p.tier_label,
        "evidence": p.evidence,
        "clock": p.clock,
        "client": p.client_label,
        "peer_id": p.peer_id.hex() if p.peer_id is not None else None,
        "completion": p.completion,
        "first_seen": us_to_iso(p.first_seen_us),
        "last_seen": us_to_iso(p.last_seen_us),
        "verified_pieces": list(p.verified_pieces),
        "failed_pieces": list(p.failed_pieces),
        "verified_blocks": [f"{piece}:{begin}" for piece, begin in p.verified_blocks],
        "failed_blocks": [f"{piece}:{begin}" for piece, begin in p.failed_blocks],
        "bytes_received": p.bytes_received,
        "observations": p.observations,
        "sources": list(p.sources),
        "failure": p.failure,
        "yourip": p.yourip,
        "encrypted": p.encrypted,
        "quirks": list(p.quirks),
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _write_csv(records: list[dict[str, Any]]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(COLUMNS)
    for record in records:
        out.writerow([_csv_cell(record[c]) for c in COLUMNS])


def _pieces_cell(pieces: tuple[int, ...], blocks: tuple[tuple[int, int], ...] = (), limit: int = 4) -> str:
    """Piece indices, then blocks as ``piece:begin`` (16 KiB block proofs), at most ``limit`` shown."""
    items = [str(i) for i in pieces] + [f"{piece}:{begin}" for piece, begin in blocks]
    shown = " ".join(items[:limit])
    return shown + (f" +{len(items) - limit}" if len(items) > limit else "")


def _short_time(us: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) for the table; JSON and CSV keep full microseconds."""
    return us_to_iso(us)[:19].replace("T", " ")


WIDE_TABLE = 170  # console columns from which the table also shows sources and first-seen time


def _swarm_table(title: str, peers: list[PeerSummary], totals: SwarmTotals, wide: bool) -> Table:
    table = Table(title=plain(title), title_justify="left", caption_justify="left")
    names = ["address", "tier", "clock", "client", "done", "verified", "failed", "bytes"]
    names += ["sources", "first seen (UTC)"] if wide else []
    for name in [*names, "last seen (UTC)", "failure"]:
        table.add_column(name, no_wrap=name in ("address", "tier"), overflow="fold")
    for p in peers:
        address = f"[{p.ip}]:{p.port}" if ":" in p.ip else f"{p.ip}:{p.port}"
        if p.port_seen == "claimed":  # the peer's BEP 10 p, never observed: say where it came from
            address += f" (claimed; from port {','.join(map(str, p.source_ports)) or 'unrecorded'})"
        done = "" if p.completion is None else f"{p.completion:.0%}"
        row = [
            address,
            p.tier_label,
            p.clock or "",
            p.client_label or "",
            done,
            _pieces_cell(p.verified_pieces, p.verified_blocks),
        ]
        row += [_pieces_cell(p.failed_pieces, p.failed_blocks), str(p.bytes_received)]
        row += [" ".join(p.sources), _short_time(p.first_seen_us)] if wide else []
        table.add_row(*(plain(cell) for cell in (*row, _short_time(p.last_seen_us), p.failure or "")))
    clients = ", ".join(f"{name} ×{n}" for name, n in totals.top_clients) or "none identified"
    by_source = Counter(source for p in peers if p.evidence in JUDGED for source in p.sources)
    sources = ", ".join(f"{name} {n}" for name, n in sorted(by_source.items())) or "none"
    table.caption = plain(
        f"{totals.peers} addresses: {totals.verified} verified, {totals.has_pieces} has_pieces, "
        f"{totals.connected} connected, {totals.listed} listed; {totals.seeds} seeds, "
        f"{totals.leechers} leechers; {totals.bytes_received} bytes received; clients: {clients}; "
        f"found by: {sources}; clock flagged: {totals.clock_flagged}" + _not_evidence(totals)
    )
    return table


def _not_evidence(totals: SwarmTotals) -> str:
    """Caption tail naming the addresses whose records are not proven sealed evidence (empty when none)."""
    tail = ""
    if totals.unchecked:
        tail += (
            f"; UNCHECKED: {totals.unchecked} addresses counted from sealed rows not proven against the "
            "ledger (no trusted node key: give --node-key or --trust-key)"
        )
    if totals.unsealed or totals.quarantined or totals.altered:
        tail += (
            f"; NOT EVIDENCE (not counted above): {totals.unsealed} addresses with unsealed records, "
            f"{totals.quarantined} with records quarantined by recovery, {totals.altered} with rows "
            "ALTERED since they were sealed or sealed late by recovery"
        )
    return tail


def _print_table(summaries: list[PeerSummary], names: dict[str, str]) -> None:
    console = Console()
    if not console.is_terminal:  # a pipe or a log file: no terminal width to respect, keep rows on one line
        console = Console(width=max(console.width, WIDE_TABLE))
    totals = swarm_totals(summaries)
    if not totals:
        console.print("no peers recorded")
    for infohash, swarm_total in totals.items():
        peers = [p for p in summaries if p.infohash == infohash]
        title = f"{names.get(infohash, '(unknown swarm)')}  {infohash}"
        console.print(_swarm_table(title, peers, swarm_total, console.width >= WIDE_TABLE))


MAX_ALTERED_LINES = 10  # rows named one per line on stderr; the rest are counted


def report_trust(
    db: str, node_key: Path | None = None, trust_keys: list[str] | None = None
) -> EvidenceTrust | None:
    """The keys ``report`` proves sealed rows against, as the workflow commands take them
    (:func:`swarmscope.cli.evidence_trust.workflow_trust`); None when no key is given and none sits at the
    default key path, or when that key is not the only node with evidence here (a note on stderr:
    :func:`~swarmscope.cli.evidence_trust.refuse_default_trust`); then sealed rows are ``unchecked``.
    "Now" is the system clock (UTC µs).

    Raises:
        InputError: a key given but missing, unreadable or malformed.
    """
    if node_key is None and not trust_keys and not default_key_path(db).is_file():
        return None
    trust = workflow_trust(db, node_key, trust_keys, time.time_ns() // 1000)
    try:
        refuse_default_trust(db, trust, node_key, trust_keys)
    except StoreError as exc:  # its rows shown unchecked, never proven by a key that may be planted
        print(f"note: {exc}; sealed rows are shown unchecked", file=sys.stderr)
        return None
    return trust


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`load_summaries` read: summaries, {infohash: swarm name}, rows found altered (one line
    each), and whether sealed rows were proven (False: no trusted key, they are ``unchecked``)."""

    summaries: list[PeerSummary]
    names: dict[str, str]
    altered: list[str]
    proven: bool


def load_summaries(db: str, infohash: str | None = None, trust: EvidenceTrust | None = None) -> Loaded:
    """Read the store at ``db`` and summarise it, per evidence state (module docstring).

    Args:
        trust: the keys sealed rows are proven against (:func:`report_trust`); None: not proven.

    Raises:
        StoreError: the database is missing, unreadable or not a swarmscope store.
        InputError: ``infohash`` names no stored swarm (its id, v1 or v2 infohash).
    """
    store = open_store(db, create=False)
    try:
        if infohash is not None:
            known = queries.resolve_infohash(store, infohash)
            if known is None:
                raise InputError(f"--infohash {infohash}: no swarm with this infohash in the database")
            infohash = known
        records = seal_state.proven_peer_records(store, trust, infohash=infohash)
        observations = records.observations
        verdicts = seal_state.clock_verdicts(store, observations)
        names = {s.infohash: s.name for s in queries.swarm_rows(store)}
    finally:
        store.close()
    summaries: list[PeerSummary] = []
    for state in EVIDENCE_ORDER:
        probes = [(o.observation, v) for o, v in zip(observations, verdicts, strict=True) if o.state == state]
        seen = [s.sighting for s in records.sightings if s.state == state]
        summaries += summarize(seen, [o for o, _ in probes], evidence=state, clock=[v for _, v in probes])
    return Loaded(sort_summaries(summaries), names, records.altered, trust is not None)


def _warn(loaded: Loaded) -> None:
    """Standard error: rows not proven equal to their sealed record, or that nothing was proven."""
    if not loaded.proven:
        typer.echo(
            "warning: no trusted node key (--node-key, --trust-key, or a key file beside the database): "
            "sealed rows are shown as 'unchecked', not proven against the ledger",
            err=True,
        )
    for line in loaded.altered[:MAX_ALTERED_LINES]:
        typer.echo(f"warning: not evidence (shown as 'altered'): {plain(line)}", err=True)
    if len(loaded.altered) > MAX_ALTERED_LINES:
        typer.echo(f"warning: ... and {len(loaded.altered) - MAX_ALTERED_LINES} more such rows", err=True)


def print_report(
    db: str,
    fmt: str,
    infohash: str | None = None,
    node_key: Path | None = None,
    trust_keys: list[str] | None = None,
) -> None:
    """Print the per-(swarm, peer address) report of the store at ``db`` to standard output.

    Args:
        db: database path or SQLAlchemy URL. fmt: ``"table"``, ``"csv"`` or ``"json"``.
        infohash: only this swarm (40 or 64 hex digits, any case; its id, v1 or v2 infohash), or every
            swarm when None. node_key, trust_keys: the trusted node keys (:func:`report_trust`).

    Raises:
        InputError: unknown ``fmt``; ``infohash`` malformed or not a stored swarm; a bad key.
        StoreError: database missing, unreadable or foreign.
    """
    try:
        output = ReportFormat(fmt)
    except ValueError as exc:
        raise InputError(f"unknown report format {fmt!r} (use table, csv or json)") from exc
    wanted = None if infohash is None else parse_infohash(infohash)
    loaded = load_summaries(db, wanted, report_trust(db, node_key, trust_keys))
    _warn(loaded)
    if output is ReportFormat.TABLE:
        _print_table(loaded.summaries, loaded.names)
        return
    records = [peer_record(p) for p in loaded.summaries]
    if output is ReportFormat.JSON:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
    else:
        _write_csv(records)


@app.command()
def report(
    db: Annotated[
        str, typer.Option("--db", help="Evidence database: SQLite path or SQLAlchemy URL.")
    ] = DEFAULT_DB,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = ReportFormat.TABLE,
    infohash: Annotated[
        str | None, typer.Option("--infohash", help="Only this swarm (infohash hex).")
    ] = None,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Print one row per (swarm, peer address): evidence tier, client, pieces verified, times seen."""
    try:
        print_report(db, fmt.value, infohash, node_key, trust_key)
    except SwarmscopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
