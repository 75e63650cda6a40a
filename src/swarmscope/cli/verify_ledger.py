"""``swarmscope verify --db PATH``: the verdict on a database's sealed ledger, its chain-head witness and
the heads recorded outside it.

As ``export`` does before it writes anything (:func:`swarmscope.store.ledger.verify.verify_ledger`): every
node's batches, chain and rows, and every redacted entry against the sealed purge record that must cover
it; the chain-head witness beside each ``--node-key`` given (key files kept apart from the database) and
beside the default key path, every node whose batches say a witness was kept having its own checked
(:func:`swarmscope.cli.node_identity.check_witness`); and each ``--expect-head FINGERPRINT:INDEX:HASH``
(:mod:`swarmscope.store.ledger.head_anchor`: a head of that node counsel wrote down elsewhere, which an
older copy of the witness put back beside a truncated database cannot undo). Exit status 0 when
everything holds, 1 when anything does not, 2 when PATH is not a swarmscope database, an
``--expect-head`` is not ``FINGERPRINT:INDEX:HASH`` or a ``--node-key`` is not a readable key file.

Source: README "Sealed ledger" (chain-head witness; outside anchor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from swarmscope.cli.node_identity import check_witness
from swarmscope.cli.text import escaped
from swarmscope.errors import InputError
from swarmscope.evidence.records import us_to_iso
from swarmscope.evidence.seal import NOT_EVIDENCE
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger.head_anchor import MIN_PREFIX, ExpectedHead, anchor_problem, misnamed_nodes
from swarmscope.store.ledger.head_witness import MAX_INDEX, key_file_fingerprint
from swarmscope.store.ledger.verify import LedgerProblem, LedgerVerdict, verify_ledger

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
_HASH = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},64}}")  # a node fingerprint, whole or shortened


def ledger_json(verdict: LedgerVerdict) -> dict[str, Any]:
    """The machine-readable verdict of ``verify --db``."""
    return {
        "ok": verdict.ok,
        "exit_status": EXIT_OK if verdict.ok else EXIT_FAILED,
        "counts": {"nodes": verdict.nodes, "entries": verdict.entries, "batches": verdict.batches,
                   "rows": verdict.rows},
        "redacted": [{"rule": rule, "entries": n} for rule, n in verdict.redacted],
        "purge_records": [
            {"node": node, "index": index, "rule": rule, "purged_at_us": at, "entries": n}
            for node, index, rule, at, n in verdict.purges
        ],
        "problems": [
            {"node": p.node, "index": p.index, "what": p.what, "detail": p.detail} for p in verdict.problems
        ],
        "heads": [
            {"node": h.node, "index": h.index, "batch": h.batch, "head_hash": h.head_hash.hex(),
             "anchor": ExpectedHead(h.node, h.index, h.head_hash).text()}
            for h in verdict.heads
        ],
        "late_batches": [
            {"node": b.node, "batch": b.batch, "first": b.first, "last": b.last, "note": NOT_EVIDENCE}
            for b in verdict.late
        ],
        "clock_steps_back": [
            {"node": c.node, "batch": c.batch, "first": c.first, "before_us": c.before_us,
             "sealed_at_us": c.sealed_at_us}
            for c in verdict.clock_steps
        ],
        "clock_behind": [
            {"node": c.node, "batch": c.batch, "first": c.first, "sealed_at_us": c.sealed_at_us,
             "behind_us": c.behind_us, "later_batch": c.later_batch,
             "later_sealed_at_us": c.later_sealed_at_us}
            for c in verdict.clock_behind
        ],
        "recovered_column_only": [
            {"node": b.node, "batch": b.batch, "first": b.first, "last": b.last} for b in verdict.column_only
        ],
        "duplicate_captures": [
            {"node": node, "index": index, "first": first} for node, index, first in verdict.duplicates
        ],
    }  # fmt: skip


def print_ledger_verdict(verdict: LedgerVerdict, console: Console) -> None:
    """The counts, the redactions per rule and their purge records, every problem, then the verdict."""
    console.print(
        f"ledger: {verdict.nodes} node(s), {verdict.entries} entries, {verdict.batches} sealed batches,"
        f" {verdict.rows} rows"
    )
    for head in verdict.heads:  # one read snapshot: batches committed after it are not covered
        anchor = ExpectedHead(head.node, head.index, head.head_hash).text()
        console.print(
            f"checked to: node {head.node} index {head.index} batch {head.batch} head {head.head_hash.hex()}"
            f" (record it outside the database: --expect-head {anchor})"
        )
    for rule, count in verdict.redacted:
        console.print(f"redacted: {count} entries under {escaped(rule)}")
    for node, index, rule, at_us, count in verdict.purges:
        under = f"{count} entries under {escaped(rule)}, {us_to_iso(at_us)}"
        console.print(f"purge record: node {node} index {index}: {under}")
    if verdict.late:
        count = sum(b.entries for b in verdict.late)
        spans = ", ".join(f"batch {b.batch} (index {b.first}..{b.last})" for b in verdict.late)
        console.print(f"[yellow]late[/]: {count} records {NOT_EVIDENCE}: {spans}")
    for b in verdict.column_only:
        console.print(
            f"[yellow]recovered column[/]: node {b.node} batch {b.batch} (index {b.first}..{b.last}) is "
            "flagged recovered by its unsigned column only; its signed bytes carry no late mark, so its "
            "records are judged as sealed (an older version's late batch, or a column someone set)"
        )
    for c in verdict.clock_steps:
        console.print(
            f"[yellow]clock set back[/]: node {c.node} batch {c.batch} (index {c.first}) sealed "
            f"{us_to_iso(c.sealed_at_us)}, before the batch ahead of it ({us_to_iso(c.before_us)}): "
            "its hits and later ones are refused by cases build"
        )
    for k in verdict.clock_behind:
        way = "behind" if k.behind_us > 0 else "ahead"
        console.print(
            f"[yellow]clock {way}[/]: node {k.node} batch {k.batch} (index {k.first}) sealed "
            f"{us_to_iso(k.sealed_at_us)}, {abs(k.behind_us) / 1e6:.3f} s {way} "
            f"{'' if way == 'behind' else 'of '}the clock of batch {k.later_batch} "
            f"({us_to_iso(k.later_sealed_at_us)}) later in the same boot (corrected in between): its hits "
            "are refused by cases build"
        )
    for node, index, first in verdict.duplicates:
        console.print(
            f"[yellow]duplicate[/]: node {node} index {index} carries the capture of index {first}: one hit "
            "sealed twice, counted once by cases build; export leaves it out"
        )
    for p in verdict.problems:
        where = "" if p.index is None else f" index {p.index}"
        console.print(f"[red]problem[/] node {p.node}{where}: {escaped(p.what)} ({escaped(p.detail)})")
    if verdict.ok:
        console.print("[bold green]VERIFIED[/]: the ledger holds")
    else:
        console.print(f"[bold red]NOT VERIFIED[/]: {len(verdict.problems)} problem(s)")


def run_verify_ledger(
    db: str,
    *,
    as_json: bool = False,
    console: Console | None = None,
    expect_heads: Sequence[ExpectedHead] = (),
    node_keys: Sequence[Path] = (),
) -> int:
    """Verify the sealed ledger of the database ``db`` and print the verdict; returns 0, 1 or 2. Each
    head in ``expect_heads`` (recorded outside the database) must be in its node's chain, else a problem
    (:func:`_anchored`); ``node_keys``: key files kept apart from the database (``--node-key``), whose
    witnesses are checked too (:func:`_witnessed`)."""
    console = console or Console(highlight=False, soft_wrap=True)
    try:
        store = open_store(db, create=False)
    except StoreError as exc:
        unusable(str(exc), as_json, console, what="not a database")
        return EXIT_UNUSABLE
    try:
        verdict = verify_ledger(store)
        verdict, notes = _witnessed(store, db, verdict, node_keys)
        verdict = _anchored(store, verdict, expect_heads)
    finally:
        store.close()
    if as_json:
        body = ledger_json(verdict) | {"notes": notes}
        console.file.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        for note in notes:
            console.print(f"note: {escaped(note)}")
        print_ledger_verdict(verdict, console)
    return EXIT_OK if verdict.ok else EXIT_FAILED


def _witnessed(
    store: Store, db: str, verdict: LedgerVerdict, node_keys: Sequence[Path]
) -> tuple[LedgerVerdict, list[str]]:
    """``verdict`` with a problem when a chain lacks the head witnessed beside a node key file (each of
    ``node_keys``, and the default beside ``db``), or when a node whose batches say a witness was kept
    has not had its own witness checked (one found for another node never stands in for it: the line
    names the node and the ``--node-key`` to pass); and the notes to print (a node with no witness in a
    chain that never marked one: its tail was not checked; each sealed witness reset). Source: README
    "Sealed ledger" (chain-head witness, key kept apart)."""
    try:
        notes = check_witness(store, db, list(node_keys), every=True)
    except StoreError as exc:
        problem = LedgerProblem("-", None, "chain-head witness", str(exc))
        return replace(verdict, ok=False, problems=(*verdict.problems, problem)), []
    return verdict, notes


def _anchored(store: Store, verdict: LedgerVerdict, expect_heads: Sequence[ExpectedHead]) -> LedgerVerdict:
    """``verdict`` with one ``recorded head`` problem per head recorded outside the database that its
    node's chain does not hold (:func:`swarmscope.store.ledger.head_anchor.anchor_problem`), and one per
    node key row whose ``fingerprint`` column does not name its own public key (an edit; the anchor and
    the witness go by the key). Source: README "Sealed ledger" (outside anchor); evidence.seal."""
    found = [LedgerProblem(h.node, h.index, "recorded head", why) for h in expect_heads
             if (why := anchor_problem(store, h)) is not None]  # fmt: skip
    found += [LedgerProblem(column, None, "node key fingerprint column", f"names {column}, but its public key"
                            f" is node {own}") for column, own in misnamed_nodes(store)]  # fmt: skip
    if not found:
        return verdict
    return replace(verdict, ok=False, problems=(*verdict.problems, *found))


def expected_head(text: str) -> ExpectedHead:
    """One ``--expect-head FINGERPRINT:INDEX:HASH``: the node's key fingerprint (all 64 hex digits, or a
    prefix of at least 16), a chain index (0..2**63-1) and the 64 hex digits of its entry hash, as the
    ``checked to:`` lines of ``verify --db`` print them. The older ``INDEX:HASH`` is refused: an entry
    hash does not name its node, so any node's chain holding the entry would meet it (README "Sealed
    ledger", outside anchor).

    Raises:
        InputError: anything else, naming the option and the first 80 characters given (one line).
    """
    parts = text.strip().lower().split(":")
    if len(parts) == 2 and _HASH.fullmatch(parts[1]):
        raise InputError(
            f"--expect-head {text[:80]!r}: INDEX:HASH does not name the node whose chain must hold the head"
            " (any node's chain holding that entry would meet it): give FINGERPRINT:INDEX:HASH, as"
            " `verify --db` prints it in its `checked to:` lines"
        )
    if len(parts) == 3:
        node, index, digest = parts
        if _PREFIX.fullmatch(node) and _HASH.fullmatch(digest) and _chain_index(index):
            return ExpectedHead(node, int(index), bytes.fromhex(digest))
    raise InputError(
        f"--expect-head {text[:80]!r}: give FINGERPRINT:INDEX:HASH (the node's fingerprint or at least"
        f" {MIN_PREFIX} of its hex digits, a chain index and its 64-hex-digit head hash, as `verify --db`"
        " prints them in its `checked to:` lines)"
    )


def _chain_index(text: str) -> bool:
    """True when ``text`` is ASCII decimal digits naming 0..MAX_INDEX (no sign, no NaN, no exponent)."""
    return 0 < len(text) <= 19 and text.isascii() and text.isdigit() and int(text) <= MAX_INDEX


def apart_key(path: Path) -> Path:
    """One ``verify --db --node-key KEY``: a node's key file (private key PEM, or its public key PEM)
    kept apart from the database; its witness is ``KEY.head`` (README "Sealed ledger").

    Raises:
        InputError: not a readable key file (one line naming the option and the path).
    """
    if key_file_fingerprint(path) is None:
        raise InputError(
            f"--node-key {str(path)[:200]!r}: not a readable key file (the node's private key PEM, or its"
            " public key PEM)"
        )
    return path


def unusable(message: str, as_json: bool, console: Console, what: str = "not a bundle") -> None:
    """The one line (or JSON body) of exit status 2: the bundle or database cannot be checked at all."""
    if as_json:
        body = {"ok": False, "exit_status": EXIT_UNUSABLE, "error": message}
        console.file.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        console.print(f"[bold red]{what}[/]: {escaped(message)}")
