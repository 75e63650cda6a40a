"""``swarmscope export``: write a self-contained evidence bundle (layout:
:mod:`swarmscope.evidence.bundle.layout`).

Before anything is selected the node's whole ledger is verified; a ledger that does not verify is never
exported (there is deliberately no option to override that). An export whose filters match no observation
still writes a bundle (run configuration and clock records only, so the absence is itself signed) and says "0
observations matched". The summary also counts the attribution records and the IP datasets they cite
(``attribution/datasets.json``). Whatever matches the filters but is left out is said on standard error, one
``left out:`` line per reason, and the export still succeeds: evidence of other signing nodes in the same
database (unless trusted with ``--trust-key``: then ONE bundle across the nodes,
:mod:`swarmscope.evidence.bundle.nodes`, signed by ``--node-key``), rows without a ledger entry (quarantined
by crash recovery or not yet checked by it; :func:`swarmscope.store.ledger.export.left_out`), clock-flagged
observations. A batch sealed after the evidence clock was set back gets a ``warning: clock set back`` line.
Built beside ``--out``, then renamed; the witness and a key beside the database checked first (README)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope import __version__
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import fingerprint_option
from swarmscope.cli.node_identity import echo_witness_notes, load_node_key, refuse_untrusted_kept
from swarmscope.cli.numeric import CLOCK_THRESHOLD_MS, number_option
from swarmscope.cli.options import parse_infohash, parse_time
from swarmscope.cli.text import escaped
from swarmscope.errors import DecodeError, InputError, SwarmscopeError
from swarmscope.evidence.bundle.clock import clock_off, clock_step_warnings, clock_steps
from swarmscope.evidence.bundle.layout import BundleContent, build_bundle
from swarmscope.evidence.bundle.nodes import build_nodes_bundle, node_hits, seen_by
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.ledger import entries as lq
from swarmscope.store.ledger.export import ExportFilters, collect_export, left_out
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.wire.types import Endpoint


@dataclasses.dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: the bundle directory, its file count and bytes, and the records selected."""

    out: Path
    files: int
    size: int
    records: int
    signing_key: str
    observations: int = 0
    other_signers: tuple[str, ...] = ()
    attributions: int = 0
    datasets: int = 0
    left_out: tuple[tuple[int, str], ...] = ()  # (records, why) per reason
    nodes: tuple[str, ...] = ()  # a bundle across nodes: every node's key fingerprint; else empty
    corroborated: int = 0  # addresses (ip, port, infohash) with verified hits from >= 2 vantages (networks)


def parse_ip(text: str) -> str:
    """``--ip``: an IPv4/IPv6 literal (``[...]`` allowed), normalised as the monitor stores peer addresses
    (:meth:`swarmscope.wire.types.Endpoint.parse`: an IPv4-mapped IPv6 ``::ffff:a.b.c.d`` becomes
    ``a.b.c.d``, RFC 4291 section 2.5.5.2; IPv6 in RFC 5952 compressed form).

    Raises:
        InputError: not an IP address.
    """
    try:
        return Endpoint.parse(text, 0).host
    except DecodeError:
        raise InputError(f"--ip: {text!r} is not an IP address") from None


def check_interval(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """``--since`` and ``--until`` as UTC microseconds (both inclusive; :func:`parse_time`).

    Raises:
        InputError: either does not parse, or ``--since`` is after ``--until`` (no record could match).
    """
    since_us = parse_time(since, "--since") if since else None
    until_us = parse_time(until, "--until") if until else None
    if since_us is not None and until_us is not None and since_us > until_us:
        raise InputError(f"--since {since} is after --until {until}: no record can match")
    return since_us, until_us


def _default_key(db: str) -> Path:
    """The default key file of ``db``; when missing, an InputError naming the store's signers."""
    path = default_key_path(db)
    if path.exists():
        return path
    store = open_store(db, create=False)
    try:
        signers = list(lq.sealing_nodes(store))  # a key registered but never sealing signed nothing
    finally:
        store.close()
    named = ", ".join(signers) if signers else "no signer yet"
    raise InputError(
        f"no node key at {path} (the default beside the database); this store is signed by {named}:"
        " pass the key file that sealed it with --node-key"
    )


def write_bundle(files: dict[str, bytes], out: Path) -> None:
    """Write ``files`` under a fresh directory ``out`` (atomic rename from a sibling temporary directory).

    Raises:
        InputError: ``out`` exists and is not an empty directory, or a path escapes the bundle.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty directory (choose a new --out)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, data in files.items():
            target = tmp / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise InputError(f"refusing bundle path {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_export(
    *,
    db: str = DEFAULT_DB,
    out: Path,
    filters: ExportFilters | None = None,
    key_path: Path | None = None,
    now_us: int | None = None,
    console: Console | None = None,
    err_console: Console | None = None,
    trust_keys: Sequence[str] = (),
) -> ExportResult:
    """Select evidence from the store and write a bundle to ``out``.

    Args:
        db: SQLite path or SQLAlchemy URL. out: the bundle directory (must not exist, or be empty).
        filters: selection (default: everything of the node). key_path: the node key file (default:
            :func:`swarmscope.store.ledger.node_key.default_key_path` of ``db``). now_us: UTC µs of the export
            (default: the system clock). console: where the summary goes (None: silent).
            err_console: where the ``left out:`` lines go (None: ``console``).
        trust_keys: fingerprints (hex) of further signing nodes of the store whose evidence goes in the
            same bundle (a bundle across nodes, :mod:`swarmscope.evidence.bundle.nodes`, when it then
            holds two or more nodes; the exporting key's node is one of them when it sealed here).

    Returns:
        :class:`ExportResult`.

    Raises:
        InputError: bad key file or ``out``. StoreError: see
        :func:`store.ledger.export.collect_bundle_content`.
    """
    key = load_node_key(key_path or _default_key(db))
    fingerprint = key_fingerprint(public_key_raw(key))
    filters = filters or ExportFilters()
    created = now_us if now_us is not None else Clock().now_us()
    store = open_store(db, create=False)
    try:
        if key_path is None:  # the key beside the database may be planted: another node's evidence refuses
            refuse_untrusted_kept(store, _default_key(db), {fingerprint, *(trust_keys or ())})
        echo_witness_notes(store, db, key_path, unchecked=False)  # a tail the witness shows gone: refused
        nodes = _nodes(store, fingerprint, trust_keys) if trust_keys else [filters.node or fingerprint]
        if len(nodes) > 1:
            result = _export_nodes(store, filters, nodes, key, created, out)
        else:
            filters = dataclasses.replace(filters, node=nodes[0])
            selection = collect_export(store, filters)
    finally:
        store.close()
    if len(nodes) > 1:
        _report(result, filters.as_json(), console, err_console)
        return result
    content = selection.content
    files = build_bundle(content, private_key=key, created_us=created, software_version=__version__)
    write_bundle(files, out)
    result = ExportResult(
        out,
        len(files),
        sum(map(len, files.values())),
        len(content.records),
        fingerprint,
        selection.observations,
        selection.other_signers,
        selection.attributions,
        len(content.datasets),
        selection.left_out,
    )
    _report(result, content.filters, console, err_console)
    _clock_set_back(err_console or console, content)
    return result


def _clock_set_back(console: Console | None, content: BundleContent) -> None:
    """One ``warning: clock set back`` line per batch of the bundle sealed after a step back of the
    evidence clock (:func:`swarmscope.evidence.bundle.clock.clock_steps`), naming its observations."""
    steps = [s.batch for s, _ahead in clock_steps(content.batches)]
    steps += [s.batch for s, _us, _last in clock_off(content.batches)]
    if console is None or not steps:
        return
    held = [
        i for i, data in content.records.items()
        if any(b.first_index <= i <= b.last_index for b in steps)
        and isinstance(record_from_canonical(data), Observation)
    ]  # fmt: skip
    for warning, inside in clock_step_warnings(content.batches, held):
        chain = f" (chain {', '.join(map(str, inside))})" if inside else ""
        console.print(f"warning: {warning}{chain}; 'verify' of the bundle flags them", soft_wrap=True)


def _report(
    result: ExportResult, filters: Mapping[str, Any], console: Console | None, err: Console | None
) -> None:
    if console is not None:
        _summary(console, result, filters)
    _left_out(err or console, result)


def _nodes(store: Store, fingerprint: str, trust_keys: Sequence[str]) -> list[str]:
    """The nodes of a bundle: every ``--trust-key`` (each must have sealed in this store) and the exporting
    key's node when it sealed here, ascending.

    Raises:
        InputError: a trusted fingerprint that sealed nothing in this store.
    """
    sealed = lq.sealing_nodes(store)
    for trusted in trust_keys:
        if trusted not in sealed:
            raise InputError(f"--trust-key {trusted}: no evidence in this store is sealed by that key")
    return sorted(set(trust_keys) | ({fingerprint} & set(sealed)))


def _export_nodes(
    store: Store,
    filters: ExportFilters,
    nodes: Sequence[str],
    key: Ed25519PrivateKey,
    created: int,
    out: Path,
) -> ExportResult:
    """One bundle across ``nodes`` (each node's selection under ``filters``), written to ``out``."""
    selections = {node: collect_export(store, dataclasses.replace(filters, node=node)) for node in nodes}
    raws = {k.fingerprint: k.public_key for k in lq.node_keys(store) if k.fingerprint in selections}
    contents = {node: s.content for node, s in selections.items()}
    files = build_nodes_bundle(
        contents, raws, private_key=key, created_us=created, software_version=__version__,
        filters=filters.as_json(),
    )  # fmt: skip
    write_bundle(files, out)
    common = left_out(store, filters, 0)  # rows outside every ledger: the same for every node
    skipped = list(common)
    for node, s in selections.items():
        skipped += [(n, f"{why} (node {node[:16]})") for n, why in s.left_out if (n, why) not in common]
    ledgers = {node: sorted(c.records.items()) for node, c in contents.items()}
    return ExportResult(
        out,
        len(files),
        sum(map(len, files.values())),
        sum(len(c.records) for c in contents.values()),
        key_fingerprint(public_key_raw(key)),
        sum(s.observations for s in selections.values()),
        tuple(fp for fp in lq.sealing_nodes(store) if fp not in selections),
        sum(s.attributions for s in selections.values()),
        len({str(d.get("sha256")) for c in contents.values() for d in c.datasets}),
        tuple(skipped),
        tuple(nodes),
        sum(1 for seen in seen_by(node_hits(ledgers)).values() if seen.corroborated),
    )


def _summary(console: Console, result: ExportResult, filters: Mapping[str, Any]) -> None:
    if result.observations == 0:
        console.print(
            "[bold yellow]0 observations matched[/] the filters: the bundle holds only the run"
            " configuration and clock records"
        )
    console.print(
        f"wrote [bold]{escaped(result.out)}[/]: {result.files} files, {result.size} bytes, "
        f"{result.records} records ({result.observations} observations); signed by key {result.signing_key}"
    )
    if result.nodes:
        console.print(
            f"across {len(result.nodes)} nodes: {', '.join(result.nodes)}; {result.corroborated} addresses"
            " corroborated (verified hits from >= 2 vantages: distinct source networks; hits.jsonl)",
            soft_wrap=True,
        )
    console.print(
        f"IP attribution: {result.attributions} records citing {result.datasets} datasets"
        " (attribution/datasets.json; geolocation advisory)"
    )
    console.print(
        f"clock flags: {escaped(filters.get('clock_policy'))} policy, threshold"
        f" {escaped(filters.get('clock_threshold_us'))} us"
    )


def _left_out(console: Console | None, result: ExportResult) -> None:
    """One ``left out:`` line per reason (never wrapped: a log reader greps them)."""
    if console is None:
        return
    for other in result.other_signers:
        console.print(
            f"left out: evidence signed by node {other} (add --trust-key {other} to put it in this"
            " bundle, or export it with --node-key of that node)",
            soft_wrap=True,
        )
    for count, why in result.left_out:
        console.print(f"left out: {count} {escaped(why)}", soft_wrap=True)


def _threshold_us(ms: float | None) -> int | None:
    """``--clock-threshold-ms`` in microseconds (None: not given).

    Raises:
        InputError: not more than 0.
    """
    if ms is None:
        return None
    if not ms > 0 or ms > 2**40:
        raise InputError(f"--clock-threshold-ms {ms:g}: must be more than 0")
    return max(1, round(ms * 1000))


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Bundle directory to create (must not exist).")],
    db: Annotated[
        str, typer.Option("--db", help="Evidence database: SQLite path or SQLAlchemy URL.")
    ] = DEFAULT_DB,
    infohash: Annotated[
        str | None, typer.Option("--infohash", help="Only this swarm (infohash hex).")
    ] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="Only this peer IP address.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601 UTC or µs).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to this time (inclusive).")] = None,
    exclude_clock_flagged: Annotated[
        bool, typer.Option("--exclude-clock-flagged", help="Leave out observations in clock flag windows.")
    ] = False,
    clock_threshold_ms: Annotated[
        float | None,
        number_option(
            "--clock-threshold-ms",
            CLOCK_THRESHOLD_MS,
            "Stricter clock threshold (ms); default: the strictest sealed in the runs' settings.",
        ),
    ] = None,
    node_key: Annotated[
        Path | None,
        typer.Option("--node-key", help="Node key file; it signs the bundle (default: beside the database)."),
    ] = None,
    trust_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-key",
            metavar="FINGERPRINT",
            help="Also put the evidence sealed by this node key (hex SHA-256) in the bundle (repeatable).",
        ),
    ] = None,
) -> None:
    """Write a self-contained evidence bundle that `swarmscope verify` checks on its own."""
    try:
        since_us, until_us = check_interval(since, until)
        filters = ExportFilters(
            infohash=parse_infohash(infohash) if infohash else None,
            ip=parse_ip(ip) if ip else None,
            since_us=since_us,
            until_us=until_us,
            exclude_clock_flagged=exclude_clock_flagged,
            clock_threshold_us=_threshold_us(clock_threshold_ms),
        )
        run_export(
            db=db,
            out=out,
            filters=filters,
            key_path=node_key,
            trust_keys=[fingerprint_option(text, "--trust-key") for text in trust_key or []],
            console=Console(),
            err_console=Console(stderr=True),
        )
    except SwarmscopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
