"""ACNS 2.0 (v1.2) XML: the ``Infringement`` document of one case, the schema, validation, extraction.

The document is an ``Infringement`` element in the ``http://www.acns.net/ACNS`` namespace: Case (stable ID),
Complainant (the rights holder), Service_Provider (the ISP and its abuse address), Source (first verified
hit, IP address, port, ``Type`` BITTORRENT, ``SubType`` P2P/BITTORRENT with the client the peer announced)
and Content/Item (first hit, one ``AlsoSeen`` interval per verified hit, work title, torrent name as
``FileName``, size, infohash as ``Hash Type="SHA1"`` — ``SHA256`` for a v2-only swarm). Each ``AlsoSeen``
carries, as its text (the schema's ``type_AlsoSeen`` is ``xs:string`` content with ``Start``/``End``),
exactly what that hit proved: a whole piece or one block (:func:`swarmscope.cases.hit_proofs.hit_proof`).
It is deterministic: the same case and complainant give the same bytes (no creation time inside).
Hostile text is escaped by lxml; characters XML 1.0 cannot carry become U+FFFD.

Validation: :func:`load_schema` reads ``1.2-acns.xsd`` with its two imports (xmldsig, xmlmime) resolved to
the files in the same directory — never fetched — and :func:`validate_notice` raises :class:`NoticeError`
with lxml's error log.

Source: ACNS 2.0 v1.2 schema and sample (``specs/acns/1.2-acns.xsd``, ``1.2-full.xml``); README "ACNS
notices".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from swarmscope.cases.hit_proofs import TorrentPieces, hit_proof, torrent_pieces
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.legal.notices import CaseDocument, HitWindow

ACNS_NS = "http://www.acns.net/ACNS"
_IMPORTS = {
    "http://www.w3.org/2005/05/xmlmime": "xmlmime.xsd",
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig.xsd",
}

# Characters XML 1.0 cannot carry (C0 but tab/LF/CR, surrogates, U+FFFE/FFFF) and, in the text, C1 and DEL.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class NoticeError(SwarmscopeError):
    """A notice cannot be made or does not validate against the ACNS schema (lxml's errors attached)."""


@dataclass(frozen=True, slots=True)
class Complainant:
    """The ACNS ``Complainant`` contact (``Entity`` and ``Email`` are required by the schema)."""

    entity: str
    email: str
    contact: str | None = None
    address: str | None = None
    phone: str | None = None
    url: str | None = None


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ACNS_NS}}}{tag}")
    if text is not None:
        element.text = _NOT_XML.sub("\ufffd", text)
    for name, value in attrs.items():
        element.set(name, _NOT_XML.sub("\ufffd", value))
    return element


def _contact(parent: etree._Element, tag: str, entity: str, email: str, **optional: str | None) -> None:
    node = _sub(parent, tag)
    _sub(node, "Entity", entity)
    for name, value in optional.items():
        if value:
            _sub(node, name, value)
    _sub(node, "Email", email)


def application_name(windows: list[HitWindow]) -> str | None:
    """The BitTorrent client the peer announced in its first identified verified hit (BEP 20, BEP 10 v)."""
    for window in windows:
        if window.client:
            return (
                f"{window.client} {window.client_version}".strip() if window.client_version else window.client
            )
    return None


def build_notice_xml(
    doc: CaseDocument,
    windows: list[HitWindow],
    complainant: Complainant,
    notice_id: str,
    pieces: TorrentPieces | None = None,
) -> bytes:
    """The ACNS ``Infringement`` document of one case (UTF-8 XML with declaration, pretty-printed).

    Args:
        doc: the case (:func:`store.legal.notices.case_documents`). windows: its verified hits, proven
            (:func:`swarmscope.cases.hit_proofs.case_windows`; each becomes an ``AlsoSeen``). complainant:
            the sender. notice_id: the stable Case ID (:func:`notice_id_for`). pieces: the torrent's piece
            facts for the proof wording (:func:`swarmscope.cases.hit_proofs.torrent_pieces`; None: from the
            infohash alone, piece lengths unknown).

    Returns:
        XML bytes.

    Raises:
        NoticeError: the ISP has no abuse e-mail (ACNS requires ``Service_Provider/Email``).
    """
    if not doc.abuse_email:
        raise NoticeError(f"{doc.doe}: ISP {doc.isp_name!r} has no abuse e-mail address")
    root = etree.Element(f"{{{ACNS_NS}}}Infringement", nsmap={None: ACNS_NS})
    case = _sub(root, "Case")
    _sub(case, "ID", notice_id)
    _sub(case, "Status", "Open")
    _sub(case, "Severity", "Normal")
    c = complainant
    _contact(
        root, "Complainant", c.entity, c.email, Contact=c.contact, Address=c.address, Phone=c.phone,
        ContactURL=c.url,
    )  # fmt: skip
    _contact(root, "Service_Provider", doc.isp_name, doc.abuse_email)
    source = _sub(root, "Source")
    _sub(source, "TimeStamp", us_to_iso(doc.first_hit_us))
    _sub(source, "IP_Address", doc.ip)
    _sub(source, "Port", str(doc.port))
    _sub(source, "Type", "BITTORRENT")
    app_attrs = {"BaseType": "P2P", "Protocol": "BITTORRENT"}
    if application := application_name(windows):
        app_attrs["Application"] = application
    _sub(source, "SubType", None, **app_attrs)
    _sub(source, "Number_Files", "1")
    item = _sub(_sub(root, "Content"), "Item")
    _sub(item, "TimeStamp", us_to_iso(doc.first_hit_us))
    pieces = pieces or torrent_pieces(None, doc.infohash)
    for window in windows:
        start, end = us_to_iso(window.started_us), us_to_iso(window.ended_us)
        _sub(item, "AlsoSeen", hit_proof(window, pieces), Start=start, End=end)
    if doc.work_title:
        _sub(item, "Title", doc.work_title)
    _sub(item, "FileName", doc.torrent_name or doc.infohash)
    if doc.total_size is not None:
        _sub(item, "FileSize", str(doc.total_size))
    _sub(item, "Hash", doc.infohash.upper(), Type=hash_type(doc.infohash))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def hash_type(infohash: str) -> str:
    """ACNS ``Hash/@Type`` of an infohash: SHA1 (40 hex digits, v1) or SHA256 (64, v2)."""
    return "SHA1" if len(infohash) == 40 else "SHA256"  # BEP 3 (v1) / BEP 52 (v2) infohash


class _LocalImports(etree.Resolver):  # type: ignore[misc]  # lxml stubs: Resolver is Any
    """Resolve the ACNS schema's two imports to files beside it; refuse every other external entity."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> Any:
        url = system_url or ""
        if "://" not in url or url.startswith("file://"):
            return None  # a local file: the parser reads it (the schema itself, or an import beside it)
        name = _IMPORTS.get(url)
        if name is None:
            raise NoticeError(f"ACNS schema: refusing to fetch {system_url!r} (only local imports)")
        return self.resolve_filename(str(self.directory / name), context)


def load_schema(path: Path) -> etree.XMLSchema:
    """The ACNS 1.2 schema, its imports (xmldsig.xsd, xmlmime.xsd) read from ``path``'s directory.

    Raises:
        NoticeError: missing/unreadable schema or import, or not a valid XML Schema.
    """
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    parser.resolvers.add(_LocalImports(path.resolve().parent))
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise NoticeError(f"ACNS schema {path}: {exc}") from exc


def validate_notice(schema: etree.XMLSchema, xml: bytes) -> None:
    """Check a notice against the ACNS schema.

    Raises:
        NoticeError: not well-formed, or invalid; the message lists lxml's errors (line: message).
    """
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    try:
        document = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise NoticeError(f"notice is not well-formed XML: {exc}") from exc
    if not schema.validate(document):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise NoticeError(f"notice does not validate against the ACNS schema: {errors}")


def extract_xml(body: str) -> bytes:
    """The ACNS XML from a notice e-mail body: from the LAST XML declaration to the last ``</Infringement>``.

    The text above the XML may quote hostile torrent names (even ``<?xml``); inside the XML they are escaped,
    so the last declaration is the real one.

    Raises:
        NoticeError: no ACNS XML in the body.
    """
    start = body.rfind("<?xml")
    end = body.rfind("</Infringement>")
    if start < 0 or end < start:
        raise NoticeError("no ACNS Infringement XML in the message body")
    return body[start : end + len("</Infringement>")].encode("utf-8")
