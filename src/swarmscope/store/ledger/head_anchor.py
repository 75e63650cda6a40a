"""A chain head recorded outside the database: the anchor ``verify --db --expect-head INDEX:HASH`` checks.

The chain-head witness (:mod:`swarmscope.store.ledger.head_witness`) sits beside the node key file; whoever
can write that directory as well as the database can truncate the tail and put back an OLDER copy of the
node's own witness, and nothing kept beside the database tells that from an honest state. A head written
down elsewhere (the case file, counsel's notes: the ``checked to:`` line of ``verify --db`` gives the
chain index and the entry hash there) cannot be put back that way: a chain that still holds the entry at
that index with that hash has lost nothing up to it. One anchor per node (each node has its own chain).

Source: README "Sealed ledger" (chain-head witness; outside anchor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key

if TYPE_CHECKING:
    from swarmscope.store.ports import DatabaseHandle

HASH_BYTES = 32  # an entry hash: SHA-256 (evidence.chain)


@dataclass(frozen=True, slots=True)
class ExpectedHead:
    """A head recorded outside the database: chain index (0..2**63-1) and its entry hash (32 bytes)."""

    index: int
    entry_hash: bytes

    def text(self) -> str:
        """``INDEX:HASH`` as given (hash in lower-case hex)."""
        return f"{self.index}:{self.entry_hash.hex()}"


def anchor_problem(store: DatabaseHandle, expected: ExpectedHead) -> str | None:
    """Why the database does not reach ``expected`` (None: some node's chain has the entry at its index
    with its hash): no chain reaches the index (its tail was truncated), or every entry there has
    another hash (rewritten, or truncated and sealed on). One query on the entry index."""
    e, k = ledger_entry.c, node_key.c
    query = sa.select(k.fingerprint, e.entry_hash).join(node_key, k.id == e.node_id)
    query = query.where(e.idx == expected.index)
    with store.engine.connect() as conn:
        found = [(str(fp), bytes(h)) for fp, h in conn.execute(query).all()]
    if any(h == expected.entry_hash for _fp, h in found):
        return None
    if not found:
        return (
            f"no chain reaches index {expected.index} of the recorded head {expected.text()}: its tail was"
            " truncated"
        )
    seen = ", ".join(f"node {fp[:16]}… has {h.hex()[:16]}…" for fp, h in found[:4])
    return (
        f"the entry at index {expected.index} is not the recorded head {expected.text()} ({seen}): its tail"
        " was rewritten, or truncated and sealed on"
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
    return None if row is None else ExpectedHead(int(row.last_index), bytes(row.head_hash))
