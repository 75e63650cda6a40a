"""Console accounts as sealed ledger events: an account counts only in the state its NEWEST event gives.

``web_user``, ``web_token`` and ``web_session`` are plain rows. Someone who can write the database file
but lacks the node's Ed25519 key could insert a counsel user with a token whose SHA-256 he knows (or a
session), raise a role, or write back an older state of a row (a backup, a copy taken before ``users
disable``, ``users passwd``, a token revocation or a logout) and so undo it. A per-row MAC proves only
that a state was once written by the key's holder, not that it is the current one. So every change of an
account row is sealed as a :class:`~swarmscope.evidence.records.WorkflowEvent` in the node's hash chain,
in the transaction that writes the row (:func:`seal_rows`), and the chain-head witness beside the key file
covers it like every workflow decision (README "Sealed workflow decisions", "Chain-head witness"):

- subject ``account:user:<id>``, step ``account_user``: id, name, role, client_id, password_hash,
  disabled_us (``users add``, ``passwd``, ``disable``);
- subject ``account:token:<id>``, step ``account_token``: id, user_id, token_sha256, revoked_us, and
  expires_us when the row holds one (``users token``, its ``--revoke``, ``users disable``);
- subject ``account:session:<id>``, step ``account_session``: id, user_id, token_sha256, csrf, expires_us,
  revoked_us (a login, a logout, ``users passwd`` and ``users disable`` ending it).

Sessions are covered because a session row grants what a token grants: an inserted or un-ended session
of an honest counsel would act as that counsel. ``last_used_us``, a session's ``last_seen_us`` (its idle
clock) and ``added_us``/``created_us`` only inform and are not sealed. The event's ``sha256`` is
:func:`swarmscope.store.legal.workflow_seals.content_sha256` of those fields (UTC µs integers, hex text).

A field added to a step after events of it were sealed (:data:`_LATER`: a token's ``expires_us``, schema
revision 0023) enters the content only when the row holds a value: an event sealed before it was added
hashes the older field set, and still proves a row whose new column is NULL; a row sealed with a value
hashes it, so changing the value, or blanking it to pass for an older row, breaks the match.

A row is accepted only when it hashes to the newest event PROVEN for its subject under a trusted key
(:class:`SealedAccounts`; proven as every workflow event: canonical bytes hashing to an entry a batch
signed by a trusted key covers, its chain holding). The newest is the last in chain order of one node;
between nodes, the later ``at_us``. A row without any event, an older state, or an altered one is refused.
An event in a batch crash recovery sealed late (:mod:`swarmscope.store.ledger.recovery`: "sealed late by
recovery: not evidence") is passed over: anyone who can write the database file can append one.
Deleting the chain's tail (the disabling batch) to bring back an older state is what the chain-head
witness detects: the console checks it whenever the sealed view changes.

Source: README "Web console" (accounts sealed in the ledger); RFC 8032 (Ed25519); RFC 6234 (SHA-256).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import decode_record
from swarmscope.evidence.declarations import WORKFLOW_EVENT
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import NOT_EVIDENCE, key_fingerprint
from swarmscope.store.database import StoreError
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.proven import LedgerProver
from swarmscope.store.ledger.purge_records import PurgeRecords, load_purge_records
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key
from swarmscope.store.ledger.snapshot import read_snapshot
from swarmscope.store.legal.workflow_seals import content_sha256, signer

if TYPE_CHECKING:
    from swarmscope.store.database import Store

# table name -> (subject kind, step, sealed fields)
_SPECS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "web_user": ("user", "account_user", ("id", "name", "role", "client_id", "password_hash", "disabled_us")),
    "web_token": ("token", "account_token", ("id", "user_id", "token_sha256", "revoked_us", "expires_us")),
    "web_session": (
        "session", "account_session", ("id", "user_id", "token_sha256", "csrf", "expires_us", "revoked_us"),
    ),
}  # fmt: skip
# table name -> sealed fields added after its first events: in the content only when not NULL (docstring)
_LATER: dict[str, frozenset[str]] = {"web_token": frozenset({"expires_us"})}
_SUBJECT_PREFIX = "account:"
CHUNK = 10_000  # ledger entries read and checked per query


def subject(table: str, row_id: int) -> str:
    """The event subject of row ``row_id`` of ``table`` (``account:user:3``)."""
    return f"{_SUBJECT_PREFIX}{_SPECS[table][0]}:{int(row_id)}"


def row_sha256(table: str, row: Mapping[Any, Any]) -> bytes:
    """The SHA-256 an event of ``table``'s row seals: its sealed fields as they stand (module docstring)."""
    _kind, step, fields = _SPECS[table]
    later = _LATER.get(table, frozenset())
    content = {f: row[f] for f in fields if f not in later}
    content.update({f: row.get(f) for f in later if row.get(f) is not None})  # absent: as NULL
    return content_sha256(step, content)


def seal_rows(
    conn: sa.Connection, store: Store, table: sa.Table, where: sa.ColumnElement[bool], now_us: int
) -> int:
    """Seal the state of every row of ``table`` matching ``where``, as it stands inside the caller's write
    transaction, in one batch of the node's chain; returns how many rows were sealed.

    Raises:
        StoreError: the store holds no node private key (the caller's transaction rolls back: nothing
            is stored unsealed).
    """
    node = signer(store, "an account change")
    _kind, step, _fields = _SPECS[table.name]
    rows = conn.execute(sa.select(table).where(where).order_by(table.c.id)).mappings().all()
    events = [
        WorkflowEvent(subject(table.name, r["id"]), step, now_us, row_sha256(table.name, r)) for r in rows
    ]
    if events:
        ledger.commit(conn, node, 0, events, ledger.Commit({}, {}, (), now_us, None))
    return len(events)


@dataclass(frozen=True, slots=True)
class _Newest:
    """The newest proven event of one subject: its node (``node_key.id``), chain index, UTC µs, SHA-256."""

    node: int
    index: int
    at_us: int
    sha256: bytes


class SealedAccounts:
    """The sealed account view under ``trusted`` key fingerprints (hex), kept between calls: :meth:`refresh`
    reads only the entries sealed since it last read (one index seek per node when nothing changed), and
    reads everything again when a node's chain no longer holds the entry it stopped at.

    Every entry of a trusted node is checked as it is read, not only the account events: an account
    event whose bytes were altered, blanked or relabelled would otherwise drop out unseen and bring back
    the state before it. An entry that no trusted batch proves (while a batch claims it), whose bytes do
    not hash to its sealed record hash, or blanked without a proven purge record, refuses every account
    (:class:`StoreError`). The first read of a store thus proves each batch of the trusted nodes once, as
    ``verify --db`` does; later reads take the new entries only, in chunks of :data:`CHUNK`.
    """

    def __init__(self, trusted: frozenset[str]) -> None:
        self.trusted = frozenset(f.lower() for f in trusted)
        self._newest: dict[str, _Newest] = {}
        self._cursor: dict[int, tuple[int, bytes]] = {}  # node -> (last index read, its entry hash)
        self._purges: PurgeRecords | None = None

    @classmethod
    def of_store(cls, store: Store) -> SealedAccounts:
        """The view trusting ``store``'s own node key only (none without one: nothing is accepted), read.

        Raises:
            StoreError: a trusted node's chain is damaged (class docstring).
        """
        own = store.node.fingerprint if store.node is not None else None
        return cls(frozenset() if own is None else frozenset({own})).refresh(store)

    def refresh(self, store: Store, on_change: Callable[[], None] | None = None) -> SealedAccounts:
        """Read what was sealed since the last call. ``on_change`` runs first when the chain moved (the
        console checks the chain-head witness there; what it raises propagates and nothing is read).

        Raises:
            StoreError: a trusted node's chain is damaged (class docstring); it is read again next time.
        """
        with read_snapshot(store.engine) as conn:  # the heads and the entries read: one state
            heads = _heads(conn)
            if heads == self._cursor:
                return self
            if on_change is not None:
                on_change()
            if any(_moved(conn, node, at) for node, at in self._cursor.items()):
                self._newest, self._cursor = {}, {}
            self._purges = None
            nodes = _node_fingerprints(conn)
            for node in heads:
                if nodes.get(node) not in self.trusted:
                    self._cursor[node] = heads[node]  # a key nobody trusts proves nothing: not read
                    continue
                start = self._cursor.get(node, (-1, b""))[0]
                self._cursor[node] = self._read(conn, node, nodes[node], start, heads[node])
        return self

    def _read(
        self, conn: sa.Connection, node: int, signer: str, after: int, head: tuple[int, bytes]
    ) -> tuple[int, bytes]:
        """Check and take node ``node``'s entries after index ``after``; returns the new cursor (it stops
        before an entry no batch claims yet, which is read again once one does)."""
        e = ledger_entry.c
        columns = (e.idx, e.kind, e.canonical, e.redacted_rule, e.redacted_us)
        while True:
            query = sa.select(*columns).where(e.node_id == node, e.idx > after).order_by(e.idx).limit(CHUNK)
            rows = conn.execute(query).all()
            if not rows:
                return head
            prover = LedgerProver(conn, self.trusted, 0)  # per chunk: its kept batches stay small
            for row in rows:
                idx = int(row.idx)
                sealed = prover.sealed_entry(node, idx)
                if isinstance(sealed, str) and idx > _sealed_to(conn, node):
                    return _cursor_at(conn, node, idx - 1)
                if isinstance(sealed, str) and sealed.startswith(NOT_EVIDENCE):
                    after = idx  # sealed late by crash recovery: an event no trusted seal vouches for
                    continue
                problem = (
                    sealed if isinstance(sealed, str) else self._bytes_problem(conn, signer, row, sealed)
                )
                if problem is not None:
                    raise StoreError(
                        f"no account is accepted: ledger index {idx} of node {signer[:16]}: {problem} (the "
                        "chain that seals the accounts is damaged; 'verify --db' shows it)"
                    )
                event = _account_event(row.canonical)
                if event is not None:
                    self._take(event, node, idx)
                after = idx

    def _bytes_problem(
        self, conn: sa.Connection, signer: str, row: Any, sealed: tuple[str, bytes, int]
    ) -> str | None:
        """Why entry ``row`` of a proven batch is not the record its batch seals (None: it is)."""
        if row.canonical is not None:
            same = hashlib.sha256(bytes(row.canonical)).digest() == sealed[1]
            return None if same else "its bytes differ from the sealed record hash"
        if self._purges is None:
            nodes = {n: f for n, f in _node_fingerprints(conn).items() if f in self.trusted}
            self._purges = load_purge_records(conn, LedgerProver(conn, self.trusted, 0).sealed_entry, nodes)
        return self._purges.problem(signer, row, sealed[1])

    def _take(self, event: WorkflowEvent, node: int, index: int) -> None:
        found = self._newest.get(event.subject)
        if found is None or found.node == node or event.at_us >= found.at_us:
            self._newest[event.subject] = _Newest(node, index, event.at_us, event.sha256)

    def has_events(self, table: str, row_id: int) -> bool:
        """Whether any proven event names row ``row_id`` of ``table``."""
        return subject(table, row_id) in self._newest

    def sealed_at(self, table: str, row_id: int) -> int | None:
        """UTC µs of the newest proven event of row ``row_id`` of ``table`` (signed with it); None: none."""
        found = self._newest.get(subject(table, row_id))
        return None if found is None else found.at_us

    def holds(self, table: str, row: Mapping[Any, Any]) -> bool:
        """Whether ``row`` of ``table`` is exactly the state its newest proven event seals."""
        found = self._newest.get(subject(table, row["id"]))
        return found is not None and hmac.compare_digest(found.sha256, row_sha256(table, row))


def _account_event(canonical: Any) -> WorkflowEvent | None:
    if canonical is None:
        return None
    try:
        event = decode_record(WORKFLOW_EVENT, bytes(canonical))
    except DecodeError:
        return None
    return event if event.subject.startswith(_SUBJECT_PREFIX) else None


def _node_fingerprints(conn: sa.Connection) -> dict[int, str]:
    """node_key.id → hex fingerprint of its stored public key (computed, not the fingerprint column)."""
    rows = conn.execute(sa.select(node_key.c.id, node_key.c.public_key))
    return {int(i): key_fingerprint(bytes(k)) for i, k in rows}


def _heads(conn: sa.Connection) -> dict[int, tuple[int, bytes]]:
    """Each node's last chain index and its entry hash (one index seek per registered node)."""
    out = {}
    for node in conn.execute(sa.select(node_key.c.id)).scalars():
        at = _cursor_at(conn, int(node), None)
        if at[0] >= 0:
            out[int(node)] = at
    return out


def _cursor_at(conn: sa.Connection, node: int, index: int | None) -> tuple[int, bytes]:
    """(index, entry hash) of node ``node``'s entry ``index`` (None: its last); (-1, b"") for none."""
    e = ledger_entry.c
    query = sa.select(e.idx, e.entry_hash).where(e.node_id == node)
    query = query.order_by(e.idx.desc()).limit(1) if index is None else query.where(e.idx == index)
    row = conn.execute(query).first()
    return (-1, b"") if row is None else (int(row.idx), bytes(row.entry_hash))


def _moved(conn: sa.Connection, node: int, at: tuple[int, bytes]) -> bool:
    """Whether node ``node``'s chain no longer holds entry ``at`` (index, entry hash) as read before."""
    return at[0] >= 0 and _cursor_at(conn, node, at[0]) != at


def _sealed_to(conn: sa.Connection, node: int) -> int:
    """The last index of node ``node`` any stored batch claims to seal (-1: none)."""
    found = conn.execute(
        sa.select(sa.func.max(ledger_batch.c.last_index)).where(ledger_batch.c.node_id == node)
    ).scalar()
    return -1 if found is None else int(found)
