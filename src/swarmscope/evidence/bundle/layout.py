"""Export bundle: a self-contained directory of evidence that ``swarmscope verify`` checks on its own.

Layout (format ``swarmscope-bundle``, version 1; every path relative to the bundle directory)::

    manifest.json                 format, version, created_us, software version, filters, signing key
                                  fingerprint, and for every other file: path, size (bytes), sha256 (hex)
    manifest.sig                  64-byte Ed25519 signature (RFC 8032) by the node key over manifest.json
    records/ledger.bin            the SELECTED records: per record, chain index (8 bytes big-endian),
                                  length (4 bytes big-endian), canonical bytes (evidence.canonical)
    records/chain.bin             104-byte chain entries (evidence.chain) of EVERY entry of each batch that
                                  holds a selected record, ascending; unselected records appear only as
                                  hashes (not disclosed, the seals still verify; but see captures/)
    records/batches.bin           sealed batches (evidence.seal stored form) covering those entries: per
                                  batch, length (4 bytes big-endian) then the sealed bytes
    records/timestamps/<first>-<last>.tsr   RFC 3161 token over SHA-256 of that batch's canonical bytes
    records/observations.jsonl    one JSON object per selected observation  } human-readable views derived
    records/observations.csv      one row per selected observation          } from the canonical records;
    records/sightings.jsonl       one JSON object per selected sighting     } verify re-derives them and
    records/clock.jsonl           one JSON object per clock sample          } compares byte for byte
    records/attributions.jsonl    one JSON object per selected attribution  } (geolocation advisory)
    captures/<sha256>.cap         wire captures referenced by selected observations
    (evidence.capture.recording):
                                  the peer's raw wire bytes, kept whole so they replay; so an --ip subset
                                  still holds, inside that peer's capture, addresses the peer itself sent
                                  us (BEP 11 PEX lists, BEP 10 yourip/ipv4/ipv6)
    blobs/<sha256>.bin            payload blocks those captures reference (the proving blocks among them)
    pieces/<infohash>/<piece>.bin reference pieces (verified against the metainfo) backing block proofs
    metainfo/<infohash>.torrent   the exact .torrent bytes of every swarm named by a selected record
    keys/<fingerprint>.pem        Ed25519 public keys (RFC 8410 PEM); fingerprint = SHA-256 of the raw key
    attribution/datasets.json     fingerprints (name, kind, database_type, build date, sha256, size,
                                  active) of the IP datasets the selected attribution records cite;
                                  an empty list and a note when none is selected
    methodology.md / .json        generated from the sealed RunStarted records (evidence.bundle.methodology)

A bundle across several signing nodes (version 3; 2 before its hits counted vantage points) holds one
such bundle per node under ``nodes/<fingerprint>/`` (:mod:`swarmscope.evidence.bundle.nodes`); a
one-node bundle is unchanged.

This module builds the bytes of every file from records (:func:`build_bundle`) and holds the binary
codecs; :mod:`swarmscope.evidence.bundle.verify` checks a bundle. Both are pure: the caller reads the
database and writes the directory.

Source: README "Export and verify".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.exhibits import (
    ExhibitInput,
    exhibit_files,
)
from swarmscope.evidence.bundle.methodology import methodology_files
from swarmscope.evidence.chain import ENTRY_SIZE, ChainEntry, entry_bytes, entry_from_bytes
from swarmscope.evidence.seal import (
    SealedBatch,
    key_fingerprint,
    load_public_key,
    public_key_raw,
    sealed_bytes,
    sealed_from_bytes,
)

FORMAT = "swarmscope-bundle"
VERSION = 1
VERSION_NODES = 5  # a bundle across nodes: one version-1 bundle per node under nodes/ (bundle.nodes)
VERSION_NODES_BY_ADDRESS = 4  # the same written before: an inbound claim checked by ip:port, any peer id
VERSION_NODES_BY_NETWORK = 3  # the same written before: vantages by --bind alone, not node keys too
VERSION_NODES_BY_KEY = 2  # the same written before: its hits.jsonl counted node keys as vantages
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
LEDGER = "records/ledger.bin"
CHAIN = "records/chain.bin"
BATCHES = "records/batches.bin"
DATASETS = "attribution/datasets.json"
DATASETS_NOTE = "no attribution record is selected in this bundle, so no IP dataset is cited"
_MAX_RECORD = 1 << 26  # 64 MiB: no canonical record comes near it


@dataclass(frozen=True, slots=True)
class BundleContent:
    """Everything that goes into a bundle, as selected from the store.

    Args:
        entries: every chain entry of every batch holding a selected record, ascending by index.
        records: selected chain index → canonical bytes (observations, sightings, clock samples, runs,
            attributions).
        batches: the sealed batches covering ``entries``, ascending.
        tokens: ``(first_index, last_index)`` of a batch → RFC 3161 token DER over its batch bytes.
        captures / blobs: SHA-256 → capture bytes / payload block bytes (evidence.capture.recording).
        reference_pieces: ``(infohash hex, piece index)`` → piece bytes backing block proofs.
        metainfo: infohash hex → exact .torrent bytes.
        filters: what the export selected (JSON-able; see ``swarmscope export``); ``clock_threshold_us``
            and ``exclude_clock_flagged`` drive the clock flags.
        datasets: fingerprints of the IP datasets cited by the selected attributions (JSON objects:
            name, kind, database_type, build_us, build, sha256, size, active), sorted by sha256.
    """

    entries: tuple[ChainEntry, ...]
    records: Mapping[int, bytes]
    batches: tuple[SealedBatch, ...]
    tokens: Mapping[tuple[int, int], bytes] = field(default_factory=dict)
    captures: Mapping[bytes, bytes] = field(default_factory=dict)
    blobs: Mapping[bytes, bytes] = field(default_factory=dict)
    reference_pieces: Mapping[tuple[str, int], bytes] = field(default_factory=dict)
    metainfo: Mapping[str, bytes] = field(default_factory=dict)
    filters: Mapping[str, Any] = field(default_factory=dict)
    datasets: tuple[Mapping[str, Any], ...] = ()


# --- paths --------------------------------------------------------------------------------------------


def capture_path(sha256: bytes) -> str:
    """Bundle path of a capture by its SHA-256."""
    return f"captures/{sha256.hex()}.cap"


def blob_path(sha256: bytes) -> str:
    """Bundle path of a payload block by its SHA-256."""
    return f"blobs/{sha256.hex()}.bin"


def piece_path(infohash: str, piece: int) -> str:
    """Bundle path of a reference piece."""
    return f"pieces/{infohash}/{piece}.bin"


def metainfo_path(infohash: str) -> str:
    """Bundle path of a swarm's .torrent file."""
    return f"metainfo/{infohash}.torrent"


def key_path(fingerprint: str) -> str:
    """Bundle path of a public key by its fingerprint (:func:`evidence.seal.key_fingerprint`)."""
    return f"keys/{fingerprint}.pem"


def token_path(first_index: int, last_index: int) -> str:
    """Bundle path of the RFC 3161 token of the batch ``first_index..last_index``."""
    return f"records/timestamps/{first_index}-{last_index}.tsr"


# --- binary codecs -------------------------------------------------------------------------------------


def ledger_bytes(records: Mapping[int, bytes]) -> bytes:
    """``records/ledger.bin``: per record (ascending index) index BE64, length BE32, canonical bytes."""
    out = bytearray()
    for index in sorted(records):
        data = records[index]
        out += index.to_bytes(8, "big") + len(data).to_bytes(4, "big") + data
    return bytes(out)


def _scan_ledger(data: bytes) -> tuple[list[tuple[int, bytes]], DecodeError | None]:
    """The records of ``records/ledger.bin`` up to the first defect, and that defect (or None)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        after = f"after index {out[-1][0]}" if out else "at the start"
        if len(data) - pos < 12:
            return out, DecodeError(f"ledger: truncated record header at offset {pos} ({after})", pos)
        index = int.from_bytes(data[pos : pos + 8], "big")
        length = int.from_bytes(data[pos + 8 : pos + 12], "big")
        if length > _MAX_RECORD or pos + 12 + length > len(data):
            return out, DecodeError(
                f"ledger: record of {length} bytes at offset {pos} overruns ({after})", pos
            )
        if out and index <= out[-1][0]:
            return out, DecodeError(f"ledger: index {index} at offset {pos} not ascending ({after})", pos)
        out.append((index, data[pos + 12 : pos + 12 + length]))
        pos += 12 + length
    return out, None


def ledger_from_bytes(data: bytes) -> list[tuple[int, bytes]]:
    """Inverse of :func:`ledger_bytes` (records are not decoded here).

    Raises:
        DecodeError: truncated, an absurd length, or indices not strictly ascending (message gives the
            byte offset and the last good index).
    """
    out, error = _scan_ledger(data)
    if error is not None:
        raise error
    return out


def chain_bytes(entries: Sequence[ChainEntry]) -> bytes:
    """``records/chain.bin``: the 104-byte form of every entry, in the given order."""
    return b"".join(entry_bytes(entry) for entry in entries)


def chain_from_bytes(data: bytes) -> list[ChainEntry]:
    """Inverse of :func:`chain_bytes`.

    Raises:
        DecodeError: the length is not a multiple of 104 bytes.
    """
    if len(data) % ENTRY_SIZE:
        raise DecodeError(f"chain: {len(data)} bytes is not a whole number of {ENTRY_SIZE}-byte entries")
    return [entry_from_bytes(data[pos : pos + ENTRY_SIZE]) for pos in range(0, len(data), ENTRY_SIZE)]


def batches_bytes(batches: Sequence[SealedBatch]) -> bytes:
    """``records/batches.bin``: per batch, length BE32 then :func:`evidence.seal.sealed_bytes`."""
    out = bytearray()
    for sealed in batches:
        data = sealed_bytes(sealed)
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _scan_batches(data: bytes) -> tuple[list[SealedBatch], DecodeError | None]:
    """The sealed batches of ``records/batches.bin`` up to the first defect, and that defect (or None)."""
    out: list[SealedBatch] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            return out, DecodeError(f"batches: truncated length at offset {pos} (batch #{len(out)})", pos)
        length = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 4 + length > len(data):
            return out, DecodeError(f"batches: batch #{len(out)} at offset {pos} overruns the file", pos)
        try:
            out.append(sealed_from_bytes(data[pos + 4 : pos + 4 + length]))
        except DecodeError as exc:
            return out, DecodeError(f"batches: batch #{len(out)} at offset {pos}: {exc}", pos)
        pos += 4 + length
    return out, None


def batches_from_bytes(data: bytes) -> list[SealedBatch]:
    """Inverse of :func:`batches_bytes` (signatures are not checked here).

    Raises:
        DecodeError: truncated, or a sealed batch that does not decode (message names its position).
    """
    out, error = _scan_batches(data)
    if error is not None:
        raise error
    return out


def batches_prefix(data: bytes) -> list[SealedBatch]:
    """The sealed batches of a damaged ``records/batches.bin`` before its first defect."""
    return _scan_batches(data)[0]


def json_bytes(value: Any) -> bytes:
    """The bundle's JSON spelling: sorted keys, two-space indent, ASCII only, final newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def datasets_bytes(datasets: Sequence[Mapping[str, Any]]) -> bytes:
    """``attribution/datasets.json``: the dataset fingerprints, or an empty list with a note."""
    body: dict[str, Any] = {"datasets": [dict(d) for d in datasets]}
    if not datasets:
        body["note"] = DATASETS_NOTE
    return json_bytes(body)


# --- building ------------------------------------------------------------------------------------------


def _public_keys(content: BundleContent, private_key: Ed25519PrivateKey) -> dict[str, bytes]:
    """``keys/<fingerprint>.pem`` for the node key and every key that sealed an included batch."""
    raws = {public_key_raw(private_key)} | {sealed.public_key_bytes for sealed in content.batches}
    return {key_path(key_fingerprint(raw)): public_key_pem_of(raw) for raw in sorted(raws)}


def public_key_raw_of(key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of an Ed25519 public key (RFC 8032 5.1.5)."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem_of(raw: bytes) -> bytes:
    """PEM SubjectPublicKeyInfo (RFC 8410) of a raw 32-byte Ed25519 public key."""
    key = load_public_key(raw)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def content_files(content: BundleContent, private_key: Ed25519PrivateKey) -> dict[str, bytes]:
    """Every file of the bundle except the manifest and its signature.

    Raises:
        DecodeError: a selected record's canonical bytes do not decode (the store is corrupt).
    """
    files: dict[str, bytes] = {
        LEDGER: ledger_bytes(content.records),
        CHAIN: chain_bytes(content.entries),
        BATCHES: batches_bytes(content.batches),
        DATASETS: datasets_bytes(content.datasets),
    }
    for (first, last), token in content.tokens.items():
        files[token_path(first, last)] = token
    files.update({capture_path(sha): data for sha, data in content.captures.items()})
    files.update({blob_path(sha): data for sha, data in content.blobs.items()})
    files.update({piece_path(ih, piece): data for (ih, piece), data in content.reference_pieces.items()})
    files.update({metainfo_path(ih): data for ih, data in content.metainfo.items()})
    files.update(_public_keys(content, private_key))
    exhibit = ExhibitInput.from_ledger(
        ledger_from_bytes(files[LEDGER]), dict(content.filters), content.datasets
    )
    files.update(exhibit_files(exhibit))
    files.update(methodology_files(exhibit, key_fingerprint(public_key_raw(private_key))))
    return files


def manifest_bytes(
    files: Mapping[str, bytes],
    *,
    created_us: int,
    software_version: str,
    filters: Mapping[str, Any],
    signing_key: str,
    nodes: Sequence[str] | None = None,
) -> bytes:
    """``manifest.json``: format, version, creation time, software, filters, key and every file's hash.

    Args:
        files: path → bytes of every file but the manifest and its signature. created_us: UTC µs.
        software_version: the exporting swarmscope version. filters: the export's selection.
        signing_key: fingerprint of the key that signs the manifest.
        nodes: None for a one-node bundle (version 1, this layout); else the fingerprints of the nodes
            of a bundle across nodes (version 3, :mod:`swarmscope.evidence.bundle.nodes`).
    """
    listing = [
        {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for path, data in sorted(files.items())
    ]
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION if nodes is None else VERSION_NODES,
        "created_us": created_us,
        "software_version": software_version,
        "filters": dict(filters),
        "signing_key": signing_key,
        "files": listing,
    }
    if nodes is not None:
        body["nodes"] = list(nodes)
    return json_bytes(body)


def build_bundle(
    content: BundleContent,
    *,
    private_key: Ed25519PrivateKey,
    created_us: int,
    software_version: str,
) -> dict[str, bytes]:
    """Every file of an export bundle, path → bytes (layout in the module docstring).

    Args:
        content: the selected evidence (see :class:`BundleContent`). private_key: the node's Ed25519 key,
            which signs the manifest. created_us: UTC microseconds of the export.
        software_version: the exporting swarmscope version.

    Returns:
        A dict ready to be written under the bundle directory.

    Raises:
        DecodeError: a selected record does not decode (corrupt store).

    Source: README "Export and verify".
    """
    files = content_files(content, private_key)
    manifest = manifest_bytes(
        files,
        created_us=created_us,
        software_version=software_version,
        filters=content.filters,
        signing_key=key_fingerprint(public_key_raw(private_key)),
    )
    files[MANIFEST] = manifest
    files[MANIFEST_SIG] = private_key.sign(manifest)
    return files
