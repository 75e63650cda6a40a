"""Cells of the research tables and their small-cell suppression (pure).

A *cell* counts distinct counting units (addresses, or /24 and /48 networks: :mod:`.pseudonym`) and
distinct peers (a unit with a port) of one group (a swarm, or a swarm and an hour) under one label (a
country, a tier, an hour of the day...). Counts are sets of pseudonyms until the very end, so nothing is
counted twice and no address is ever seen here.

A cell with 1 to k-1 units is never released. Two kinds of group:

- **Partition** (every unit in exactly one label: the tier an address reached, its country, its client):
  the labels' counts add up to the group's total, so one suppressed cell could be recomputed as the total
  minus the released cells (a differencing attack). Therefore the suppressed cells are pooled into one
  ``(suppressed)`` row and their labels are not shown (a label alone says "at least one address here").
  When that pool holds fewer than k units, the smallest released cells join it (complementary
  suppression) until it holds k or more; when the whole group holds fewer than k units, nothing of the
  group is released but a suppressed ``(all)`` row. So every released number, and the difference of any
  two released numbers of one group, covers at least k units or none.
- **Fixed labels** (the 24 hours of the day: a unit may be in several labels, no total is released):
  each cell is released when it holds 0 or at least k units, else it is shown suppressed (empty counts).

What this does NOT protect (docs/research.md, "Limits"): differences between groups or tables that
overlap (an hour's total against the hour-of-day cell of a one-day study; two exports of overlapping
windows); facts held by the released labels themselves (a country row says k addresses were there).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SUPPRESSED = "(suppressed)"
TOTAL = "(all)"
_HEX = "[0-9A-Fa-f]"
_QUAD = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_PORT = r"(?::[0-9]{1,5}(?![0-9]))?"  # RFC 3986 section 3.2.3, after an address
_ZONE = r"(?:%[0-9A-Za-z._~-]+)?"  # RFC 6874
_V6_BODY = rf"(?:{_HEX}{{0,4}}:){{2,7}}(?:{_QUAD}|{_HEX}{{1,4}})?{_ZONE}"
_PATTERNS = (  # in order: the widest forms first, the leak scan's own two last (tests/research/scan.py)
    re.compile(rf"\[(?P<ip>{_V6_BODY})\]{_PORT}"),  # [v6]:port, RFC 3986 section 3.2.2
    re.compile(rf"(?<![0-9A-Fa-f:])(?P<ip>{_V6_BODY})(?![0-9A-Fa-f:])"),  # bare v6, v4-mapped tail
    re.compile(rf"(?<![0-9])(?P<run>[0-9]+(?:\.[0-9]+){{3,}})(?![0-9]){_PORT}"),  # dotted runs, port
    re.compile(rf"(?<![0-9A-Za-z:])(?P<ip>{_HEX}{{0,4}}(?::{_HEX}{{0,4}}){{2,7}})(?![0-9A-Za-z:])"),
)
_HIDDEN = frozenset(("Cc", "Cf"))  # control and format characters (zero-width, bidi): Unicode 15, 4.5


@dataclass(slots=True)
class Units:
    """The distinct address (or network) pseudonyms and peer pseudonyms of one cell."""

    addresses: set[str] = field(default_factory=set)
    peers: set[str] = field(default_factory=set)

    def add(self, address: str, peer: str) -> None:
        self.addresses.add(address)
        self.peers.add(peer)

    def merge(self, other: Units) -> None:
        self.addresses |= other.addresses
        self.peers |= other.peers


@dataclass(frozen=True, slots=True)
class Row:
    """One released row: its group values, its label, the counts (None: suppressed) and the share of the
    group's total units (0.0..1.0; None when suppressed or the group has no total)."""

    group: tuple[str, ...]
    label: str
    addresses: int | None
    peers: int | None
    share: float | None

    @property
    def suppressed(self) -> bool:
        return self.addresses is None


@dataclass(frozen=True, slots=True)
class Table:
    """One output table (``name``.csv): ``group_columns`` then ``label_column``, its rows, and how many
    non-empty cells were suppressed (pooled or emptied)."""

    name: str
    title: str
    group_columns: tuple[str, ...]
    label_column: str
    rows: tuple[Row, ...]
    suppressed_cells: int
    partition: bool


def partition_rows(
    group: tuple[str, ...], cells: Mapping[str, Units], k: int, order: Sequence[str] | None = None
) -> tuple[list[Row], int]:
    """The released rows of a partition group and the number of suppressed cells (module docstring).

    Released labels are listed in ``order`` when given, else by units (most first), then label; then the
    ``(suppressed)`` pool if any, then the ``(all)`` total.
    """
    total = Units()
    for units in cells.values():
        total.merge(units)
    filled = {label: units for label, units in cells.items() if units.addresses}
    if len(total.addresses) < k:
        return [Row(group, TOTAL, None, None, None)] if filled else [], len(filled)
    released = {label: u for label, u in filled.items() if len(u.addresses) >= k}
    pooled = [label for label in filled if label not in released]
    pool = Units()
    for label in pooled:
        pool.merge(filled[label])
    while pooled and len(pool.addresses) < k:  # complementary suppression: the smallest released cell
        smallest = min(released, key=lambda label: (len(released[label].addresses), label))
        pool.merge(released.pop(smallest))
        pooled.append(smallest)
    rank = {label: i for i, label in enumerate(order or ())}
    labels = sorted(released, key=lambda lb: (rank.get(lb, len(rank)), -len(released[lb].addresses), lb))
    n = len(total.addresses)
    rows = [_row(group, label, released[label], n) for label in labels]
    if pooled:
        rows.append(_row(group, SUPPRESSED, pool, n))
    rows.append(_row(group, TOTAL, total, n))
    return rows, len(pooled)


def fixed_rows(
    group: tuple[str, ...], cells: Mapping[str, Units], k: int, labels: Iterable[str]
) -> tuple[list[Row], int]:
    """Rows of a fixed-label group: every label in ``labels`` order, released when it holds 0 or at least
    ``k`` units, else with empty counts; and the number of suppressed cells."""
    rows: list[Row] = []
    suppressed = 0
    for label in labels:
        units = cells.get(label, Units())
        if 0 < len(units.addresses) < k:
            rows.append(Row(group, label, None, None, None))
            suppressed += 1
        else:
            rows.append(Row(group, label, len(units.addresses), len(units.peers), None))
    return rows, suppressed


def _row(group: tuple[str, ...], label: str, units: Units, total: int) -> Row:
    return Row(group, label, len(units.addresses), len(units.peers), len(units.addresses) / total)


def scrub(text: str) -> str:
    """Free text from peers, trackers or datasets made safe for a research table: control characters
    dropped, every IP address replaced by ``[address]`` (a client string or a torrent name may carry one),
    and a leading ``= + - @`` quoted with ``'`` so no spreadsheet runs it as a formula (OWASP "CSV
    injection").

    An address is found wherever it is embedded (lookaround patterns, :data:`_PATTERNS`): run on from
    letters (``cafe10.1.2.3``), with its port (``10.1.2.3:554``, ``[2001:db8::1]:6881``: RFC 3986 section
    3.2.2, the brackets and the port go with it), IPv4-mapped (``::ffff:10.1.2.3``) or with a zone
    (``fe80::1%eth0``, RFC 6874). The passes repeat until none replaces anything (each replacement removes
    at least one digit or colon, so at most ``len(text) + 1`` rounds); the last two are the export leak
    scan's own patterns, so nothing that scan would flag as an address survives.

    A four-part dotted version (``libtorrent 2.0.11.0``) is a valid IPv4 address (RFC 791 dotted quad)
    and cannot be told from one, so it is replaced too: safety first; two- and three-part versions stay.
    Likewise a longer dotted run is replaced whole when any four consecutive parts of it read as an
    address (``2024.10.1.2.3``, ``Film.192.168.1.10.mkv``), zero-padded parts included (``010.001.002.003``:
    ``inet_aton`` reads them, as octal). The text is first NFKC-normalised (full-width ``１０．１．２．３``
    reads as ASCII: Unicode UAX #15) and stripped of control and format characters (a zero-width space
    inside an address hides it from a pattern but not from a reader).
    """
    text = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) not in _HIDDEN)
    for _ in range(len(text) + 1):
        before = text
        for pattern in _PATTERNS:
            text = pattern.sub(_replace, text)
        if text == before:
            break
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _replace(match: re.Match[str]) -> str:
    """``[address]`` for a match whose ``ip`` group parses as an IP address (Python ``ipaddress``, zone
    included), or whose dotted ``run`` has four consecutive parts of 0..255 each; else the match unchanged."""
    if "run" in match.groupdict():
        parts = [_octet(p.lstrip("0")) for p in match.group("run").split(".")]
        quads = any(all(parts[i : i + 4]) for i in range(len(parts) - 3))
        return "[address]" if quads else match.group(0)
    try:
        ipaddress.ip_address(match.group("ip"))
    except ValueError:
        return match.group(0)
    return "[address]"


def _octet(digits: str) -> bool:
    """True for decimal digits (leading zeros stripped) of 0..255; never parses a long run (Python limits
    ``int()`` of a string to 4,300 digits)."""
    return len(digits) <= 3 and int(digits or "0") <= 255
