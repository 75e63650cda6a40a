"""What the monitor needs of the evidence store, as typed interfaces (``typing.Protocol``).

A consumer names the narrowest port it uses, so a reader sees at once what it may do to the store and a
test may hand in anything with those methods (a wrapper that fails commits, a recorder). The
:class:`~swarmscope.store.database.Store` satisfies every port structurally; nothing here subclasses it.

- :class:`EvidenceLedger`: seal evidence batches, find an in-doubt commit, keep RFC 3161 tokens
  (the monitor's ledger writer).
- :class:`DatabaseHandle`: an engine to read tables through (the dataset registry).
- :class:`RunLedger`: the ledger plus the run's start and the dataset registry (the evidence sink).
- :class:`MonitorStore`: the run ledger plus swarms and the run's end (the monitor).

Source: README "Sealed ledger" (one writer commits sealed batches) and "Crash safety" (in-doubt commits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.seal import SealedBatch


class EvidenceLedger(Protocol):
    """Sealed evidence writes: see ``Store.commit_evidence``, ``committed_batch``, ``add_timestamp_token``."""

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
        """Append, chain and seal ``records`` with their content in one transaction (UTC µs seal time)."""
        ...

    def committed_batch(self, records: Sequence[EvidenceRecord], sealed_at_us: int) -> SealedBatch | None:
        """The batch a failed commit of ``records`` stored after all, or None (an in-doubt commit)."""
        ...

    def add_timestamp_token(self, batch: SealedBatch, tsa_url: str, token: bytes, added_us: int) -> int:
        """Keep an RFC 3161 TimeStampToken (DER) for a sealed batch; returns its row id."""
        ...


class DatabaseHandle(Protocol):
    """An open database whose tables a reader may query (read-only use by the callers of this port)."""

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the store."""
        ...


class RunLedger(EvidenceLedger, DatabaseHandle, Protocol):
    """The evidence ledger of one run: it starts the run and reads the registered IP datasets."""

    def start_run(self, settings: dict[str, Any], version: str, started_us: int | None = None) -> int:
        """Record the start of a monitor run (settings JSON-serialisable, UTC µs); returns the run id."""
        ...


class MonitorStore(RunLedger, Protocol):
    """Everything the monitor writes: swarms, the run's start and end, sealed evidence."""

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
        """Record a swarm (idempotent per infohash, hex infohashes, sizes in bytes); returns its row id."""
        ...

    def end_run(self, run_id: int, ended_us: int) -> None:
        """Record when run ``run_id`` ended (UTC µs)."""
        ...
