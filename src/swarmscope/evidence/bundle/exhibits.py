"""Human-readable views of a bundle's canonical records: observations (JSONL, CSV), sightings, clock,
attributions.

Every view is a pure function of the selected canonical records (``records/ledger.bin``) and the export
filters, so ``swarmscope verify`` re-derives each file and compares it byte for byte. One JSON object per
line (keys sorted, ASCII only); every object carries ``chain_index`` (the record's position in the hash
chain) and ``record_sha256`` (SHA-256 of its canonical bytes, the chain's record hash). Byte strings are
lower-case hex; times are UTC microseconds plus an ISO 8601 rendering.

Observations also carry the clock verdict: ``clock_flagged`` is true when the observation started inside
a flag window of the honest-clock policy (:mod:`swarmscope.evidence.clock_policy`) recomputed from the
bundle's clock samples with the bundle's one threshold: the strictest threshold sealed in the settings of
the runs whose observations it holds (:mod:`swarmscope.evidence.bundle.settings`), or a stricter one the
export asked for; ``swarmscope verify`` refuses a bundle whose threshold is looser than sealed.

Attributions (``records/attributions.jsonl``) carry every field of the sealed record (AS, ISP, country,
advisory region/city, accuracy radius, flags, dataset SHA-256 fingerprints), its time in ISO 8601 and
``geolocation_advisory: true``: region, city and radius describe the network block, not a subscriber.

Source: README "Export and verify" (evidence records in JSONL and CSV; clock records; attribution dataset
fingerprints) and "Honest clock" (flag windows); README "The legal workflow" (attribution, geolocation
advisory).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from swarmscope.evidence.bundle.settings import COMMERCIAL_ANCHOR, RunIndex
from swarmscope.evidence.canonical import EvidenceRecord, record_from_canonical
from swarmscope.evidence.clock_policy import ClockPolicy, FlagWindow, flag_windows, flagged
from swarmscope.evidence.declarations import OBSERVATION, SPECS
from swarmscope.evidence.record_spec import VERSION_ATTRIBUTE, FieldSpec, RecordSpec
from swarmscope.evidence.records import (
    Attribution,
    BlockProof,
    ClockSample,
    Observation,
    RunStarted,
    Sighting,
    Tier,
    us_to_iso,
)

OBSERVATIONS_JSONL = "records/observations.jsonl"
OBSERVATIONS_CSV = "records/observations.csv"
SIGHTINGS_JSONL = "records/sightings.jsonl"
CLOCK_JSONL = "records/clock.jsonl"
ATTRIBUTIONS_JSONL = "records/attributions.jsonl"
DEFAULT_CLOCK_THRESHOLD_US = 100_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs: a leading ``= + - @``, tab or CR gets a ``'`` (OWASP)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True, slots=True)
class Indexed:
    """One selected record with its chain index and the SHA-256 of its canonical bytes."""

    index: int
    record: EvidenceRecord
    sha256: bytes


@dataclass(frozen=True, slots=True)
class ExhibitInput:
    """The decoded selected records of a bundle, by kind, with the clock windows recomputed."""

    observations: tuple[Indexed, ...]
    sightings: tuple[Indexed, ...]
    clock_samples: tuple[Indexed, ...]
    runs: tuple[Indexed, ...]
    filters: Mapping[str, Any]
    policy: ClockPolicy
    windows: tuple[FlagWindow, ...]
    attributions: tuple[Indexed, ...] = ()
    datasets: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_ledger(
        cls,
        ledger: Sequence[tuple[int, bytes]],
        filters: Mapping[str, Any],
        datasets: Sequence[Mapping[str, Any]] = (),
    ) -> ExhibitInput:
        """Decode ``(chain index, canonical bytes)`` pairs and recompute the clock flag windows.

        Args:
            ledger: the selected records. filters: the export filters. datasets: the dataset
                fingerprints of ``attribution/datasets.json`` (JSON objects; the methodology names them).

        Raises:
            DecodeError: a record's canonical bytes do not decode.
        """
        decoded = [
            Indexed(i, record_from_canonical(data), hashlib.sha256(data).digest()) for i, data in ledger
        ]
        return cls.from_indexed(decoded, filters, datasets)

    @classmethod
    def from_indexed(
        cls,
        decoded: Sequence[Indexed],
        filters: Mapping[str, Any],
        datasets: Sequence[Mapping[str, Any]] = (),
    ) -> ExhibitInput:
        """As :meth:`from_ledger`, from records already decoded (ascending chain index)."""
        kinds: dict[type[Any], list[Indexed]] = {
            Observation: [],
            Sighting: [],
            ClockSample: [],
            RunStarted: [],
            Attribution: [],
        }
        for item in decoded:
            kinds.setdefault(type(item.record), []).append(item)  # a purge record has no view
        policy = clock_policy_of(filters)
        samples = [item.record for item in kinds[ClockSample] if isinstance(item.record, ClockSample)]
        samples.sort(key=lambda s: s.measured_at_us)
        return cls(
            tuple(kinds[Observation]),
            tuple(kinds[Sighting]),
            tuple(kinds[ClockSample]),
            tuple(kinds[RunStarted]),
            dict(filters),
            policy,
            tuple(flag_windows(samples, policy)),
            tuple(kinds[Attribution]),
            tuple(dict(d) for d in datasets),
        )

    def run_index(self) -> RunIndex:
        """Which sealed run each chain index belongs to (:mod:`swarmscope.evidence.bundle.settings`)."""
        return RunIndex(
            (item.index, item.record) for item in self.runs if isinstance(item.record, RunStarted)
        )

    def sealed_clock_policy(self) -> ClockPolicy:
        """The strictest clock policy sealed by the runs of the included observations."""
        return self.run_index().sealed_clock_policy([item.index for item in self.observations])

    def flag_of(self, observation: Observation) -> FlagWindow | None:
        """The flag window the observation started in, or None."""
        return flagged(observation.started_us, self.windows)


def clock_policy_of(filters: Mapping[str, Any]) -> ClockPolicy:
    """The clock policy the export used: ``clock_threshold_us`` (default 100 ms), ``clock_max_age_us``,
    ``clock_policy`` (its name: ``default`` or ``commercial-anchor``).

    Unusable values (not a positive integer) fall back to the defaults; the filters are signed in the
    manifest, so a verifier recomputes with exactly what the export used.
    """

    def positive(key: str) -> int | None:
        value = filters.get(key)
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
        return value if ok and isinstance(value, int) else None

    threshold = positive("clock_threshold_us") or DEFAULT_CLOCK_THRESHOLD_US
    name = filters.get("clock_policy")
    name = name if name in ("default", COMMERCIAL_ANCHOR) else "default"
    return ClockPolicy(threshold_us=threshold, max_age_us=positive("clock_max_age_us"), name=str(name))


def iso(us: int | None) -> str | None:
    """:func:`us_to_iso` (UTC µs to ISO 8601), ``"out of range"`` for a time no calendar date can show
    (hostile records), None for a nullable time field left empty (JSON null, an empty CSV cell)."""
    if us is None:
        return None
    try:
        return us_to_iso(us)
    except (ValueError, OverflowError, OSError):
        return "out of range"


def jsonable(value: Any, version: int | None = None) -> Any:
    """A record value as JSON: bytes → hex, tiers → label, nested records → dicts, tuples → lists. A
    nested record of a record sealed under format ``version`` shows only the fields that version has."""
    if isinstance(value, Tier):
        return value.label
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [jsonable(item, version) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item, version) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        spec = SPECS.get(type(value))
        names = [f.name for f in (fields(value) if spec is None else _view_specs(spec, version))]
        return {name: jsonable(getattr(value, name), version) for name in names}
    return value


def _view_specs(spec: RecordSpec, version: int | None) -> tuple[FieldSpec, ...]:
    """The fields a record of ``spec`` sealed under ``version`` (None: the newest) has."""
    return spec.fields if version is None else spec.fields_at(version)


def window_json(window: FlagWindow) -> dict[str, Any]:
    """A clock flag window as a JSON object."""
    return {str(k): jsonable(v) for k, v in asdict(window).items()}


def _line(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def record_view(record: Any, spec: RecordSpec | None = None) -> dict[str, Any]:
    """The JSON view of a record: every field of its declaration (``spec``, default the declared one of
    its type) through :func:`jsonable`, each time field also in ISO 8601 under its view name
    (``started_us`` → ``started``). The record's ``version`` attribute is not a field: the view of a
    record sealed under an older format version shows the fields of that version only, exactly the view
    the code of that version wrote, so ``swarmscope verify`` of a bundle exported before an upgrade that
    added a field re-derives its views byte for byte."""
    version = getattr(record, VERSION_ATTRIBUTE, None)
    declaration = spec or SPECS[type(record)]
    declared_fields = _view_specs(declaration, version)
    out: dict[str, Any] = {f.name: jsonable(getattr(record, f.name), version) for f in declared_fields}
    for declared in declared_fields:
        if declared.time:
            out[declared.view_time_name] = iso(getattr(record, declared.name))
    return out


def _base(item: Indexed) -> dict[str, Any]:
    """:func:`record_view` of the record with its chain index and the SHA-256 of its canonical bytes."""
    out = record_view(item.record)
    out["chain_index"] = item.index
    out["record_sha256"] = item.sha256.hex()
    return out


def observation_line(item: Indexed, exhibit: ExhibitInput) -> bytes:
    """One line of ``records/observations.jsonl``, with the clock flag window it started in, if any."""
    assert isinstance(item.record, Observation)
    out = _base(item)
    window = exhibit.flag_of(item.record)
    out["clock_flagged"] = window is not None
    out["clock_flag_window"] = None if window is None else window_json(window)
    return _line(out)


def record_line(item: Indexed, _exhibit: ExhibitInput) -> bytes:
    """One line of ``records/sightings.jsonl`` or ``records/clock.jsonl``."""
    return _line(_base(item))


def attribution_line(item: Indexed, _exhibit: ExhibitInput) -> bytes:
    """One line of ``records/attributions.jsonl`` (geolocation marked advisory: region, city and radius
    describe the network block, not a subscriber)."""
    out = _base(item)
    out["geolocation_advisory"] = True
    return _line(out)


def _cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is prefixed with ``'`` (OWASP)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str):
        return formula_safe(text)
    return text


def _csv_value(value: Any) -> Any:
    """A declared field's value in its CSV cell form: tier label, hex bytes, space-separated lists
    (block proofs as ``piece:begin:length``)."""
    if isinstance(value, Tier):
        return value.label
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return " ".join(
            f"{v.piece}:{v.begin}:{v.length}" if isinstance(v, BlockProof) else str(v) for v in value
        )
    return value


def _csv_plan(spec: RecordSpec) -> tuple[tuple[str, bool], ...]:
    """(attribute, is-a-time) per CSV column of ``spec`` (time fields are named by their view name)."""
    times = {f.view_time_name: f.name for f in spec.fields if f.time}
    return tuple((times.get(name, name), name in times) for name in spec.csv)


_OBSERVATION_CSV = _csv_plan(OBSERVATION)
CSV_COLUMNS = ("chain_index", *OBSERVATION.csv, "clock_flagged", "record_sha256")


def observation_row(item: Indexed, exhibit: ExhibitInput) -> bytes:
    """One row of ``records/observations.csv`` (columns :data:`CSV_COLUMNS`), CRLF-terminated."""
    o = item.record
    assert isinstance(o, Observation)
    values: list[Any] = [item.index]
    values += [
        iso(getattr(o, name)) if is_time else _csv_value(getattr(o, name))
        for name, is_time in _OBSERVATION_CSV
    ]
    values += [exhibit.flag_of(o) is not None, item.sha256.hex()]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return buffer.getvalue().encode("utf-8")


def csv_header() -> bytes:
    """The header row of ``records/observations.csv``."""
    return (",".join(CSV_COLUMNS) + "\r\n").encode("ascii")


Segment = tuple[Indexed | None, bytes]
LineFn = Callable[[Indexed, ExhibitInput], bytes]


def exhibit_segments(exhibit: ExhibitInput) -> dict[str, list[Segment]]:
    """Each view file as its ordered segments (the record each line renders, or None for a header)."""
    csv_rows: list[Segment] = [(None, csv_header())]
    csv_rows += [(item, observation_row(item, exhibit)) for item in exhibit.observations]
    views: tuple[tuple[str, tuple[Indexed, ...], LineFn], ...] = (
        (OBSERVATIONS_JSONL, exhibit.observations, observation_line),
        (SIGHTINGS_JSONL, exhibit.sightings, record_line),
        (CLOCK_JSONL, exhibit.clock_samples, record_line),
        (ATTRIBUTIONS_JSONL, exhibit.attributions, attribution_line),
    )
    out: dict[str, list[Segment]] = {
        path: [(it, fn(it, exhibit)) for it in items] for path, items, fn in views
    }
    out[OBSERVATIONS_CSV] = csv_rows
    return out


def exhibit_files(exhibit: ExhibitInput) -> dict[str, bytes]:
    """The bytes of the five view files (path → bytes).

    Source: README "Export and verify".
    """
    return {path: b"".join(data for _, data in segs) for path, segs in exhibit_segments(exhibit).items()}
