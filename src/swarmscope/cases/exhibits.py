"""ISP exhibits for a disclosure request: one CSV and one PDF per ISP (and per advisory region on request).

What the exhibit says: an IP address *associated with a subscriber account* at the listed times sent us
data of the torrent that we checked; never that a subscriber downloaded anything. The last column says,
for each counted hit, exactly what was received and checked: a whole piece against the torrent's hash, or
a 16 KiB block against a piece already checked (:mod:`swarmscope.cases.hit_proofs`); a block is never
called a piece. Geolocation is labelled advisory. Columns: :data:`COLUMNS`.

What is hashed: the SHA-256 printed in every PDF page footer (and stored as ``disclosure_request.
exhibit_sha256``) is the SHA-256 of the CSV file's exact bytes as written — UTF-8 without BOM, the header
row first, CRLF line ends (RFC 4180), cells after formula-injection neutralising. ``sha256sum
exhibit.csv`` reproduces it. The PDF cannot carry a hash of itself; it carries the hash of the CSV whose
lines it shows.

Hostile text (torrent names, regions, ISP names) is escaped in the HTML by Jinja2 autoescape and can never
start a spreadsheet formula in the CSV (a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'``
prefix — OWASP "CSV injection").

Source: README "The legal workflow" (``exhibits``); RFC 4180 (CSV); CSS Paged Media (page counters) as
WeasyPrint renders it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import jinja2

from swarmscope.cases.case_proof import CaseProof, ProvenCaseHits
from swarmscope.cases.case_state import split_altered
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.hit_proofs import hit_lines
from swarmscope.cases.pdf import html_to_pdf
from swarmscope.evidence.bundle.exhibits import formula_safe
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal.notices import CaseDocument, attach_exhibit, case_documents

COLUMNS: tuple[str, ...] = (
    "Doe number",
    "IP address associated with a subscriber account",
    "Port",
    "First hit (UTC)",
    "Last hit (UTC)",
    "Verified hits",
    "Infohash",
    "File name (torrent name)",
    "Work title",
    "ISP",
    "Region (advisory)",
    "City (advisory)",
    "What each verified hit proved (start UTC: what was received and checked)",
)
_MONO_COLUMNS = frozenset({1, 6})  # IP and infohash cells in a monospace font
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_SLUG = re.compile(r"[^A-Za-z0-9]+")
_HIT_SEPARATOR = "; "  # between the hit lines of one proof cell


@dataclass(frozen=True, slots=True)
class Exhibit:
    """One exhibit: its ISP (and region), the table lines (text cells, :data:`COLUMNS` order), its CSV."""

    isp: str
    isp_id: int
    region: str | None
    lines: tuple[tuple[str, ...], ...]
    case_ids: tuple[int, ...]
    csv_bytes: bytes
    sha256: str
    stem: str

    @property
    def title(self) -> str:
        """The exhibit's name: the ISP, and the region when there is one."""
        return self.isp if self.region is None else f"{self.isp} / {self.region}"

    @property
    def csv_name(self) -> str:
        """The CSV file name (the file the footer hash covers)."""
        return f"{self.stem}.csv"


@dataclass(frozen=True, slots=True)
class WrittenExhibit:
    """Files written for one exhibit and the disclosure request it was recorded on."""

    exhibit: Exhibit
    csv_path: Path
    pdf_path: Path
    request_id: int | None


def csv_cell(text: str) -> str:
    """A CSV cell that no spreadsheet evaluates: a leading ``= + - @``, tab or CR gets a ``'`` prefix."""
    return formula_safe(text)


def exhibit_line(doc: CaseDocument, proofs: Sequence[str] = ()) -> tuple[str, ...]:
    """One case as exhibit cells (:data:`COLUMNS` order; times ISO 8601 UTC; blanks for unknowns).

    ``proofs``: one :func:`swarmscope.cases.hit_proofs.hit_line` per counted hit, joined by ``"; "``
    (:data:`_HIT_SEPARATOR`; a hit line never contains it).
    """
    return (
        doc.doe,
        doc.ip,
        str(doc.port),
        us_to_iso(doc.first_hit_us),
        us_to_iso(doc.last_hit_us),
        str(doc.hits),
        doc.infohash,
        doc.torrent_name or "",
        doc.work_title or "",
        doc.isp_name,
        doc.region or "",
        doc.city or "",
        _HIT_SEPARATOR.join(proofs),
    )


def render_csv(lines: Sequence[Sequence[str]]) -> bytes:
    """The exhibit CSV: header then lines, RFC 4180 quoting, CRLF, UTF-8; cells via :func:`csv_cell`."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow([csv_cell(cell) for cell in line])
    return buffer.getvalue().encode("utf-8")


def _stem(isp_name: str, isp_id: int, region: str | None) -> str:
    """A file name stem from hostile names: ASCII letters/digits only, plus the ISP id for uniqueness."""
    parts = [f"exhibit-{isp_id}", _SLUG.sub("_", isp_name).strip("_")[:40]]
    if region is not None:
        parts.append(_SLUG.sub("_", region).strip("_")[:40] or "region")
    return "-".join(p for p in parts if p)


def build_exhibits(
    docs: Sequence[CaseDocument],
    *,
    by_region: bool = False,
    proofs: Mapping[int, Sequence[str]] | None = None,
) -> list[Exhibit]:
    """Group cases into exhibits: one per ISP, or one per (ISP, advisory region) when ``by_region``.

    Args:
        docs: cases as :func:`store.legal.notices.case_documents` returns them. by_region: split by region
            (cases with no region form their own exhibit, region ``"unknown"``). proofs: case id → its
            hit lines (:func:`case_proofs`); a case missing here gets an empty proof cell.

    Returns:
        Exhibits ordered by ISP then region, lines ordered by Doe number.
    """

    def key(doc: CaseDocument) -> tuple[str, int, str]:
        return (doc.isp_name, doc.isp_id, (doc.region or "unknown") if by_region else "")

    exhibits = []
    for (isp_name, isp_id, region), group in groupby(sorted(docs, key=lambda d: (*key(d), d.doe)), key=key):
        members = list(group)
        lines = tuple(exhibit_line(d, (proofs or {}).get(d.case_id, ())) for d in members)
        data = render_csv(lines)
        exhibits.append(
            Exhibit(
                isp=isp_name,
                isp_id=isp_id,
                region=region if by_region else None,
                lines=lines,
                case_ids=tuple(d.case_id for d in members),
                csv_bytes=data,
                sha256=hashlib.sha256(data).hexdigest(),
                stem=_stem(isp_name, isp_id, region if by_region else None),
            )
        )
    return exhibits


def case_proofs(store: Store, proof: ProvenCaseHits, docs: Sequence[CaseDocument]) -> dict[int, list[str]]:
    """Case id → what each counted, proven hit proved (:func:`swarmscope.cases.hit_proofs.hit_lines`)."""
    return {d.case_id: hit_lines(store, proof, d) for d in docs}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(exhibit: Exhibit, generated_us: int) -> str:
    """The exhibit as HTML for WeasyPrint (every data cell escaped by Jinja2 autoescape).

    The proof column (the last) is shown as its own table after the lines, one hit per line, so the
    table of lines keeps readable widths.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", exhibit.sha256):
        raise ValueError("exhibit sha256 must be 64 lower-case hex digits (it is placed in CSS)")
    template = _environment().get_template("exhibit.html.j2")
    return template.render(
        exhibit=exhibit,
        columns=COLUMNS[:-1],
        rows=[line[:-1] for line in exhibit.lines],
        proof_column=COLUMNS[-1],
        proofs=[(line[0], line[-1].split(_HIT_SEPARATOR) if line[-1] else []) for line in exhibit.lines],
        mono=_MONO_COLUMNS,
        generated=us_to_iso(generated_us),
    )


def render_pdf(exhibit: Exhibit, generated_us: int) -> bytes:
    """The exhibit PDF: the table, "Page X of Y" and the CSV SHA-256 in every page footer.

    Args:
        exhibit: from :func:`build_exhibits`. generated_us: UTC µs printed as the generation time.

    Returns:
        PDF bytes (WeasyPrint; no external resource is fetched: :func:`swarmscope.cases.pdf.html_to_pdf`).
    """
    return html_to_pdf(render_html(exhibit, generated_us))


def produce_exhibits(
    store: Store,
    out: Path,
    *,
    isp_name: str | None = None,
    by_region: bool = False,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    refused: list[tuple[str, str]] | None = None,
    policy: DocumentPolicy = COURT_TESTED,
) -> list[WrittenExhibit]:
    """Write every exhibit's CSV and PDF under ``out`` and record it on a drafted disclosure request.

    Only cases whose claim the evidence proven against the sealed ledger still carries are listed
    (:class:`swarmscope.cases.case_proof.CaseProof`), and whose stored metainfo, when there is one, hashes
    to their infohash (:func:`swarmscope.store.legal.notices.sealed_torrent`); the others are left out and
    named.

    Args:
        store: an open store. out: directory (created if missing).
        isp_name: only this ISP. by_region: one exhibit per ISP and advisory region.
        actor: who made them (disclosure_event). now_us: UTC µs (generation time, request dates).
        trust: node keys and clock to prove against (None: the store's own node key, system clock).
        refused: receives (DOE number, why) for every case left out.
        policy: the thresholds each case is re-judged under (default: the court-tested defaults; the
            case's build note only tightens them, :mod:`swarmscope.cases.document_policy`).

    Returns:
        One :class:`WrittenExhibit` per exhibit (none when no case is waiting for a disclosure).

    Raises:
        StoreError: the database refused the request row. OSError: ``out`` is not writable.
    """
    proof = CaseProof(store, store_trust(store, trust), policy)
    stated, altered = split_altered(store, proof.directory.history, case_documents(store, isp_name=isp_name))
    proven, unproven = proof.split(stated)
    unproven = altered + unproven
    docs = [doc for doc in proven if doc.torrent_problem is None]  # never a torrent name nobody sealed
    unproven += [(doc.doe, doc.torrent_problem) for doc in proven if doc.torrent_problem is not None]
    if refused is not None:
        refused.extend(unproven)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for exhibit in build_exhibits(docs, by_region=by_region, proofs=case_proofs(store, proof, docs)):
        csv_path, pdf_path = out / exhibit.csv_name, out / f"{exhibit.stem}.pdf"
        csv_path.write_bytes(exhibit.csv_bytes)
        pdf_path.write_bytes(render_pdf(exhibit, now_us))
        request_id = attach_exhibit(
            store,
            exhibit.isp_id,
            exhibit.region,
            exhibit.sha256,
            exhibit.case_ids,
            actor=actor,
            now_us=now_us,
        )
        written.append(WrittenExhibit(exhibit, csv_path, pdf_path, request_id))
    return written
