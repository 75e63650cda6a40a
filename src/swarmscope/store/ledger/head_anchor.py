"""A chain head recorded outside the database: the anchor ``verify --db --expect-head
FINGERPRINT:INDEX:HASH`` checks.

The chain-head witness (:mod:`swarmscope.store.ledger.head_witness`) sits beside the node key file; whoever
can write that directory as well as the database can truncate the tail and put back an OLDER copy of the
node's own witness, and nothing kept beside the database tells that from an honest state. A head written
down elsewhere (the case file, counsel's notes: the ``checked to:`` line of ``verify --db`` gives the
node, the chain index and the entry hash there) cannot be put back that way: a chain of THAT node that
still holds the entry at that index with that hash has lost nothing up to it.

The anchor names its node: entry hashes do not (evidence.chain: SHA-256 of the previous hash, the index
and the record hash, from GENESIS), so a key of someone else's sealing the same records in the same order
would hold the same entry. The node is found by the fingerprint derived from its stored public key
(evidence.seal), never by the ``fingerprint`` column, which an edit could point at another row; the
recorded fingerprint may be shortened to a prefix of at least :data:`MIN_PREFIX` hex digits that names
exactly one node. One anchor per node (each node has its own chain).

Source: README "Sealed ledger" (chain-head witness; outside anchor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.evidence.seal import key_fingerprint
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key

if TYPE_CHECKING:
    from swarmscope.store.ports import DatabaseHandle

HASH_BYTES = 32  # an entry hash: SHA-256 (evidence.chain)
MIN_PREFIX = 16  # hex digits of a fingerprint an anchor may be shortened to (64 bits)


@dataclass(frozen=True, slots=True)
class ExpectedHead:
    """A head recorded outside the database: the node's fingerprint (lower-case hex, all 64 digits or a
    prefix of at least :data:`MIN_PREFIX`), chain index (0..2**63-1) and its entry hash (32 bytes)."""

    node: str
    index: int
    entry_hash: bytes

    def text(self) -> str:
        """``FINGERPRINT:INDEX:HASH`` as given (hex in lower case)."""
        return f"{self.node}:{self.index}:{self.entry_hash.hex()}"


def anchor_node(store: DatabaseHandle, prefix: str) -> tuple[int | None, str]:
    """The ``node_key.id`` whose stored public key's fingerprint starts with ``prefix`` (None when no
    node's or several nodes' do) and the reason when None (one line). One query over the node keys."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(node_key.c.id, node_key.c.public_key)).all()
    named = [(int(i), fp) for i, pk in rows if (fp := key_fingerprint(bytes(pk))).startswith(prefix)]
    if len(named) == 1:
        return named[0][0], named[0][1]
    if not named:
        return None, f"no node of the database has fingerprint {prefix} (by its stored public key)"
    shown = ", ".join(sorted(fp[: len(prefix) + 8] + "…" for _i, fp in named)[:4])
    return None, f"fingerprint {prefix} names {len(named)} node keys ({shown}): give more of its digits"


def misnamed_nodes(store: DatabaseHandle) -> list[tuple[str, str]]:
    """(``fingerprint`` column, fingerprint derived from the stored public key) of every node key row
    whose column does not name its own key: an edit pointing a node's name at another row, which a
    reader going by the column would take for that node (evidence.seal: a fingerprint is SHA-256 of the
    raw public key)."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(node_key.c.fingerprint, node_key.c.public_key)).all()
    derived = [(str(column), key_fingerprint(bytes(pk))) for column, pk in rows]
    return [(column, own) for column, own in derived if column != own]


def anchor_problem(store: DatabaseHandle, expected: ExpectedHead) -> str | None:
    """Why the database does not reach ``expected`` (None: the recorded node's chain has the entry at its
    index with its hash): the node is not (or not alone) in the database (:func:`anchor_node`), its
    chain does not reach the index (its tail was truncated), or the entry there has another hash
    (rewritten, or truncated and sealed on). One query on the node's entry at the index."""
    node_id, fingerprint = anchor_node(store, expected.node)
    if node_id is None:
        return f"recorded head {expected.text()}: {fingerprint}"
    e = ledger_entry.c
    query = sa.select(e.entry_hash).where(e.node_id == node_id, e.idx == expected.index)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return (
            f"the chain of node {fingerprint} does not reach index {expected.index} of the recorded head"
            f" {expected.text()}: its tail was truncated"
        )
    if bytes(row.entry_hash) == expected.entry_hash:
        return None
    return (
        f"the entry at index {expected.index} of node {fingerprint} is not the recorded head"
        f" {expected.text()} (it has {bytes(row.entry_hash).hex()[:16]}…): its tail was rewritten, or"
        " truncated and sealed on"
    )


def anchor_problems(store: DatabaseHandle, expected: Sequence[ExpectedHead]) -> list[str]:
    """:func:`anchor_problem` for each recorded head, in order; empty when the database reaches them all."""
    return [why for head in expected if (why := anchor_problem(store, head)) is not None]


def node_head(store: DatabaseHandle, fingerprint: str) -> ExpectedHead | None:
    """The head of ``fingerprint``'s chain as its newest sealed batch ends it (last index, head hash:
    what ``verify --db`` prints as ``checked to:``), for the sealing command to print for counsel to
    record; None when that node sealed nothing."""
    b, k = ledger_batch.c, node_key.c
    query = (
        sa.select(b.last_index, b.head_hash)
        .join(node_key, k.id == b.node_id)
        .where(k.fingerprint == fingerprint)
        .order_by(b.last_index.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else ExpectedHead(fingerprint, int(row.last_index), bytes(row.head_hash))
