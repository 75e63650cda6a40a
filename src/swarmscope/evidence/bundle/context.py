"""What every check of a bundle shares: the verification :class:`Context`, and the :class:`Problem` and
:class:`CheckResult` values the checks report.

:func:`swarmscope.evidence.bundle.verify.verify_bundle` makes one Context per run and hands it to the
checks of :mod:`~swarmscope.evidence.bundle.verify` (manifest, signatures, ledger, chain, seals) and of
:mod:`~swarmscope.evidence.bundle.proofs` (captures, proofs, views, methodology, clock, attribution).
A problem names the FILE and, when it concerns a record, the RECORD (chain index, kind, ip:port,
infohash).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swarmscope.evidence.bundle.exhibits import Indexed
from swarmscope.evidence.chain import ChainEntry
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.records import Attribution, ClockSample, Observation, Sighting
from swarmscope.evidence.seal import SealedBatch

_SAFE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._/-]{1,255}$")


@dataclass(frozen=True, slots=True)
class RecordRef:
    """The record a problem concerns: chain index, kind, and for peers ip:port and infohash."""

    index: int
    kind: str = "record"
    ip: str | None = None
    port: int | None = None
    infohash: str | None = None

    @classmethod
    def of(cls, item: Indexed) -> RecordRef:
        """The reference of a decoded record."""
        r = item.record
        if isinstance(r, Observation | Sighting):
            return cls(item.index, type(r).__name__.lower(), r.ip, r.port, r.infohash)
        if isinstance(r, ClockSample):
            return cls(item.index, "clock_sample", r.server)
        if isinstance(r, Attribution):
            return cls(item.index, "attribution", r.ip)
        return cls(item.index, "run_started")

    def label(self) -> str:
        """E.g. ``chain index 7 (observation 192.0.2.7:6881, infohash ab12...)``."""
        where = "" if self.ip is None else f" {self.ip}" + ("" if self.port is None else f":{self.port}")
        swarm = "" if self.infohash is None else f", infohash {self.infohash}"
        return f"chain index {self.index} ({self.kind}{where}{swarm})"


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect: which check found it, in which file, about which record (None for whole files)."""

    check: str
    file: str
    message: str
    record: RecordRef | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: name, whether it held, and what it covered."""

    name: str
    ok: bool
    detail: str


@dataclass
class Context:
    """State shared by the checks of one verification run (mutable; one per :func:`verify_bundle`)."""

    files: Mapping[str, bytes]
    expect_keys: tuple[str, ...]  # fingerprints (lower-case hex) the operator trusts; empty: none given
    tsa_roots: tuple[bytes, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)
    records: dict[int, Indexed] = field(default_factory=dict)
    canonical: dict[int, bytes] = field(default_factory=dict)
    ledger: list[tuple[int, bytes]] = field(default_factory=list)  # (index, canonical) in file order
    entries: dict[int, ChainEntry] = field(default_factory=dict)
    chain: list[ChainEntry] = field(default_factory=list)  # the entries of chain.bin in file order
    batches: list[SealedBatch] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    pieces: dict[str, MetainfoPieces | None] = field(default_factory=dict)  # infohash hex -> its metainfo

    def get(self, path: str) -> bytes | None:
        """The bytes of a bundle file, or None when absent or unsafe."""
        if not _SAFE_PATH.match(path):
            return None
        try:
            return self.files[path]
        except KeyError:
            return None

    def problem(self, check: str, file: str, message: str, index: int | None = None) -> None:
        """Record a defect; ``index`` names the chain index it concerns (decoded record when known)."""
        record = None
        if index is not None:
            item = self.records.get(index)
            kind = "undecodable record" if index in self.canonical else "undisclosed record"
            record = RecordRef.of(item) if item is not None else RecordRef(index, kind)
        self.problems.append(Problem(check, file, message, record))

    def filters(self) -> dict[str, Any]:
        """The export filters named by the manifest (empty when it is unreadable)."""
        filters = self.manifest.get("filters", {})
        return filters if isinstance(filters, dict) else {}


def count_problems(ctx: Context, check: str) -> int:
    """How many problems ``check`` found so far."""
    return sum(1 for p in ctx.problems if p.check == check)
