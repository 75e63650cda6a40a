"""The README.md of a research export: methodology, k, what was suppressed, dataset versions (pure text).

Its statements are the ones docs/research.md explains at length; the numbers are the export's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmscope.evidence.records import us_to_iso
from swarmscope.research.aggregate import hour_label
from swarmscope.research.cells import Table

UNIT_TEXT = {
    False: "an IPv4 or IPv6 address",
    True: "a network: the address truncated to its /24 (IPv4) or /48 (IPv6)",
}


@dataclass(frozen=True, slots=True)
class DatasetLine:
    """A dataset version as printed: name, kind, build time (UTC µs, None unknown), SHA-256 hex."""

    name: str
    kind: str
    build_us: int | None
    sha256: str


@dataclass(frozen=True, slots=True)
class StudyFacts:
    """What the README states about one export (times UTC µs)."""

    study_id: str
    ephemeral_key: bool
    k: int
    truncate: bool
    version: str
    created_us: int
    trusted: Sequence[str]  # node key fingerprints (hex SHA-256) whose seals were accepted
    swarms: int
    sightings: int
    observations: int
    left_out: Mapping[str, int]
    first_us: int | None
    last_us: int | None
    datasets: Sequence[DatasetLine]
    attributed: int = 0  # counted units with a proven attribution


def readme_text(facts: StudyFacts, tables: Sequence[Table]) -> str:
    """The README.md of the export directory."""
    return "\n".join([*_head(facts), *_method(facts), *_suppression(facts, tables), *_data(facts), ""])


def _head(f: StudyFacts) -> list[str]:
    span = "no records" if f.first_us is None else f"{hour_label(f.first_us)} to {hour_label(f.last_us or 0)}"
    key = (
        "an ephemeral key drawn for this export alone and never stored: no other export shares its pseudonyms"
        if f.ephemeral_key
        else "the study key file given with --key-file (exports under the same key share the study id)"
    )
    return [
        "# swarmscope research export",
        "",
        f"- study id: `{f.study_id}` (pseudonyms are keyed with {key}; the key is not in this directory)",
        f"- created: {us_to_iso(f.created_us)} by swarmscope {f.version}",
        f"- k = {f.k}; counting unit: {UNIT_TEXT[f.truncate]}",
        f"- swarms: {f.swarms}; records counted: {f.sightings} sightings, {f.observations} observations",
        f"- time span of the records, by hour: {span}",
        "",
    ]


def _method(f: StudyFacts) -> list[str]:
    return [
        "## Methodology",
        "",
        "- Only evidence proven against swarmscope's sealed ledger counts: each record's canonical bytes",
        "  hash to an entry of a batch signed (Ed25519) by a trusted node key whose SHA-256 chain holds.",
        "  Trusted node keys: " + (", ".join(f"`{k}`" for k in f.trusted) or "none") + ".",
        "- Each address was replaced by HMAC-SHA-256 under the study key before counting; no address and",
        "  no pseudonym is in any file here. Only counts of distinct units and peers are.",
        "- A *unit* is " + UNIT_TEXT[f.truncate] + ". A *peer* is a unit with a port, seen in a window.",
        "  Neither is a person: one subscriber may use many addresses, many people may share one (carrier-",
        "  grade NAT, a household, a VPN exit). Sightings (a tracker, the DHT or PEX named the address) are",
        "  counted only as `listed`; shares of country, AS and client count only connected units (our own",
        "  BitTorrent handshake for the swarm was answered). Times are UTC; an event counts in the hour its",
        "  sighting arrived or its probe started. Country and AS are the unit's latest proven attribution",
        "  (the datasets below); geolocation is advisory.",
        "",
    ]


def _suppression(f: StudyFacts, tables: Sequence[Table]) -> list[str]:
    lines = [
        "## Suppression",
        "",
        f"No released number counts 1 to {f.k - 1} units. In tables whose labels split the units (tier,",
        "country, AS, client, seed or leecher, verified or not) suppressed cells are pooled into one",
        f"`(suppressed)` row without their labels; when that pool holds fewer than {f.k} units the smallest",
        "released cells join it (complementary suppression), so no released cell can be recomputed as a",
        f"total minus the others. A group of fewer than {f.k} units shows only an empty `(all)` row. In",
        "`hour_of_day` each hour stands alone and a suppressed hour has empty counts.",
        "Limits: differences between overlapping groups or tables, or between two exports of overlapping",
        "data, are not protected; a released label itself says that at least k units had it.",
        "",
        "| table | rows | suppressed cells |",
        "|---|---|---|",
    ]
    lines += [f"| `{t.name}.csv` | {len(t.rows)} | {t.suppressed_cells} |" for t in tables]
    return [*lines, ""]


def _data(f: StudyFacts) -> list[str]:
    lines = ["## Left out", ""]
    if any(f.left_out.values()):
        lines += [
            f"- {n} {state} record(s): not proven evidence" for state, n in sorted(f.left_out.items()) if n
        ]
    else:
        lines.append("- nothing: every stored record of these swarms was proven")
    lines += ["", "## Dataset versions (IP attribution)", ""]
    if not f.attributed:
        lines.append("- none: no counted unit had a proven attribution (country and AS are `unknown`)")
    elif not f.datasets:
        lines.append(f"- {f.attributed} unit(s) attributed, citing no registered dataset (none can be named)")
    for d in f.datasets:
        built = "unknown" if d.build_us is None else us_to_iso(d.build_us)
        lines.append(f"- {d.name} ({d.kind}), built {built}, SHA-256 `{d.sha256}`")
    lines += ["", "## Files", "", "- `swarms.csv`: each swarm's infohash and torrent name"]
    lines.append("- `<table>.csv`, `<table>.png`, `<table>.svg`: the tables above and their plots")
    return lines
