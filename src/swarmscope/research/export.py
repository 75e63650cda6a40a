"""One research export: collect the proven evidence, pseudonymise, aggregate, suppress, write.

Every front end (``swarmscope research export``, the web console's research page) calls
:func:`export_study` with the same options, so both apply the same k and the same proof rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swarmscope import __version__
from swarmscope.errors import InputError
from swarmscope.research.aggregate import aggregate
from swarmscope.research.cells import Table
from swarmscope.research.collect import collect
from swarmscope.research.pseudonym import Pseudonymiser
from swarmscope.research.readme import StudyFacts
from swarmscope.research.study_key import ephemeral_key
from swarmscope.research.writer import write_study
from swarmscope.store.ledger.proven import EvidenceTrust

if TYPE_CHECKING:
    from swarmscope.store.database import Store

DEFAULT_K = 5
MAX_K = 1_000_000


@dataclass(frozen=True, slots=True)
class StudyOptions:
    """k (a cell needs at least k distinct units; 2..:data:`MAX_K`), truncation to /24 and /48, the study
    key (None: an ephemeral one), and the swarms (infohash hex; None: every swarm of the store)."""

    k: int = DEFAULT_K
    truncate: bool = False
    key: bytes | None = None
    swarms: frozenset[str] | None = None

    def check(self) -> None:
        """Raises InputError for a k that is not a whole number from 2 to :data:`MAX_K`."""
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 2 <= self.k <= MAX_K:
            raise InputError(f"--k {self.k!r}: must be a whole number, at least 2, at most {MAX_K}")


@dataclass(frozen=True, slots=True)
class StudyResult:
    """What an export wrote: the directory, its files, the tables and the README's facts."""

    out: Path
    files: tuple[Path, ...]
    tables: tuple[Table, ...]
    facts: StudyFacts


def export_study(
    store: Store, trust: EvidenceTrust, options: StudyOptions, out: Path, now_us: int
) -> StudyResult:
    """Write the research export of ``store`` into the new directory ``out`` (``now_us``: UTC µs, the
    README's creation time).

    Raises:
        InputError: a bad option, ``out`` not new, no trusted node key to prove anything with.
    """
    options.check()
    if not trust.fingerprints:
        raise InputError("no trusted node key: nothing could be proven (pass --node-key or --trust-key)")
    pseudonyms = Pseudonymiser(options.key or ephemeral_key(), options.truncate)
    found = collect(store, trust, pseudonyms, options.swarms)
    tables = aggregate(found.events, found.places, options.k)
    times = [e.at_us for e in found.events]
    facts = StudyFacts(
        study_id=pseudonyms.study_id(), ephemeral_key=options.key is None, k=options.k,
        truncate=options.truncate, version=__version__, created_us=now_us, trusted=sorted(trust.fingerprints),
        swarms=len(found.names), sightings=found.sightings, observations=found.observations,
        left_out=dict(found.left_out), first_us=min(times, default=None), last_us=max(times, default=None),
        datasets=found.datasets, attributed=len(found.places),
    )  # fmt: skip
    files = write_study(out, tables, found.names, facts)
    return StudyResult(out, tuple(files), tuple(tables), facts)
