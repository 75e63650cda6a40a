"""Sealed workflow decisions: what the legal workflow seals in the ledger, and what a trusted seal proves.

The workflow's tables are plain rows. Someone who can write the database file but lacks the node's
Ed25519 key could otherwise re-price an approved letter and swap its IBAN, erase a payment or a dispute,
mark a case escalated, or rewrite the ISP or work directory, and so steer a notice, a letter or the
litigation list. So each decision that can later accuse someone is sealed as a
:class:`~swarmscope.evidence.records.WorkflowEvent` (subject, step, UTC µs, SHA-256 of its content) by
the node's key through the ledger writer (:func:`swarmscope.store.ledger.commit.commit`), and a row counts
only when its content hashes to an event PROVEN the way every sealed record is: its canonical bytes hash
to the record hash of an entry a batch signed by a TRUSTED key covers, with a holding chain
(:class:`swarmscope.store.ledger.proven.LedgerProver`). The ``kind`` column is not chained, so events are
found by the bytes they seal (:func:`swarmscope.store.ledger.purge_records.typed`).

Content (:func:`content_sha256`: SHA-256 of ``b"swarmscope workflow v1\\n"`` and the UTF-8 JSON of
``{"step": step, **content}``, keys sorted, no whitespace) per step:

- ``isp_entry`` (subject ``isp:<id>``): name, ASNs (sorted), abuse e-mail, legal address, country;
- ``work_entry`` (subject ``work:<id>``): client, title, registration, and the SHA-256 of the reference
  copy on disk (:func:`reference_sha256`; None without one);
- ``letter_approved``, ``letter_sent``, ``payment``, ``dispute``, ``escalated`` (subject the DOE number):
  see :mod:`swarmscope.cases.sealed_history`, which builds and checks them.

Sealed so that a work's torrent links and a letter's terms need the node key too:

- ``work_link`` (subject ``link:<work id>:<infohash hex>``): work id, infohash, the piece check's verdict
  (``linked`` / ``confirmed`` / ``fake``), pieces compared and matched (:func:`link_content`); sealed
  when ``works link`` records a link and each time it records a check; the newest one is the link's
  verdict (:mod:`swarmscope.cases.work_links`);
- ``letter_drafted`` (subject the DOE number): :mod:`swarmscope.cases.sealed_history`;
- ``case_built`` (subject the DOE number): the identity a case was built for (:func:`built_content`),
  sealed with the row that creates it (:mod:`swarmscope.cases.case_binding` checks rows against it).

Console accounts are sealed the same way (steps ``account_user``, ``account_token``, ``account_session``,
subject ``account:<kind>:<row id>``): :mod:`swarmscope.store.access.account_events`.

Source: README "Sealed workflow decisions".
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import decode_record
from swarmscope.evidence.declarations import WORKFLOW_EVENT
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import NOT_EVIDENCE, key_fingerprint
from swarmscope.store.database import StoreError
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.proven import EvidenceTrust, LedgerProver
from swarmscope.store.ledger.purge_records import typed
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key
from swarmscope.store.ledger.snapshot import read_snapshot
from swarmscope.store.legal.schema import client, isp, work

if TYPE_CHECKING:
    from swarmscope.store.database import Store

ISP_ENTRY, WORK_ENTRY = "isp_entry", "work_entry"
WORK_LINK = "work_link"  # a work's link to a torrent and its piece check's verdict
CASE_BUILT = "case_built"  # the identity a case was built for (subject its DOE number)
# counsel's withdraw / close and an escalation of a case (:mod:`swarmscope.cases.sealed_history`)
CASE_DECISION, ESCALATED = "case_decision", "escalated"
_PREFIX = b"swarmscope workflow v1\n"
LEDGER_INCOMPLETE = "ledger incomplete"
CHUNK = 10_000  # ledger entries read per fetch


def content_sha256(step: str, content: Mapping[str, Any]) -> bytes:
    """The SHA-256 a :class:`WorkflowEvent` of ``step`` seals for ``content`` (module docstring)."""
    text = json.dumps({"step": step, **content}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(_PREFIX + text.encode("utf-8")).digest()


def isp_content(
    name: str, asns: Sequence[int], abuse_email: str | None, legal_address: str | None, country: str | None
) -> dict[str, Any]:
    """What an ``isp_entry`` event binds: where notices go and where disclosure requests are served."""
    return {"name": name, "asns": sorted({int(a) for a in asns}), "abuse_email": abuse_email,
            "legal_address": legal_address, "country": country}  # fmt: skip


def work_content(client: str, title: str, registration: str | None, reference: str | None) -> dict[str, Any]:
    """What a ``work_entry`` event binds; ``reference``: :func:`reference_sha256` of its reference copy."""
    return {"client": client, "title": title, "registration": registration, "reference_sha256": reference}


def built_content(doe: str, infohash: str, ip: str, port: int, first_hit_us: int) -> dict[str, Any]:
    """What a ``case_built`` event binds: what never changes in a case row after ``cases build`` made it
    (a re-run refreshes only its hits and last hit, and fills a missing work, ISP or place): the DOE
    number, infohash (lower-case hex), IP, port (the identity every decision of the case is bound to,
    :func:`swarmscope.cases.sealed_history.bound`, same shape) and first hit (UTC µs)."""
    case = {"doe": doe, "infohash": infohash.lower(), "ip": ip, "port": port}
    return {"case": case, "first_hit_us": first_hit_us}


def link_subject(work_id: int, infohash: str) -> str:
    """The subject of a ``work_link`` event: ``link:<work id>:<infohash, lower-case hex>``."""
    return f"link:{work_id}:{infohash.lower()}"


def link_content(work_id: int, infohash: str, status: str, checked: int, matched: int) -> dict[str, Any]:
    """What a ``work_link`` event binds: the link and its piece check (pieces compared, matched)."""
    return {"work_id": work_id, "infohash": infohash.lower(), "status": status, "checked_pieces": checked,
            "matched_pieces": matched}  # fmt: skip


def reference_sha256(path: str | None) -> str | None:
    """Hex SHA-256 of a work's reference copy: a file's bytes; a folder's files in sorted relative-path
    order, each as its UTF-8 path, NUL, its size in decimal, NUL, its bytes. None: no path; ``"missing"``:
    nothing readable there (never equal to a sealed digest)."""
    if path is None:
        return None
    digest = hashlib.sha256()
    try:
        if os.path.isdir(path):
            names = sorted(
                os.path.relpath(os.path.join(top, n), path) for top, _d, files in os.walk(path) for n in files
            )
            for name in names:
                full = os.path.join(path, name)
                digest.update(f"{name}\0{os.path.getsize(full)}\0".encode())
                _feed(digest, full)
        else:
            _feed(digest, path)
    except OSError:
        return "missing"
    return digest.hexdigest()


def _feed(digest: Any, path: str) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def signer(store: Store, what: str) -> ledger.Node:
    """The node that seals ``what`` (the store's writer).

    Raises:
        StoreError: the store was opened without the node's private key (nothing is written then).
    """
    node = store.node
    if node is None or node.private_key is None:
        raise StoreError(f"{what} refused: the decision must be sealed with the node's signing key")
    return node


def seal_event(conn: sa.Connection, node: ledger.Node, event: WorkflowEvent) -> int:
    """Seal ``event`` in ``node``'s chain inside the caller's write transaction; returns its chain index."""
    sealed, _batch = ledger.commit(conn, node, 0, [event], ledger.Commit({}, {}, (), event.at_us, None))
    return sealed.batch.last_index


def seal_decision(
    store: Store, subject: str, step: str, content: Mapping[str, Any], now_us: int
) -> WorkflowEvent:
    """Seal one decision in a transaction of its own (:func:`signer` first).

    Raises:
        StoreError: no signing key; the database refused the write.
    """
    node = signer(store, step.replace("_", " "))
    event = WorkflowEvent(subject, step, now_us, content_sha256(step, content))
    with store._write(immediate=True) as conn:
        seal_event(conn, node, event)
    return event


@dataclass(frozen=True, slots=True)
class ProvenEvent:
    """A workflow event proven under a trusted key, with its chain index and seal time (UTC µs)."""

    event: WorkflowEvent
    index: int
    sealed_at_us: int


@dataclass(slots=True)
class WorkflowHistory:
    """The proven workflow events of a store, in chain order (per node), by subject; ``incomplete``: why
    the trusted chains are not whole (None: they are), so that a sealed event may be hidden; ``late``:
    (node, ledger index) of the entries skipped as sealed late by crash recovery (not evidence)."""

    events: dict[str, list[ProvenEvent]] = field(default_factory=dict)
    incomplete: str | None = None
    late: list[tuple[int, int]] = field(default_factory=list)

    def of(self, subject: str, step: str) -> list[ProvenEvent]:
        """The proven events of ``subject`` and ``step``, oldest first."""
        return [p for p in self.events.get(subject, []) if p.event.step == step]

    def latest(self, subject: str, step: str) -> ProvenEvent | None:
        """The newest proven event of ``subject`` and ``step`` (by time, then chain index), or None."""
        found = self.of(subject, step)
        return max(found, key=lambda p: (p.event.at_us, p.index)) if found else None

    def has(self, subject: str, step: str, sha256: bytes) -> bool:
        """A proven event of ``subject`` and ``step`` seals ``sha256``."""
        return any(p.event.sha256 == sha256 for p in self.of(subject, step))

    def refusal(self, subject: str) -> str | None:
        """The one-line refusal of every decision on ``subject`` while the history is incomplete (None:
        it is whole): a blanked or altered entry can be any subject's event (a payment, a withdrawal)."""
        if self.incomplete is None:
            return None
        return (
            f"{subject}: refused: {LEDGER_INCOMPLETE} ({self.incomplete}; a sealed decision may be hidden "
            "there, so none is judged until the chain is whole again: 'verify --db' shows it)"
        )


def workflow_history(store: Store, trust: EvidenceTrust) -> WorkflowHistory:
    """Every workflow event sealed under a key in ``trust`` and proven (module docstring); an event nobody
    trusted sealed proves nothing and is skipped.

    Every entry of a trusted node (its ``node_key`` row's key is trusted, or a trusted batch proves one of
    its entries) is checked as it is read, not only the workflow events, since the ``kind`` column is not
    chained: an event whose bytes were altered, blanked or relabelled would otherwise drop out unseen and
    bring back the decisions before it (a sealed payment gone: a reminder for a paid case). A node whose
    batches fail or leave indices uncovered, an entry whose bytes do not hash to its sealed record hash or
    do not decode, and one without bytes that no proven purge record covers (the export rule:
    :meth:`swarmscope.store.ledger.proven.LedgerProver.node_problem`) set ``incomplete``, naming them.
    An entry of a batch whose SIGNED bytes carry the late mark (:func:`swarmscope.evidence.seal.late_seal`)
    is skipped and listed in ``late``, as the account view does: no trusted seal vouches for it, and it
    cannot hide an honest event, which sits in a batch sealed normally (``verify --db`` names such batches).
    Entries after a node's last batch (being sealed) are not read yet.

    Cost: one pass over the ledger in chunks of :data:`CHUNK` and one signature and chain check per batch,
    as ``verify --db``; so the outcome is kept per engine and read again only when :func:`_ledger_state`
    (the trusted keys, each node's head, the entry and batch counts and byte total) moves. Kept events stay
    true (a sealed event is never undone; new ones move a head), so a change that leaves that state alike
    (bytes overwritten at their length) cannot drop one from a kept view either.
    """
    with read_snapshot(store.engine) as conn:
        state = (frozenset(f.lower() for f in trust.fingerprints), _ledger_state(conn))
        kept = _KEPT.get(store.engine)
        if kept is not None and kept[0] == state:
            return kept[1]
        out = _read_history(conn, trust)
    _KEPT[store.engine] = (state, out)
    return out


_KEPT: weakref.WeakKeyDictionary[Any, tuple[Any, WorkflowHistory]] = weakref.WeakKeyDictionary()


def _ledger_state(conn: sa.Connection) -> tuple[Any, ...]:
    """What moves when the ledger does: (node, last index, its entry hash) per node, the entry count, how
    many have bytes and their total length, the batch count and highest batch id."""
    e, b = ledger_entry.c, ledger_batch.c
    heads = conn.execute(sa.select(e.node_id, sa.func.max(e.idx)).group_by(e.node_id)).all()
    hashes = tuple(
        (int(n), int(i), conn.execute(sa.select(e.entry_hash).where(e.node_id == n, e.idx == i)).scalar())
        for n, i in sorted(heads)
    )
    entries = conn.execute(sa.select(sa.func.count(), sa.func.count(e.canonical), sa.func.sum(
        sa.func.length(e.canonical)))).one()  # fmt: skip
    batches = conn.execute(sa.select(sa.func.count(), sa.func.max(b.id))).one()
    return hashes, tuple(entries), tuple(batches)


def _read_history(conn: sa.Connection, trust: EvidenceTrust) -> WorkflowHistory:
    """:func:`workflow_history` read from the ledger through ``conn`` (one read snapshot)."""
    e = ledger_entry.c
    is_event = typed(e.canonical, (WORKFLOW_EVENT.kind,)).label("is_event")
    query = sa.select(e.node_id, e.idx, e.canonical, is_event).order_by(e.node_id, e.idx)
    out = WorkflowHistory()
    problems: list[str] = []
    prover = LedgerProver(conn, trust.fingerprints, trust.now_us)
    nodes, ends = _trusted_nodes(conn, trust), _sealed_ends(conn)
    for row in conn.execute(query.execution_options(yield_per=CHUNK)):
        node, idx = int(row.node_id), int(row.idx)
        sealed = prover.sealed_entry(node, idx)
        if isinstance(sealed, str) and sealed.startswith(NOT_EVIDENCE):
            out.late.append((node, idx))  # sealed late by crash recovery: not evidence, nothing hidden
            continue
        if isinstance(sealed, str):
            if node in nodes and idx <= ends.get(node, -1):
                problems.append(f"node {node}: ledger index {idx}: {sealed}")
            continue
        nodes.add(node)
        found = _proven_event(row, sealed)
        if isinstance(found, str):
            problems.append(f"node {node}: ledger index {idx}: {found}")
        elif found is not None:
            out.events.setdefault(found.subject, []).append(ProvenEvent(found, idx, sealed[2]))
    problems += [f"node {n}: {p}" for n in sorted(nodes) if (p := prover.node_problem(n)) is not None]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        out.incomplete = "; ".join(problems[:3]) + more
    return out


def _proven_event(row: Any, sealed: tuple[str, bytes, int]) -> WorkflowEvent | str | None:
    """The workflow event a proven entry seals (None: another record, or no bytes: the purge rule judges
    those), or why its bytes are not the sealed record."""
    if row.canonical is None:
        return None
    data = bytes(row.canonical)
    if hashlib.sha256(data).digest() != sealed[1]:
        return "its bytes differ from the sealed record hash"
    if not row.is_event:
        return None
    try:
        event: WorkflowEvent = decode_record(WORKFLOW_EVENT, data)
    except DecodeError as exc:
        return f"its workflow event does not decode ({exc})"
    return event


def _trusted_nodes(conn: sa.Connection, trust: EvidenceTrust) -> set[int]:
    """``node_key.id`` of every registered key in ``trust`` (its fingerprint computed from the key)."""
    rows = conn.execute(sa.select(node_key.c.id, node_key.c.public_key))
    trusted = {f.lower() for f in trust.fingerprints}
    return {int(i) for i, k in rows if k is not None and key_fingerprint(bytes(k)) in trusted}


def _sealed_ends(conn: sa.Connection) -> dict[int, int]:
    """node_key.id → the last chain index any stored batch of it claims to seal."""
    b = ledger_batch.c
    rows = conn.execute(sa.select(b.node_id, sa.func.max(b.last_index)).group_by(b.node_id))
    return {int(n): int(last) for n, last in rows}


def seal_events(conn: sa.Connection, node: ledger.Node, events: Sequence[WorkflowEvent]) -> None:
    """Seal ``events`` (any number, none: nothing) in ONE batch of ``node``'s chain inside the caller's
    write transaction (one signature for thousands of ``case_built`` events)."""
    if events:
        ledger.commit(conn, node, 0, list(events), ledger.Commit({}, {}, (), events[-1].at_us, None))


def seal_batch(store: Store, what: str, events: Sequence[WorkflowEvent]) -> None:
    """Seal ``events`` in one batch in a transaction of their own (:func:`signer` first, naming ``what``).

    Raises:
        StoreError: no signing key (nothing written); the database refused the write.
    """
    node = signer(store, what)
    with store._write(immediate=True) as conn:
        seal_events(conn, node, events)


def seal_if_writer(
    conn: sa.Connection, store: Store, subject: str, step: str, content: Mapping[str, Any], now_us: int
) -> bool:
    """Seal a directory entry inside the caller's write transaction when ``store`` holds the node's private
    key (returns True); a reader store leaves it unsealed (False), and documents refuse what it names."""
    node = store.node
    if node is None or node.private_key is None:
        return False
    seal_event(conn, node, WorkflowEvent(subject, step, now_us, content_sha256(step, content)))
    return True


def seal_current_entry(store: Store, kind: str, entry_id: int, now_us: int) -> WorkflowEvent:
    """Seal the directory entry ``isp``/``work`` ``entry_id`` AS STORED NOW (``isps seal``, ``works seal``:
    an operator confirms an entry added before entries were sealed, after checking it; a later seal of
    the same subject supersedes older ones). A work's reference copy, readable here, also becomes its
    stored identity (``work.reference_sha256``, what fleet nodes check their own copies against).

    Raises:
        StoreError: no signing key; no such entry.
    """
    node = signer(store, f"sealing {kind} {entry_id}")
    with store._write(immediate=True) as conn:
        if kind == "isp":
            row = conn.execute(sa.select(isp).where(isp.c.id == entry_id)).first()
            if row is None:
                raise StoreError(f"no ISP with id {entry_id}")
            step, content = (
                ISP_ENTRY,
                isp_content(
                    row.name, [int(a) for a in row.asns], row.abuse_email, row.legal_address, row.country
                ),
            )
        else:
            query = sa.select(work, client.c.name.label("client")).join(
                client, client.c.id == work.c.client_id
            )
            row = conn.execute(query.where(work.c.id == entry_id)).first()
            if row is None:
                raise StoreError(f"no work with id {entry_id}")
            reference = reference_sha256(row.reference_path)
            if reference not in (None, "missing"):  # the identity a fleet node checks its copy against
                conn.execute(sa.update(work).where(work.c.id == entry_id).values(reference_sha256=reference))
            step, content = WORK_ENTRY, work_content(row.client, row.title, row.registration, reference)
        event = WorkflowEvent(f"{kind}:{entry_id}", step, now_us, content_sha256(step, content))
        seal_event(conn, node, event)
    return event
