"""Fenced evidence commits: a fleet node's batch names the lease tokens of its swarms, in its transaction.

:class:`FencedStore` is the evidence store a fleet node hands the monitor (it has every method of
``store.ports.MonitorStore``). Its :meth:`FencedStore.commit_evidence` seals the batch like
``Store.commit_evidence`` and, in the same transaction, inserts one ``lease_fence`` row per swarm its
observations and sightings belong to, with the token of this node's lease on that swarm. The database
(trigger ``lease_fence_current``, migration 0011) refuses a token that is not the current one of a live
lease of the sealing node, and the whole batch rolls back: a node presumed dead (its lease expired or
taken over) that comes back cannot add evidence for a swarm another node now holds.

Records that belong to no swarm (RunStarted, ClockSample, Attribution) need no lease.

A node whose commits run in its evidence writer process (``swarmscope node --probe-processes N``) sends
the :class:`Fence` (its current lease tokens and incarnation, read when the request is made) with each
commit request, and the writer process seals it with :func:`commit_fenced`: the same check, the same
transaction, whichever process made the records.

Source: fencing tokens, M. Kleppmann, "How to do distributed locking" (2016); PostgreSQL row locks
(``FOR SHARE`` in the trigger, ``FOR UPDATE`` in a takeover) order a takeover and a batch in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.records import Observation, Sighting
from swarmscope.evidence.seal import SealedBatch
from swarmscope.store.database import Store, StoreError
from swarmscope.store.fleet.leases import NOW_US, check_incarnation
from swarmscope.store.fleet.schema import lease_fence
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import SEALED_HEAD, WitnessError, after_commit, keep

FENCING_SQLSTATE = "SF001"  # raised by trigger lease_fence_current (migration 0011)


class FencingRefused(StoreError):
    """The batch was refused (nothing written) because this node no longer holds ``swarms``' leases.

    ``swarms`` is empty when every refused token belongs to a swarm this node has since leased again (a
    newer token): nothing is lost, and the records commit under the current tokens at the next round.
    ``tokens``: the token the batch was fenced by for each of ``swarms`` (missing: it named none).
    """

    def __init__(self, swarms: frozenset[str], reason: str, tokens: Mapping[str, int] | None = None) -> None:
        super().__init__(f"fencing refused the batch for {len(swarms)} swarm(s): {reason}")
        self.swarms, self.reason = swarms, reason
        self.tokens = {swarm: token for swarm, token in (tokens or {}).items() if swarm in swarms}

    def refused(self) -> dict[str, int | None]:
        """Each swarm lost with the token the refused batch named for it (None: none); a node drops its
        lease of the swarm only while it holds that token (a newer one was taken after the refusal)."""
        return {swarm: self.tokens.get(swarm) for swarm in self.swarms}

    def judged_against(self, held: Mapping[str, int]) -> FencingRefused:
        """This refusal without the swarms the node holds another token of now (``held``: its tokens read
        after the refusal): leased again after the refusal was judged, their queued records are the new
        lease's and commit under it at the next round, as for a stale token (README "A fleet", Fencing)."""
        newer = {s for s in self.swarms if held.get(s) is not None and held.get(s) != self.tokens.get(s)}
        if not newer:
            return self
        stale = newer == self.swarms  # nothing lost: worded as the database's stale-token refusal
        reason = f"{self.reason} (a stale token of a swarm held again)" if stale else self.reason
        return FencingRefused(self.swarms - newer, reason, self.tokens)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a fleet node's batch is fenced by: ``tokens`` (infohash hex -> lease token, every lease the
    node holds when the batch is sent) and ``identity`` ((node name, incarnation), or None before the
    node registered: then not checked)."""

    tokens: Mapping[str, int] = field(default_factory=dict)
    identity: tuple[str, int] | None = None


def record_swarms(records: Sequence[EvidenceRecord]) -> set[str]:
    """The swarms (infohash hex) the observations and sightings of ``records`` belong to."""
    return {r.infohash for r in records if isinstance(r, Observation | Sighting)}


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _reason(exc: Exception) -> str:
    """The database's primary message on one line (without PostgreSQL's CONTEXT lines)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    primary = getattr(diag, "message_primary", None)
    text = primary or str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc)
    return " ".join(text.split())


def stale_swarms(engine: Engine, fences: Mapping[str, int], node: str | None = None) -> frozenset[str]:
    """The swarms of ``fences`` (infohash -> token) lost to this node: their token is not a live lease now
    (database time), and ``node`` (its name; None: not asked) holds no newer live lease on them.

    A swarm that ``node`` took again after the batch was fenced (a newer token: tokens only grow) is not
    lost: the refused batch was stale, and its records commit under the current token at the next round.
    """
    if not fences:
        return frozenset()
    with engine.connect() as conn:
        live_now = f"expires_us > {NOW_US}"
        query = f"SELECT infohash FROM fleet_lease WHERE token = ANY(:tokens) AND {live_now}"
        live = set(conn.execute(sa.text(query), {"tokens": sorted(fences.values())}).scalars())
        if node is not None:
            newer = conn.execute(
                sa.text(
                    "SELECT infohash, token FROM fleet_lease"
                    f" WHERE node_name = :node AND infohash = ANY(:swarms) AND {live_now}"
                ),
                {"node": node, "swarms": sorted(fences)},
            )
            live |= {swarm for swarm, token in newer if token > fences[swarm]}
        return frozenset(fences) - live


def commit_fenced(
    store: Store, run_id: int, records: Sequence[EvidenceRecord], extra: ledger.Commit, fence: Fence
) -> SealedBatch | None:
    """``Store.commit_evidence`` of ``records`` with ``extra`` (captures, blobs, pieces, seal time and
    clock), plus one ``lease_fence`` row per swarm of the records with its token in ``fence``, in one
    transaction (module docstring).

    Raises:
        FencingRefused: a swarm of ``records`` has no token in ``fence``, or the database refused its
            token (nothing is written; ``swarms`` names the swarms lost).
        NodeReplaced: another process started under the fence's node name (nothing is written).
        StoreError: as ``Store.commit_evidence``.
    """
    node = store.node
    if node is None or node.private_key is None:
        raise StoreError("evidence writes need the node's signing key (open_store(..., node_key=...))")
    needed = record_swarms(records)
    if missing := needed - fence.tokens.keys():
        raise FencingRefused(frozenset(missing), "this node holds no lease on them")
    fences = {swarm: fence.tokens[swarm] for swarm in sorted(needed)}
    try:
        return _commit(store, node, run_id, records, extra, fences, fence.identity)
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) != FENCING_SQLSTATE:
            raise StoreError(f"write refused: {_reason(exc)}") from exc
        node_name = fence.identity[0] if fence.identity is not None else None
        lost = stale_swarms(store.engine, fences, node_name)
        if not lost and node_name is not None and stale_swarms(store.engine, fences):
            stale = f"{_reason(exc)} (a stale token of a swarm held again)"
            raise FencingRefused(frozenset(), stale) from exc
        raise FencingRefused(lost or frozenset(fences), _reason(exc), fences) from exc
    except (sa.exc.SQLAlchemyError, ledger.LedgerStateError, WitnessError) as exc:
        raise StoreError(f"write refused: {_reason(exc)}") from exc


def _commit(
    store: Store,
    node: ledger.Node,
    run_id: int,
    records: Sequence[EvidenceRecord],
    extra: ledger.Commit,
    fences: dict[str, int],
    identity: tuple[str, int] | None,
) -> SealedBatch | None:
    with store.engine.connect() as conn:
        conn.info.pop(SEALED_HEAD, None)  # a pooled connection's rolled-back seal
        keep(conn, store.witness)  # its batches say whether a witness is kept
        with conn.begin():
            if identity is not None:
                check_incarnation(conn, *identity)
            if not records:
                ledger.store_content(conn, extra)
                return None
            sealed, batch_id = ledger.commit(conn, node, run_id, records, extra)
            if fences:
                rows = [{"batch_id": batch_id, "infohash": s, "token": t} for s, t in fences.items()]
                conn.execute(sa.insert(lease_fence), rows)
        after_commit(conn, store.witness, node)  # the chain-head witness beside the key file
        return sealed


class FencedStore:
    """A node's store whose evidence commits are fenced by its lease tokens.

    Args:
        store: the node's Store, opened with its key on PostgreSQL.
        tokens: called at each commit; the current lease tokens of this node (infohash -> token).
        identity: called at each commit; (node name, this process's incarnation) once registered, else
            None. Every batch, with or without swarms, is refused once another process started under the
            name (``NodeReplaced``), in the batch's own transaction.
    """

    def __init__(
        self,
        store: Store,
        tokens: Callable[[], Mapping[str, int]],
        identity: Callable[[], tuple[str, int] | None] = lambda: None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.identity = identity

    @property
    def engine(self) -> Engine:
        """The underlying store's engine."""
        return self.store.engine

    def commit_evidence(
        self,
        run_id: int,
        *,
        records: Sequence[EvidenceRecord],
        captures: Mapping[bytes, bytes] | None = None,
        blobs: Mapping[bytes, bytes] | None = None,
        reference_pieces: Sequence[tuple[str, int, bytes]] = (),
        sealed_at_us: int,
        clock: dict[str, Any] | None = None,
    ) -> SealedBatch | None:
        """``Store.commit_evidence`` plus the batch's fences, in one transaction.

        Raises:
            FencingRefused: a swarm of ``records`` has no lease here, or the database refused its token
                (nothing is written; ``swarms`` names the swarms lost).
            NodeReplaced: another process started under this node's name (nothing is written).
            StoreError: as ``Store.commit_evidence``.
        """
        extra = ledger.Commit(captures or {}, blobs or {}, reference_pieces, sealed_at_us, clock)
        fence = Fence(dict(self.tokens()), self.identity())
        try:
            return commit_fenced(self.store, run_id, records, extra, fence)
        except FencingRefused as exc:  # judged against the tokens now: leased again meanwhile?
            if (judged := exc.judged_against(self.tokens())) is exc:
                raise
            raise judged from exc

    def committed_batch(self, records: Sequence[EvidenceRecord], sealed_at_us: int) -> SealedBatch | None:
        """See ``Store.committed_batch``."""
        return self.store.committed_batch(records, sealed_at_us)

    def add_timestamp_token(self, batch: SealedBatch, tsa_url: str, token: bytes, added_us: int) -> int:
        """See ``Store.add_timestamp_token``."""
        return self.store.add_timestamp_token(batch, tsa_url, token, added_us)

    def start_run(self, settings: dict[str, Any], version: str, started_us: int | None = None) -> int:
        """See ``Store.start_run``."""
        return self.store.start_run(settings, version, started_us)

    def end_run(self, run_id: int, ended_us: int) -> None:
        """See ``Store.end_run``."""
        self.store.end_run(run_id, ended_us)

    def add_swarm(
        self,
        infohash: str,
        v1: str | None,
        v2: str | None,
        name: str,
        num_pieces: int,
        piece_length: int,
        total_size: int,
        metainfo: bytes | None,
        magnet: str | None,
        added_us: int,
    ) -> int:
        """See ``Store.add_swarm``."""
        fields = (infohash, v1, v2, name, num_pieces, piece_length, total_size, metainfo, magnet, added_us)
        return self.store.add_swarm(*fields)
