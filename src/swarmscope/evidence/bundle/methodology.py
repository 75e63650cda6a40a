"""The methodology statement of an export bundle, generated from the sealed records it contains.

``methodology.json`` and its rendering ``methodology.md`` state how the evidence was gathered: the software
version and commit and the settings of every monitor run (from the sealed :class:`RunStarted` records, so
a changed statement no longer matches its records), what each tier means, how pieces and blocks were
verified, the clock policy with its threshold, samples and flag windows, the export filters, the signing
key, IP attribution (datasets by name, build date and SHA-256; geolocation advisory; which list raises
which flag; attribution once per address per run at observation time), and what the bundle leaves out
and why. Both are pure functions of the bundle's records, so
``swarmscope verify`` regenerates them and compares byte for byte.

Source: README "Export and verify" (methodology statement: software version and commit, settings, tiers,
thresholds, clock policy; attribution dataset fingerprints); "Honest clock" (clock policy); "Blocks proving
distribution" (block proofs); "The legal workflow" (attribution).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from swarmscope.evidence.bundle.datasets import attribution_markdown, attribution_section
from swarmscope.evidence.bundle.exhibits import ExhibitInput, iso, jsonable, window_json
from swarmscope.evidence.bundle.json_bound import RUN_SETTINGS, loads_text_bounded
from swarmscope.evidence.clock_policy import clock_status
from swarmscope.evidence.records import ClockSample, Observation, RunStarted, Tier

METHODOLOGY_MD = "methodology.md"
METHODOLOGY_JSON = "methodology.json"
FORMAT = "swarmscope-methodology"
VERSION = 3  # 3: IP attribution; 2: clock threshold source, capture disclosure; older are regenerated
VERSIONS = (1, 2, 3)

TIER_MEANINGS = {
    Tier.LISTED: "named by a discovery source (tracker, DHT, PEX) only; no connection was made",
    Tier.CONNECTED: "our own TCP connection completed a BEP 3 handshake echoing our infohash",
    Tier.HAS_PIECES: "the peer's bitfield / have / have_all messages claimed at least one piece",
    Tier.VERIFIED: (
        "data received from this peer hash-checked: a whole piece against the metainfo piece hash, or a "
        "16 KiB block against the SHA-256 of the same block of content already verified against the metainfo"
    ),
}
PIECE_POLICY = (
    "A whole piece received from the peer is hashed (SHA-1 for BEP 3, SHA-256 merkle for BEP 52) and "
    "compared with the piece hash in the metainfo; the received bytes are in the capture (blobs/)."
)
BLOCK_POLICY = (
    "A 16 KiB block received from the peer is proof when its SHA-256 equals that of the same block of a "
    "reference piece that itself matches the metainfo piece hash; the reference piece is in pieces/ and "
    "the received block in blobs/. A block that does not match is recorded as failed and never proves."
)
CLOCK_RULE = (
    "Every evidence timestamp is UTC from the system clock. NTP samples measure its offset; a sample is good "
    "when |offset| <= threshold. While any server reads beyond the threshold (or none has answered), time "
    "from just after the last good sample until the next good one is a flag window; an observation that "
    "started inside one is flagged."
)
OMISSIONS_V1 = (
    "Records of other peer addresses in the same sealed batches appear only as chain hashes "
    "(records/chain.bin), so their addresses are not disclosed while every batch signature still verifies.",
    "Sightings and observations outside the export filters are not included.",
    "Observations flagged by the clock policy are excluded when the export used --exclude-clock-flagged.",
    "No private key is included: keys/ holds public keys only.",
)
UPLOAD_POLICY = "swarmscope never uploads piece data: payload_bytes_sent is 0 in every observation."
OMISSIONS = (
    "Records of other peer addresses in the same sealed batches appear only as chain hashes "
    "(records/chain.bin), so their records are not disclosed while every batch signature still verifies "
    "(but see the next point about captures).",
    "Sightings and observations outside the export filters are not included.",
    "Observations flagged by the clock policy are excluded when the export used --exclude-clock-flagged.",
    "No private key is included: keys/ holds public keys only.",
    "Captures are the peer's raw wire bytes and are kept whole so they replay: an export limited to one "
    "address (--ip) still contains, inside that peer's capture, any addresses the peer itself sent us "
    "(BEP 11 PEX added/dropped lists, the BEP 10 handshake's yourip/ipv4/ipv6 fields).",
)

OMISSIONS_V3 = (
    *OMISSIONS,
    "Attribution records are included only for the addresses of the included observations (every one "
    "when the export has no swarm, address or time filter); attribution/datasets.json describes only "
    "the datasets they cite.",
)


def _settings(run: RunStarted) -> Any:
    """The run's sealed settings as JSON, or its text when not JSON or over the JSON bound
    (:mod:`~swarmscope.evidence.bundle.json_bound`): export and verify both write it so."""
    try:
        return loads_text_bounded(run.settings_json, RUN_SETTINGS)
    except (ValueError, RecursionError):
        return run.settings_json


def _run_json(index: int, run: RunStarted) -> dict[str, Any]:
    return {
        "chain_index": index,
        "run_id": run.run_id,
        "started_us": run.started_us,
        "started": iso(run.started_us),
        "software_version": run.software_version,
        "software_commit": run.software_commit,
        "settings": _settings(run),
    }


def _verification(observations: list[Observation]) -> dict[str, Any]:
    tiers = Counter(o.tier.label for o in observations)
    return {
        "piece": PIECE_POLICY,
        "block": BLOCK_POLICY,
        "uploads": UPLOAD_POLICY,
        "observations": len(observations),
        "by_tier": {t.label: tiers.get(t.label, 0) for t in Tier},
        "verified_by_piece": sum(1 for o in observations if o.verified_pieces),
        "verified_by_block": sum(1 for o in observations if o.verified_blocks),
        "with_capture": sum(1 for o in observations if o.capture_sha256 is not None),
    }


def _threshold_source(exhibit: ExhibitInput) -> str:
    """Where the bundle's one clock threshold comes from (sealed run settings, or a stricter export)."""
    sealed = exhibit.sealed_clock_policy()
    what = (
        f"the strictest clock policy sealed in the settings of the runs whose observations are included"
        f" ({sealed.name}, {sealed.threshold_us} us; clock_threshold_ms / clock_policy)"
    )
    if exhibit.policy.threshold_us < sealed.threshold_us:
        return f"the export's --clock-threshold-ms, stricter than {what}"
    return what[0].upper() + what[1:]


def _clock(exhibit: ExhibitInput, observations: list[Observation], version: int) -> dict[str, Any]:
    flagged = sum(1 for o in observations if exhibit.flag_of(o) is not None)
    samples = [i.record for i in exhibit.clock_samples if isinstance(i.record, ClockSample)]
    status = clock_status(samples, exhibit.policy)
    source = {"threshold_source": _threshold_source(exhibit)} if version >= 2 else {}
    return source | {
        "policy": jsonable(exhibit.policy),
        "rule": CLOCK_RULE,
        "threshold_us": exhibit.policy.threshold_us,
        "samples": status.samples,
        "servers": list(status.servers),
        "failed_samples": status.failures,
        "max_abs_offset_us": status.max_abs_offset_us,
        "flag_windows": [window_json(w) for w in exhibit.windows],
        "flagged_observations": flagged,
        "exclude_clock_flagged": bool(exhibit.filters.get("exclude_clock_flagged", False)),
        "status": status.state,
        "statement": status.statement,
    }


def methodology_json(exhibit: ExhibitInput, signing_key: str, version: int = VERSION) -> dict[str, Any]:
    """The methodology statement as a JSON object.

    Args:
        exhibit: the bundle's decoded records. signing_key: fingerprint of the manifest's signing key.
        version: the statement version to generate (:data:`VERSIONS`; verify regenerates a bundle's own).
    """
    observations = [i.record for i in exhibit.observations if isinstance(i.record, Observation)]
    runs = [_run_json(i.index, i.record) for i in exhibit.runs if isinstance(i.record, RunStarted)]
    attribution = {"attribution": attribution_section(exhibit)} if version >= 3 else {}
    return attribution | {
        "format": FORMAT,
        "version": version,
        "runs": runs,
        "software": sorted({(r["software_version"], r["software_commit"] or "unknown") for r in runs}),
        "tiers": {t.label: TIER_MEANINGS[t] for t in Tier},
        "verification": _verification(observations),
        "clock": _clock(exhibit, observations, version),
        "filters": jsonable(dict(exhibit.filters)),
        "signing_key": signing_key,
        "omissions": list(OMISSIONS_V3 if version >= 3 else OMISSIONS if version >= 2 else OMISSIONS_V1),
    }


def _md_runs(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["## Monitor runs", ""]
    if not runs:
        lines.append("No run configuration record is included.")
    for run in runs:
        lines += [
            f"### Run {run['run_id']} (chain index {run['chain_index']}), started {run['started']}",
            "",
            f"- software version: `{run['software_version']}`",
            f"- commit: `{run['software_commit'] or 'unknown'}`",
            "- settings:",
            "",
            "```json",
            json.dumps(run["settings"], sort_keys=True, indent=2, ensure_ascii=True),
            "```",
            "",
        ]
    return lines


def methodology_markdown(doc: dict[str, Any]) -> str:
    """Render :func:`methodology_json` as Markdown (every value JSON-escaped or a fixed text)."""
    v, c = doc["verification"], doc["clock"]
    lines = [
        "# Methodology",
        "",
        f"Manifest signing key (SHA-256 of the Ed25519 key): `{doc['signing_key']}`",
        "",
    ]
    lines += _md_runs(doc["runs"])
    lines += ["## Evidence tiers", ""] + [f"- **{label}**: {text}" for label, text in doc["tiers"].items()]
    lines += ["", "## Verification policy", "", f"- Piece: {v['piece']}", f"- Block: {v['block']}"]
    lines += [f"- {v['uploads']}", "", f"Observations in this bundle: {v['observations']}; by tier: "]
    lines[-1] += ", ".join(f"{k} {n}" for k, n in v["by_tier"].items())
    lines[-1] += f"; verified by piece {v['verified_by_piece']}, by block {v['verified_by_block']}."
    lines += ["", "## Clock", "", f"- policy: `{json.dumps(c['policy'], sort_keys=True)}`"]
    lines += [f"- rule: {c['rule']}", f"- status: {c['status']}. {json.dumps(c['statement'])[1:-1]}"]
    lines += [
        f"- threshold: {c['threshold_us']} us; samples: {c['samples']}; servers: {json.dumps(c['servers'])}"
    ]
    if "threshold_source" in c:
        lines += [
            f"- threshold source: {c['threshold_source']}. This one threshold decides every clock flag in"
            " this bundle; a run's own clock_threshold_ms in its settings above is what it sealed."
        ]
    lines += [f"- flag windows: `{json.dumps(window)}`" for window in c["flag_windows"]]
    lines += [f"- observations started in a flag window: {c['flagged_observations']}"]
    lines += [f"- flagged observations excluded from this bundle: {c['exclude_clock_flagged']}"]
    lines += [
        "",
        "## Export filters",
        "",
        "```json",
        json.dumps(doc["filters"], sort_keys=True, indent=2),
        "```",
    ]
    if "attribution" in doc:
        lines += attribution_markdown(doc["attribution"])
    lines += ["", "## What this bundle omits and why", ""] + [f"- {text}" for text in doc["omissions"]]
    return "\n".join(lines) + "\n"


def methodology_files(exhibit: ExhibitInput, signing_key: str, version: int = VERSION) -> dict[str, bytes]:
    """``methodology.json`` and ``methodology.md`` (path → bytes) of statement ``version``.

    Source: README "Export and verify".
    """
    doc = methodology_json(exhibit, signing_key, version)
    as_json = (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")
    return {METHODOLOGY_JSON: as_json, METHODOLOGY_MD: methodology_markdown(doc).encode("utf-8")}
