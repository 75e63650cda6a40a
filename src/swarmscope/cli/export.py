"""``swarmscope export``: write a self-contained evidence bundle (layout: :mod:`swarmscope.evidence.bundle`).

The bundle is built in a temporary directory beside ``--out`` and renamed into place, so an interrupted
export leaves no half-written bundle under the requested name.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope import __version__
from swarmscope.cli.app import app
from swarmscope.cli.text import escaped
from swarmscope.errors import DecodeError, InputError, SwarmscopeError
from swarmscope.evidence.bundle import build_bundle
from swarmscope.evidence.seal import key_fingerprint, load_private_key, public_key_raw
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB, open_store
from swarmscope.store.export import ExportFilters, collect_bundle_content
from swarmscope.store.node_key import default_key_path

_MAX_KEY_FILE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: the bundle directory, its file count and bytes, and the records selected."""

    out: Path
    files: int
    size: int
    records: int
    signing_key: str


def parse_time(text: str, option: str) -> int:
    """``--since``/``--until``: ISO 8601 (UTC unless an offset is given) or integer UTC microseconds.

    Raises:
        InputError: neither form (the message names the option).
    """
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is neither ISO 8601 nor UTC microseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_ip(text: str) -> str:
    """``--ip``: an IPv4/IPv6 literal, normalised as the records store it (``::ffff:`` forms unchanged).

    Raises:
        InputError: not an IP address.
    """
    try:
        return ipaddress.ip_address(text.strip("[]")).compressed
    except ValueError:
        raise InputError(f"--ip: {text!r} is not an IP address") from None


def parse_infohash(text: str) -> str:
    """``--infohash``: 40 (v1) or 64 (v2) hex digits, lower-cased.

    Raises:
        InputError: anything else.
    """
    if len(text) not in (40, 64) or any(c not in "0123456789abcdef" for c in text.lower()):
        raise InputError(f"--infohash: {text!r} is not 40 or 64 hex digits")
    return text.lower()


def load_node_key(path: Path) -> Ed25519PrivateKey:
    """Read the node's signing key (never creates one: an export signs with the key that sealed the ledger).

    Raises:
        InputError: missing, unreadable or not an Ed25519 PEM private key.
    """
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            raise InputError(f"{path}: too large for a key file")
        return load_private_key(path.read_bytes())
    except OSError as exc:
        raise InputError(f"node key {path}: {exc.strerror or exc}") from exc
    except DecodeError as exc:
        raise InputError(f"node key {path}: {exc}") from exc


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
) -> ExportResult:
    """Select evidence from the store and write a bundle to ``out``.

    Args:
        db: SQLite path or SQLAlchemy URL. out: the bundle directory (must not exist, or be empty).
        filters: selection (default: everything of the node). key_path: the node key file (default:
            :func:`swarmscope.store.node_key.default_key_path` of ``db``). now_us: UTC µs of the export
            (default: the system clock). console: where the summary goes (None: silent).

    Returns:
        :class:`ExportResult`.

    Raises:
        InputError: bad key file or ``out``. StoreError: see :func:`store.export.collect_bundle_content`.
    """
    key = load_node_key(key_path or default_key_path(db))
    fingerprint = key_fingerprint(public_key_raw(key))
    filters = filters or ExportFilters()
    if filters.node is None:
        filters = ExportFilters(**{**filters.as_json(), "node": fingerprint})
    store = open_store(db, create=False)
    try:
        content = collect_bundle_content(store, filters)
    finally:
        store.close()
    created = now_us if now_us is not None else Clock().now_us()
    files = build_bundle(content, private_key=key, created_us=created, software_version=__version__)
    write_bundle(files, out)
    result = ExportResult(out, len(files), sum(map(len, files.values())), len(content.records), fingerprint)
    if console is not None:
        console.print(
            f"wrote [bold]{escaped(out)}[/]: {result.files} files, {result.size} bytes, "
            f"{result.records} records; signed by key {fingerprint}"
        )
    return result


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
        int, typer.Option("--clock-threshold-ms", min=1, help="Clock policy threshold (milliseconds).")
    ] = 100,
    node_key: Annotated[
        Path | None, typer.Option("--node-key", help="Node key file (default: beside the database).")
    ] = None,
) -> None:
    """Write a self-contained evidence bundle that `swarmscope verify` checks on its own."""
    try:
        filters = ExportFilters(
            infohash=parse_infohash(infohash) if infohash else None,
            ip=parse_ip(ip) if ip else None,
            since_us=parse_time(since, "--since") if since else None,
            until_us=parse_time(until, "--until") if until else None,
            exclude_clock_flagged=exclude_clock_flagged,
            clock_threshold_us=clock_threshold_ms * 1000,
        )
        run_export(db=db, out=out, filters=filters, key_path=node_key, console=Console())
    except SwarmscopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
