"""A lost chain-head witness re-created by a sealed reset, and the note every later check carries.

A chain whose batches say a witness was kept (:mod:`swarmscope.store.ledger.head_witness`) and no witness
beside the key is refused: a deleted witness cannot be told from a truncated tail. The honest operator
who lost the file (a backup restored without it) holds the node key and may seal that fact: a
:class:`~swarmscope.evidence.records.WorkflowEvent` of step ``witness_reset`` (subject
``witness:<head index>``, the chain head found at the reset; content SHA-256 of
``b"swarmscope witness reset v1\\n"`` and the UTF-8 JSON of fingerprint, head index, head hash (hex) and
the witness path, keys sorted, no whitespace), sealed by the node key in a batch that says a witness is
kept; the new witness is written once it committed. From then on the witness guards the tail again, and
``verify --db``, ``export`` and every accusing command print one note per reset (:func:`reset_notes`):
the tail before the reset cannot be proven complete.

Source: README "Sealed ledger" (chain-head witness); RFC 8032 (Ed25519, the node's seal).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import decode_record
from swarmscope.evidence.declarations import WORKFLOW_EVENT
from swarmscope.evidence.records import WITNESS_RESET_STEP, WorkflowEvent, us_to_iso
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import WitnessError, holds, witness_path
from swarmscope.store.ledger.purge_records import typed
from swarmscope.store.ledger.schema import ledger_entry, node_key
from swarmscope.store.ledger.snapshot import Source, reading

if TYPE_CHECKING:
    from swarmscope.store.database import Store

RESET_STEP = WITNESS_RESET_STEP
_PREFIX = b"swarmscope witness reset v1\n"
_STEP_BYTES = f"{len(RESET_STEP)}:{RESET_STEP}".encode()  # the step as the canonical bytes hold it


@dataclass(frozen=True, slots=True)
class WitnessReset:
    """A sealed reset: the node's fingerprint (hex), the chain head index it re-witnessed from, the reset
    event's own chain index, its time (UTC µs) and the new witness file."""

    node: str
    head_index: int
    index: int
    at_us: int
    witness: Path

    def note(self) -> str:
        """The one-line note every later check prints."""
        return (
            f"chain-head witness of node {self.node[:16]}… re-created at chain head {self.head_index}"
            f" ({us_to_iso(self.at_us)}, sealed at index {self.index}): the tail before it cannot be"
            " proven complete"
        )


def reset_content(fingerprint: str, head_index: int, head_hash: bytes, witness: Path) -> bytes:
    """The SHA-256 a reset event seals (module docstring)."""
    fields = {"fingerprint": fingerprint, "head_index": head_index, "head_hash": head_hash.hex()}
    text = json.dumps(fields | {"witness": str(witness)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(_PREFIX + text.encode("utf-8")).digest()


def reset_witness(store: Store, key_path: Path, now_us: int) -> WitnessReset:
    """Seal a reset with the store's node key (the store a writer for it, no witness bound yet) and write
    the new witness ``<key file>.head`` once it committed.

    Raises:
        WitnessError: a witness is at the path (nothing to reset: restore or check it instead), the
            node has sealed nothing, or the store has no private key. StoreError: the write was refused.
    """
    node, path = store.node, witness_path(key_path)
    if node is None or node.private_key is None:
        raise WitnessError("witness reset: the reset is sealed with the node's private key")
    if path.exists():
        raise WitnessError(
            f"chain-head witness {path} exists: nothing to reset (a witness that the database does not"
            " match means its tail was truncated or rewritten: keep it as proof; one that is corrupt or"
            " foreign: move it aside, keep it, then reset)"
        )
    store.witness = path
    with store._write(immediate=True) as conn:
        head = ledger.lock_head(conn, node)
        if head is None:
            raise WitnessError(f"witness reset: node {node.fingerprint[:16]}… has sealed nothing here")
        digest = reset_content(node.fingerprint, head.index, head.entry_hash, path)
        event = WorkflowEvent(f"witness:{head.index}", RESET_STEP, now_us, digest)
        sealed, _batch = ledger.commit(conn, node, 0, [event], ledger.Commit({}, {}, (), now_us, None))
    return WitnessReset(node.fingerprint, head.index, sealed.batch.last_index, now_us, path)


def reset_notes(store: Store) -> list[str]:
    """One note per sealed witness reset in the store's chains, in chain order (:meth:`WitnessReset.note`);
    the events are found by the bytes their entries seal (the ``kind`` column is not chained)."""
    return [reset.note() for reset in _resets(store)]


def reset_records(source: Source, fingerprint: str) -> dict[int, bytes]:
    """The canonical bytes of node ``fingerprint``'s sealed witness resets by chain index: an export
    carries them, so a bundle says (``swarmscope verify`` notes) that the tail before each reset could not
    be proven complete."""
    return {
        reset.index: canonical for reset, canonical in _resets_with_bytes(source) if reset.node == fingerprint
    }


def _resets(source: Source) -> list[WitnessReset]:
    return [reset for reset, _canonical in _resets_with_bytes(source)]


def _resets_with_bytes(source: Source) -> list[tuple[WitnessReset, bytes]]:
    """Every sealed reset (its canonical bytes beside it), by node fingerprint and chain index."""
    e, k = ledger_entry.c, node_key.c
    out = []
    with reading(source) as conn:
        query = (
            sa.select(k.fingerprint, e.idx, e.canonical)
            .join(node_key, k.id == e.node_id)
            .where(typed(e.canonical, (WORKFLOW_EVENT.kind,)), holds(conn, e.canonical, _STEP_BYTES))
            .order_by(k.fingerprint, e.idx)
        )
        rows = conn.execute(query).all()
    for fingerprint, idx, canonical in rows:
        try:
            event = decode_record(WORKFLOW_EVENT, bytes(canonical))
        except (DecodeError, ValueError, TypeError):
            continue  # altered bytes: verify --db names the entry
        if isinstance(event, WorkflowEvent) and event.step == RESET_STEP:
            head = event.subject.removeprefix("witness:")
            at = int(head) if head.isascii() and head.isdigit() and len(head) < 20 else -1
            reset = WitnessReset(str(fingerprint), at, int(idx), event.at_us, Path())
            out.append((reset, bytes(canonical)))
    return out
