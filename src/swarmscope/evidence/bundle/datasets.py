"""IP attribution in a bundle: the dataset fingerprints file and the methodology's attribution section.

``attribution/datasets.json`` is ``{"datasets": [...]}`` (plus a ``note`` when empty): one object per IP
dataset cited by a selected :class:`~swarmscope.evidence.records.Attribution` record, sorted by SHA-256,
with exactly the keys of :data:`DATASET_KEYS`. The records cite datasets by SHA-256 only, so this file is
what tells a reader WHICH edition of which dataset (name, MMDB ``database_type``, build date, size) an
attribution came from; the SHA-256 lets anyone holding the file check it is that edition.

Flags come from two kinds of source: a list file of the flag's own kind (``hosting``, ``vpn``, ``tor``),
or a GeoIP2-Anonymous-IP database (kind ``anonymous``: ``is_hosting_provider``, ``is_anonymous_vpn``,
``is_tor_exit_node``). A record names the datasets consulted, not which one raised a flag; the
methodology states, per flag, every cited source that can raise it.

Pure: no I/O. Source: README "Export and verify" (attribution dataset fingerprints in the bundle); README "The
legal workflow" (attribution at observation time, dataset fingerprint, flags from configurable lists,
geolocation advisory).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from swarmscope.evidence.bundle.exhibits import ExhibitInput, iso
from swarmscope.evidence.bundle.json_bound import DATASETS, loads_bounded
from swarmscope.evidence.records import Attribution

DATASET_KEYS = ("active", "build", "build_us", "database_type", "kind", "name", "sha256", "size")
FLAG_SOURCES: dict[str, tuple[str, ...]] = {  # flag → dataset kinds that can raise it
    "hosting": ("hosting", "anonymous"),
    "vpn": ("vpn", "anonymous"),
    "tor": ("tor", "anonymous"),
}
FLAG_RULES = {
    "hosting": "address in a 'hosting' list file, or GeoIP2-Anonymous-IP is_hosting_provider",
    "vpn": "address in a 'vpn' list file, or GeoIP2-Anonymous-IP is_anonymous_vpn",
    "tor": "address in a 'tor' list file, or GeoIP2-Anonymous-IP is_tor_exit_node",
}
TIMING = (
    "Each peer address is attributed once per monitor run, when it is first observed in that run: the "
    "record's observed_at is the start of that observation (UTC) and it cites the datasets registered and "
    "active when the run started. The attribution record is chained and sealed in the ledger like every "
    "observation, so it cannot be redone later with other datasets."
)
GEOLOCATION = (
    "Geolocation is advisory: country, region, city and accuracy radius are what the dataset says about "
    "the network block the address belongs to, not where any person is. The AS number and organisation "
    "(or the GeoIP2-ISP ISP name) decide which ISP an address belongs to."
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def dataset_json(
    *,
    name: str,
    kind: str,
    database_type: str | None,
    build_us: int | None,
    sha256: str,
    size: int,
    active: bool,
) -> dict[str, Any]:
    """One entry of ``attribution/datasets.json`` (keys :data:`DATASET_KEYS`; ``build`` is ISO 8601 UTC).

    Args:
        name: database_type or file name. kind: asn | city | isp | country | anonymous | hosting | vpn |
            tor. database_type: MMDB metadata, None for list files. build_us: build time, UTC µs, or
            None. sha256: hex. size: bytes. active: used for new attributions at export time.
    """
    return {
        "active": active, "build": None if build_us is None else iso(build_us), "build_us": build_us,
        "database_type": database_type, "kind": kind, "name": name, "sha256": sha256.lower(), "size": size,
    }  # fmt: skip


def _entry_problem(entry: Any) -> str | None:
    """Why ``entry`` is not a dataset fingerprint object, or None when it is one."""
    if not isinstance(entry, dict) or tuple(sorted(entry)) != DATASET_KEYS:
        return f"not an object with exactly the keys {', '.join(DATASET_KEYS)}"
    text = ("name", "kind")
    optional_text, optional_int = ("database_type", "build"), ("build_us",)
    if not all(isinstance(entry[k], str) for k in text) or not all(
        entry[k] is None or isinstance(entry[k], str) for k in optional_text
    ):
        return "name, kind, database_type or build is not text"
    if any(entry[k] is not None and type(entry[k]) is not int for k in optional_int):
        return "build_us is not an integer"
    if type(entry["size"]) is not int or entry["size"] < 0 or not isinstance(entry["active"], bool):
        return "size is not a byte count, or active is not true/false"
    if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
        return "sha256 is not 64 lower-case hex digits"
    if entry["build_us"] is not None and entry["build"] != iso(entry["build_us"]):
        return "build does not render build_us"
    return None


def parse_datasets(data: bytes | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The usable entries of ``attribution/datasets.json`` and a message per defect (never raises).

    Entries that are malformed, duplicated (same sha256) or out of sha256 order are reported; the
    well-formed ones are still returned so each record's citations can be checked. A file over the JSON
    bound of :mod:`~swarmscope.evidence.bundle.json_bound` (4 MiB, or too costly to parse) is not parsed:
    one defect names its size.
    """
    try:
        doc = loads_bounded(data or b"", DATASETS)
        entries = doc["datasets"]
        if not isinstance(entries, list):
            raise TypeError("datasets is not a list")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return [], [f"unreadable: {exc}"[:300]]
    good: list[dict[str, Any]] = []
    problems: list[str] = []
    for position, entry in enumerate(entries):
        why = _entry_problem(entry)
        if why is None and good and entry["sha256"] <= good[-1]["sha256"]:
            why = f"sha256 {entry['sha256']} duplicated or not in ascending order"
        if why is not None:
            problems.append(f"dataset #{position}: {why}")
        else:
            good.append(entry)
    return good, problems


def attributions(exhibit: ExhibitInput) -> list[Attribution]:
    """The bundle's attribution records."""
    return [item.record for item in exhibit.attributions if isinstance(item.record, Attribution)]


def _flag_sources(datasets: Sequence[Mapping[str, Any]], flag: str) -> list[dict[str, Any]]:
    return [
        {"kind": d["kind"], "name": d["name"], "sha256": d["sha256"]}
        for d in datasets
        if d.get("kind") in FLAG_SOURCES[flag]
    ]


def attribution_section(exhibit: ExhibitInput) -> dict[str, Any]:
    """The methodology's ``attribution`` object: datasets (cited how often), timing, geolocation, flags."""
    records = attributions(exhibit)
    cited = Counter(sha for a in records for sha in a.datasets)
    flagged = Counter(flag for a in records for flag in a.flags)
    datasets = [
        {k: d[k] for k in ("name", "kind", "database_type", "build", "sha256")}
        | {"cited_by": cited[d["sha256"]]}
        for d in exhibit.datasets
    ]
    known = {d["sha256"] for d in exhibit.datasets}
    return {
        "records": len(records),
        "addresses": len({a.ip for a in records}),
        "timing": TIMING,
        "geolocation": GEOLOCATION,
        "datasets": datasets,
        "cited_missing": sorted(sha for sha in cited if sha not in known),
        "flags": {
            flag: {
                "rule": FLAG_RULES[flag],
                "sources": _flag_sources(exhibit.datasets, flag),
                "flagged_records": flagged[flag],
            }
            for flag in FLAG_SOURCES
        },
    }


def attribution_markdown(section: Mapping[str, Any]) -> list[str]:
    """The ``## IP attribution`` lines of methodology.md (values from the bundle JSON-escaped)."""
    lines = ["", "## IP attribution", "", f"- {section['timing']}", f"- {section['geolocation']}"]
    lines += [
        f"- attribution records in this bundle: {section['records']}, for {section['addresses']} addresses",
        "",
        "### Datasets (name, build date, sha256)",
        "",
    ]
    if not section["datasets"]:
        lines.append("No IP dataset is cited by this bundle.")
    for d in section["datasets"]:
        lines.append(
            f"- {json.dumps(d['name'])} ({json.dumps(d['kind'])}, database_type"
            f" {json.dumps(d['database_type'])}), built {json.dumps(d['build'])}, sha256 `{d['sha256']}`,"
            f" cited by {d['cited_by']} records"
        )
    for sha in section["cited_missing"]:
        lines.append(f"- cited but NOT described in attribution/datasets.json: sha256 `{sha}`")
    lines += ["", "### Flags (hosting / vpn / tor)", ""]
    for flag, about in section["flags"].items():
        sources = ", ".join(f"{json.dumps(s['name'])} (`{s['sha256']}`)" for s in about["sources"])
        lines.append(
            f"- **{flag}**: {about['rule']}; sources in this bundle: {sources or 'none'};"
            f" flagged records: {about['flagged_records']}"
        )
    return lines
