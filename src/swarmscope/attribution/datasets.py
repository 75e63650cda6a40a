"""IP dataset files and their fingerprints: MaxMind MMDB databases and flag list files.

A dataset's fingerprint (name, kind, build date, SHA-256, size) is what an attribution record cites, so a
reader of the evidence can tell exactly which edition of which database said an address belonged to an
AS — and obtain the same file to check it. The SHA-256 is over the file's exact bytes.

MMDB kinds come from the database's own ``database_type`` metadata (MaxMind DB format spec,
"Database Metadata"); list files (``hosting``, ``vpn``, ``tor``; see :mod:`.flag_lists`) are named by
the user. For list files the build date is the file's modification time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import maxminddb
import maxminddb.errors

from swarmscope.attribution.flag_lists import FLAG_KINDS, parse_flag_list
from swarmscope.errors import InputError

MMDB_KINDS: tuple[str, ...] = ("asn", "city", "isp", "country", "anonymous")
KINDS: tuple[str, ...] = MMDB_KINDS + FLAG_KINDS

# database_type (MMDB metadata) → kind. MaxMind names; DB-IP "compat" databases carry the MaxMind name.
DATABASE_TYPES: dict[str, str] = {
    "GeoLite2-ASN": "asn",
    "GeoIP2-ASN": "asn",
    "GeoLite2-City": "city",
    "GeoIP2-City": "city",
    "GeoIP2-Enterprise": "city",
    "GeoIP2-ISP": "isp",
    "GeoLite2-Country": "country",
    "GeoIP2-Country": "country",
    "GeoIP2-Anonymous-IP": "anonymous",
}

MAX_LIST_FILE = 256 * 1024 * 1024  # bytes; a flag list larger than this is refused


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies one dataset file.

    Args:
        name: the database_type (MMDB) or the file name (list files). kind: one of :data:`KINDS`.
        database_type: MMDB metadata ``database_type``, None for list files. build_us: MMDB
            ``build_epoch`` (or the list file's mtime), UTC µs. sha256: hex of the file's bytes.
        size: bytes. path: the file's absolute path.
    """

    name: str
    kind: str
    database_type: str | None
    build_us: int
    sha256: str
    size: int
    path: str


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 hex and size in bytes of a file, read in 1 MiB chunks.

    Raises:
        InputError: the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read dataset {path}: {exc.strerror or exc}") from None
    return digest.hexdigest(), size


def mmdb_kind(database_type: str) -> str | None:
    """The kind of an MMDB from its ``database_type`` (exact name, or a ``compat=`` alias), or None."""
    if database_type in DATABASE_TYPES:
        return DATABASE_TYPES[database_type]
    for known, kind in DATABASE_TYPES.items():
        if f"compat={known}" in database_type:
            return kind
    return None


def read_mmdb_metadata(path: Path) -> tuple[str, int]:
    """``database_type`` and ``build_epoch`` (UTC seconds) of an MMDB file.

    Raises:
        InputError: not a readable MaxMind DB (the message names the file and the problem).
    """
    try:
        with maxminddb.open_database(str(path), maxminddb.MODE_MEMORY) as reader:
            meta = reader.metadata()
            return str(meta.database_type), int(meta.build_epoch)
    except (maxminddb.errors.InvalidDatabaseError, ValueError, TypeError, KeyError) as exc:
        hint = f" (a list file needs --kind {'|'.join(FLAG_KINDS)})"
        raise InputError(f"{path}: not a valid MaxMind DB file: {exc}{hint}") from None
    except OSError as exc:
        raise InputError(f"cannot read dataset {path}: {exc.strerror or exc}") from None


def read_flag_list(path: Path) -> str:
    """The text of a flag list file, checked line by line (see :func:`.flag_lists.parse_flag_list`).

    Raises:
        InputError: unreadable, too large, not UTF-8, or bad lines (with their line numbers).
    """
    try:
        if path.stat().st_size > MAX_LIST_FILE:
            raise InputError(f"{path}: flag list larger than {MAX_LIST_FILE} bytes")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: flag list is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read dataset {path}: {exc.strerror or exc}") from None
    parse_flag_list(text, str(path))
    return text


def fingerprint(path: Path, kind: str | None = None) -> Fingerprint:
    """Fingerprint a dataset file, checking it can be used.

    Args:
        path: the file. kind: one of :data:`KINDS`; required for list files (``hosting``, ``vpn``,
            ``tor``); for an MMDB it is detected from ``database_type`` and, when given, must agree.

    Returns:
        The :class:`Fingerprint`.

    Raises:
        InputError: unknown kind; unreadable or corrupt file; an MMDB whose type is unknown (pass
            ``kind``) or disagrees with ``kind``; a list file with bad lines.

    Source: README "The legal workflow" (``datasets add``); MaxMind DB file format specification (metadata
    section).
    """
    path = Path(os.path.abspath(path))
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in FLAG_KINDS:
        read_flag_list(path)
        sha, size = file_sha256(path)
        build_us = int(path.stat().st_mtime * 1_000_000)
        return Fingerprint(path.name, kind, None, build_us, sha, size, str(path))
    database_type, build_epoch = read_mmdb_metadata(path)
    detected = mmdb_kind(database_type)
    if detected is None and kind is None:
        raise InputError(
            f"{path}: unknown database_type {database_type!r}; pass --kind ({', '.join(MMDB_KINDS)})"
        )
    if detected is not None and kind is not None and detected != kind:
        raise InputError(f"{path}: database_type {database_type!r} is a {detected} database, not {kind}")
    sha, size = file_sha256(path)
    final = kind or detected
    assert final is not None
    return Fingerprint(database_type, final, database_type, build_epoch * 1_000_000, sha, size, str(path))
