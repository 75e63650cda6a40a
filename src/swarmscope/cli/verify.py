"""``swarmscope verify DIR``: check an export bundle with nothing but the bundle (no database, no network).

A bundle across nodes (:mod:`swarmscope.evidence.bundle.nodes`) is checked per node, each node's
checks printed under ``node <fingerprint prefix>`` (its ``hits`` line: verified hits, how many
corroborated by two or more vantages, its vantage); ``--expect-key`` is repeatable (every node and the
exporting key must be among the expected keys).

Exit status: 0 when every check holds, 1 when any does not, 2 when DIR is not a bundle at all or an
option is unusable (``--expect-key`` not 64 hex digits, ``--tsa-root`` not a certificate). Every
observation must replay from its capture; one without a capture fails the bundle unless its run's sealed
settings say ``"capture": false`` (then it is counted as not re-derivable and noted). A run whose sealed
settings name an RFC 3161 authority must have a token on every batch; an unmeasured clock is noted. Every
text taken from the bundle (paths, addresses, messages quoting it) is shown through
:mod:`swarmscope.cli.text`, so a hostile bundle cannot inject Rich markup or terminal control sequences.

``swarmscope verify --db PATH`` checks a database's sealed ledger instead
(:mod:`swarmscope.cli.verify_ledger`: every node's batches, chain and rows, every redacted entry against
its sealed purge record, every node's own chain-head witness (``--node-key``: key files kept apart from
the database), and each ``--expect-head FINGERPRINT:INDEX:HASH`` recorded outside the database); it
prints the redactions per rule, the purge records and every problem with its chain index (exit 0 or 1; 2
when PATH is not a swarmscope database, an ``--expect-head`` is not ``FINGERPRINT:INDEX:HASH`` or a
``--node-key`` is not a readable key file).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console

from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import fingerprint_option
from swarmscope.cli.text import escaped
from swarmscope.cli.verify_ledger import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNUSABLE,
    apart_key,
    expected_head,
    run_verify_ledger,
    unusable,
)
from swarmscope.errors import InputError
from swarmscope.evidence.bundle.context import Problem
from swarmscope.evidence.bundle.nodes_verify import verify_export
from swarmscope.evidence.bundle.verify import BundleUnusableError, Verdict, expected_keys

MAX_FILE = 1 << 31  # bytes; a bundle file larger than this is refused (reads as missing)


class DirectoryBundle(Mapping[str, bytes]):
    """A bundle directory as ``path → bytes``, read lazily; only regular files (no symlinks) are readable.

    Iteration lists every entry under the root that is not a directory (symlinks and other special files
    included, so they show up as unlisted or unreadable), as ``/``-separated relative paths.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel = Path(dirpath).relative_to(self.root)
            links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
            for name in sorted(filenames + links):
                yield (rel / name).as_posix()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._paths()))

    def __len__(self) -> int:
        return sum(1 for _ in self._paths())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._regular(key) is not None

    def _regular(self, key: str) -> Path | None:
        parts = Path(key).parts
        if not key or Path(key).is_absolute() or ".." in parts:
            return None
        path = self.root.joinpath(*parts)
        try:
            info = path.lstat()
        except OSError:
            return None
        ok = stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE
        return (
            path if ok and not any(p.is_symlink() for p in path.parents if self.root in p.parents) else None
        )

    def __getitem__(self, key: str) -> bytes:
        path = self._regular(key)
        if path is None:
            raise KeyError(key)
        try:
            return path.read_bytes()
        except OSError:
            raise KeyError(key) from None


def _oversized(bundle: Path) -> list[str]:
    """One note per regular file of ``bundle`` over :data:`MAX_FILE` (read as missing: its check names it
    "missing"), so the reader learns why."""
    notes = []
    for rel in DirectoryBundle(bundle):
        path = bundle / rel
        with contextlib.suppress(OSError):
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE:
                notes.append(
                    f"{rel}: {info.st_size} bytes, over the {MAX_FILE} a bundle file may have: not read"
                )
    return notes


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """The machine-readable verdict (``--json``)."""

    def problem(p: Problem) -> dict[str, Any]:
        record = None
        if p.record is not None:
            r = p.record
            record = {"index": r.index, "kind": r.kind, "ip": r.ip, "port": r.port, "infohash": r.infohash}
        return {"check": p.check, "file": p.file, "message": p.message, "record": record}

    return {
        "ok": verdict.ok,
        "exit_status": EXIT_OK if verdict.ok else EXIT_FAILED,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in verdict.checks],
        "problems": [problem(p) for p in verdict.problems],
        "notes": list(verdict.notes),
        "signing_keys": list(verdict.signing_keys),
    }


def print_verdict(verdict: Verdict, console: Console) -> None:
    """One line per check, then every problem (FILE, RECORD, message), then the verdict."""
    for check in verdict.checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {escaped(check.name):<20} {escaped(check.detail)}")
    for p in verdict.problems:
        record = f" RECORD {escaped(p.record.label())}" if p.record is not None else ""
        console.print(
            f"[red]problem[/] FILE {escaped(p.file)}{record}: {escaped(p.message)} ({escaped(p.check)})"
        )
    for note in verdict.notes:
        console.print(f"note: {escaped(note)}")
    for fingerprint in verdict.signing_keys:
        console.print(f"signing key: {escaped(fingerprint)}")
    if verdict.ok:
        console.print("[bold green]VERIFIED[/]: every check holds")
    else:
        console.print(f"[bold red]NOT VERIFIED[/]: {len(verdict.problems)} problem(s)")


def load_certificate(path: Path) -> bytes:
    """A trusted TSA certificate file (PEM or DER) as DER.

    Raises:
        InputError: unreadable, or neither PEM nor DER X.509.
    """
    try:
        data = path.read_bytes()
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except OSError as exc:
        raise InputError(f"--tsa-root {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:
        raise InputError(f"--tsa-root {path}: not an X.509 certificate (PEM or DER)") from None
    return cert.public_bytes(serialization.Encoding.DER)


def run_verify(
    bundle: Path,
    *,
    expect_key: str | None = None,
    tsa_roots: Sequence[bytes] = (),
    as_json: bool = False,
    console: Console | None = None,
    expect_keys: Sequence[str] = (),
) -> int:
    """Verify a bundle directory and print the verdict; returns the exit status (0, 1 or 2).

    Args:
        bundle: the bundle directory. expect_key: trusted signer fingerprint (hex SHA-256 of the raw key).
            expect_keys: more trusted fingerprints (a bundle across nodes: every node and the exporter).
        tsa_roots: DER certificates of trusted time-stamp authorities (see :func:`verify_export`).
        as_json: print the machine-readable verdict instead. console: output (default: stdout).
    """
    console = console or Console(highlight=False)
    if not bundle.is_dir():
        unusable(f"{bundle}: not a directory", as_json, console)
        return EXIT_UNUSABLE
    manifest = bundle / "manifest.json"
    if manifest.is_file() and not manifest.is_symlink() and manifest.stat().st_size > MAX_FILE:
        size = manifest.stat().st_size
        unusable(f"{manifest}: {size} bytes, over the {MAX_FILE} a bundle file may have", as_json, console)
        return EXIT_UNUSABLE
    try:
        expected = expected_keys(expect_key, expect_keys)
        verdict = verify_export(DirectoryBundle(bundle), expect_keys=expected, tsa_roots=tsa_roots)
    except BundleUnusableError as exc:
        unusable(f"{bundle}: {exc}", as_json, console)
        return EXIT_UNUSABLE
    except MemoryError:  # a hostile file past every bound the checks keep: refused, never a traceback
        unusable(
            f"{bundle}: verification ran out of memory: a file is far larger than any bundle's",
            as_json,
            console,
        )
        return EXIT_UNUSABLE
    verdict = replace(verdict, notes=(*verdict.notes, *_oversized(bundle)))
    if as_json:
        console.file.write(json.dumps(verdict_json(verdict), indent=2, sort_keys=True) + "\n")
    else:
        print_verdict(verdict, console)
    return EXIT_OK if verdict.ok else EXIT_FAILED


@app.command()
def verify(
    bundle: Annotated[
        Path | None, typer.Argument(metavar="DIR", help="Bundle directory written by `export`.")
    ] = None,
    expect_key: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-key",
            metavar="FINGERPRINT",
            help="Trusted signer (hex SHA-256); repeatable (across nodes: each node and the exporter).",
        ),
    ] = None,
    tsa_root: Annotated[
        list[Path] | None,
        typer.Option("--tsa-root", metavar="CERT", help="Trusted TSA certificate, PEM or DER (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict.")] = False,
    db: Annotated[
        str | None, typer.Option("--db", metavar="PATH", help="Check this database's sealed ledger instead.")
    ] = None,
    expect_head: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-head",
            metavar="FINGERPRINT:INDEX:HASH",
            help="With --db: a chain head recorded outside the database (as a `checked to:` line prints"
            " it) that the node's chain must still hold; repeatable, one per node.",
        ),
    ] = None,
    node_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--node-key",
            metavar="KEY",
            help="With --db: a node's key file (or its public key) kept apart from the database; its"
            " chain-head witness KEY.head is checked too; repeatable, one per node.",
        ),
    ] = None,
) -> None:
    """Check an export bundle with nothing but the bundle (or, with --db, a database's sealed ledger);
    exit 0 only when everything holds."""
    if (bundle is None) == (db is None) or ((expect_head or node_key) and db is None):
        typer.echo("error: give a bundle directory DIR or --db PATH (one of them; --expect-head and"
                   " --node-key need --db)", err=True)  # fmt: skip
        raise typer.Exit(EXIT_UNUSABLE)
    if db is not None:
        raise typer.Exit(_verify_db(db, expect_head or [], node_key or [], as_json))
    assert bundle is not None
    try:
        expected = [fingerprint_option(text, "--expect-key") for text in expect_key or []]
        roots = [load_certificate(path) for path in tsa_root or []]
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    console = Console(file=sys.stdout, highlight=False)
    status = run_verify(bundle, expect_keys=expected, tsa_roots=roots, as_json=as_json, console=console)
    raise typer.Exit(status)


def _verify_db(db: str, expect_head: list[str], node_key: list[Path], as_json: bool) -> int:
    """``verify --db``: the options checked (one line and exit status 2 when one is unusable), then
    :func:`~swarmscope.cli.verify_ledger.run_verify_ledger`; returns its exit status."""
    try:
        heads = [expected_head(text) for text in expect_head]
        keys = [apart_key(path) for path in node_key]
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_UNUSABLE
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    return run_verify_ledger(db, as_json=as_json, console=console, expect_heads=heads, node_keys=keys)
