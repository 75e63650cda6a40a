"""The leak scan of a research export: every file (CSV, README, PNG metadata and bytes, SVG text) is
searched for IP addresses (any literal that parses as one, and each given address, its /24 or /48 network
and the network's text prefix), for pseudonyms of the given addresses under the study key (and their first
16 hex digits), for the key itself, and every CSV for a released cell of 1..k-1 units or a partition group
whose total minus its released labels is 1..k-1 (a differencing leak)."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import struct
import zlib
from pathlib import Path

from swarmscope.research.cells import SUPPRESSED, TOTAL
from swarmscope.research.pseudonym import Pseudonymiser, unit_of

_V4 = re.compile(r"(?<![0-9])(?<![0-9]\.)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])(?!\.[0-9])")
_V6 = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])")
FIXED_LABEL_TABLES = {"hour_of_day"}


def forbidden_strings(addresses: dict[str, set[int]], key: bytes | None) -> set[str]:
    """Every string that must appear in no output file: addresses, networks, pseudonyms, the key."""
    out: set[str] = set()
    for ip, ports in addresses.items():
        network = unit_of(ip, truncate=True)
        out |= {ip, network, network.split("/")[0]}
        if key is not None:
            for truncate in (False, True):
                p = Pseudonymiser(key, truncate)
                names = [p.address(ip), *(p.peer(ip, port) for port in ports)]
                out |= {n for n in names} | {n[:16] for n in names}
    if key is not None:
        out |= {key.hex(), key.hex().upper()}
    return out


def address_literals(text: str) -> list[str]:
    """Substrings of ``text`` that parse as an IPv4 or IPv6 address (``::`` alone included)."""
    found = []
    for match in [*_V4.findall(text), *_V6.findall(text)]:
        try:
            ipaddress.ip_address(match)
        except ValueError:
            continue
        found.append(match)
    return found


def scan_export(out: Path, addresses: dict[str, set[int]], key: bytes | None, k: int) -> list[str]:
    """Problems found in the export directory ``out`` (empty: nothing leaks)."""
    problems = []
    forbidden = forbidden_strings(addresses, key)
    files = sorted(out.iterdir())
    assert files, "an export with no files"
    for path in files:
        text = path.read_bytes().decode("latin-1")
        problems += [f"{path.name}: contains {s!r}" for s in sorted(forbidden) if s in text]
        if path.suffix in (".csv", ".md", ".svg"):
            problems += [f"{path.name}: address literal {a!r}" for a in address_literals(text)]
        if path.suffix == ".png":
            meta = png_text(path.read_bytes())
            problems += [f"{path.name}: metadata {s!r}" for s in sorted(forbidden) if s in meta]
            problems += [f"{path.name}: address literal {a!r} in metadata" for a in address_literals(meta)]
        if path.suffix == ".csv" and path.name != "swarms.csv":
            problems += small_cells(path, k)
    return problems


def png_text(data: bytes) -> str:
    """The text chunks of a PNG (tEXt, zTXt, iTXt; PNG specification section 11.3.4), decompressed."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    out, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"tEXt":
            out.append(body.decode("latin-1"))
        elif kind == b"zTXt":
            name, _, rest = body.partition(b"\x00")
            out.append(name.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1"))
        elif kind == b"iTXt":
            name, _, rest = body.partition(b"\x00")
            flag, text = rest[0], rest[2:].split(b"\x00", 2)[-1]
            out.append(
                name.decode("latin-1") + " " + (zlib.decompress(text) if flag else text).decode("utf-8")
            )
    return "\n".join(out)


def small_cells(path: Path, k: int) -> list[str]:
    """Released cells of 1..k-1 units, and partition groups whose unreleased part is 1..k-1 units."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    problems = []
    groups: dict[tuple[str, ...], dict[str, int]] = {}
    header = list(rows[0]) if rows else []
    label = header[header.index("addresses") - 1] if rows else ""
    for row in rows:
        if row["suppressed"] == "1":
            if row["addresses"] or row["peers"]:
                problems.append(f"{path.name}: a suppressed row with counts {row}")
            continue
        units = int(row["addresses"])
        if 0 < units < k:
            problems.append(f"{path.name}: released cell of {units} < k={k}: {row}")
        group = tuple(row[c] for c in header[: header.index(label)])
        groups.setdefault(group, {})[row[label]] = units
    if path.stem not in FIXED_LABEL_TABLES:
        for group, cells in groups.items():
            if TOTAL not in cells:
                continue
            rest = cells[TOTAL] - sum(n for name, n in cells.items() if name not in (TOTAL, SUPPRESSED))
            if 0 < rest < k:
                problems.append(f"{path.name}: group {group}: total minus released labels is {rest} < k")
    return problems
