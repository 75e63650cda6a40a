"""ACNS notices per case: complainant, the human-readable text, the e-mail, writing, recording and sending.

One notice per open case (:data:`NOTICE_STATUSES`); its Case ID is stable (``<prefix>-<Doe number>``) so a
re-run refreshes the same ``notice`` row and never re-sends a sent notice. The e-mail body is the text,
then the ACNS XML (:mod:`swarmscope.cases.acns`) — the ACNS convention, so ISP parsers find the XML and
people read the text. Wording: an IP address *associated with* a subscriber account; nothing says who
did anything.

Source: ACNS 2.0 v1.2 (``specs/acns/1.2-acns.xsd``); README "ACNS notices".
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from lxml import etree

from swarmscope.cases.acns import (
    Complainant,
    NoticeError,
    application_name,
    build_notice_xml,
    hash_type,
    validate_notice,
)
from swarmscope.cases.case_proof import CaseProof
from swarmscope.cases.case_state import split_altered
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.hit_proofs import (
    TorrentPieces,
    case_pieces,
    case_windows,
    hit_line,
    offered,
    torrent_pieces,
)
from swarmscope.errors import InputError
from swarmscope.evidence.records import us_to_iso
from swarmscope.net.smtp_client import MailError, send_message
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal.notices import (
    CaseDocument,
    HitWindow,
    NoticeRow,
    case_documents,
    mark_notice_sent,
    record_notice,
)

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def load_complainant(path: Path) -> Complainant:
    """Read a complainant from a TOML file: ``entity``, ``email`` and optional ``contact``, ``address``,
    ``phone``, ``url`` (top level or under ``[complainant]``).

    Raises:
        InputError: unreadable file, bad TOML, unknown or missing keys.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"complainant file {path}: {exc}") from exc
    data = data.get("complainant", data)
    known = {f.name for f in fields(Complainant)}
    if unknown := sorted(set(data) - known):
        raise InputError(f"complainant file {path}: unknown keys {unknown}")
    if not isinstance(data.get("entity"), str) or not isinstance(data.get("email"), str):
        raise InputError(f"complainant file {path}: 'entity' and 'email' (strings) are required")
    return Complainant(**{k: str(v) for k, v in data.items()})


COMPLAINANT_OPTIONS = "--complainant-entity/--complainant-email or --complainant-file"  # the CLI's words


def complainant_for(doc: CaseDocument, override: Complainant | None) -> Complainant:
    """The complainant of a case: ``override`` when given, else the case's client (contact as e-mail).

    Raises:
        NoticeError: no override and the client has no e-mail contact (ACNS requires ``Email``).
    """
    if override is not None:
        return override
    if doc.client_name and doc.client_contact and "@" in doc.client_contact:
        return Complainant(entity=doc.client_name, email=doc.client_contact.strip())
    raise NoticeError(
        f"{doc.doe}: no complainant e-mail (the client has no e-mail contact); give {COMPLAINANT_OPTIONS}"
    )


def notice_id_for(doc: CaseDocument, prefix: str) -> str:
    """The stable ACNS Case ID of a case's notice: ``<prefix>-<Doe number>``."""
    return f"{prefix}-{doc.doe}"


def render_notice_text(
    doc: CaseDocument,
    windows: list[HitWindow],
    complainant: Complainant,
    notice_id: str,
    pieces: TorrentPieces | None = None,
) -> str:
    """The human-readable notice placed above the XML (plain text; "associated with" wording).

    Each hit is listed with what it proved (:func:`swarmscope.cases.hit_proofs.hit_line`), and the intro
    says pieces or blocks as the hits do (:func:`swarmscope.cases.hit_proofs.offered`); ``pieces`` as
    for :func:`swarmscope.cases.acns.build_notice_xml`.
    """
    pieces = pieces or torrent_pieces(None, doc.infohash)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=False,  # text/plain; hostile control characters are replaced instead (finalize)
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: "" if value is None else _NOT_TEXT.sub("\ufffd", str(value)),
    )
    return env.get_template("notice.txt.j2").render(
        notice_id=notice_id,
        isp=doc.isp_name,
        complainant=complainant,
        title=doc.work_title or doc.torrent_name or doc.infohash,
        ip=doc.ip,
        port=doc.port,
        first_hit=us_to_iso(doc.first_hit_us),
        last_hit=us_to_iso(doc.last_hit_us),
        hits=doc.hits,
        application=application_name(windows),
        file_name=doc.torrent_name or "(unknown)",
        file_size=doc.total_size,
        hash_type=hash_type(doc.infohash),
        infohash=doc.infohash.upper(),
        hit_lines=[hit_line(w, pieces) for w in windows],
        offered=offered(windows),
    )


MESSAGE_ID_DOMAIN = "swarmscope.invalid"  # a Message-ID's domain when the sender names none


def notice_message(text: str, xml: bytes, *, notice_id: str, sender: str, to: str) -> EmailMessage:
    """The notice e-mail: the text, a blank line, then the XML, in one text/plain UTF-8 body (ACNS usage).

    Args:
        text: :func:`render_notice_text`. xml: :func:`build_notice_xml`. notice_id: the Case ID (subject).
        sender: From address. to: the ISP's abuse address.

    Raises:
        NoticeError: an address with a line break (header injection) or no ``@``.
    """
    for address in (sender, to):
        if "@" not in address or any(ch in address for ch in "\r\n"):
            raise NoticeError(f"not an e-mail address: {address!r}")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Notice of claimed infringement - Case ID {notice_id}"
    # make_msgid without a domain asks socket.getfqdn() (a DNS lookup): the sender's domain, else a name
    # reserved never to resolve (RFC 6761 section 6.4).
    domain = parseaddr(sender)[1].rpartition("@")[2]  # ``Name <n@d>`` and ``n@d (Name)`` alike
    message["Message-ID"] = make_msgid(domain=domain or MESSAGE_ID_DOMAIN)
    message["X-ACNS-Case-ID"] = notice_id
    message.set_content(f"{text.rstrip()}\n\n{xml.decode('utf-8')}", charset="utf-8", cte="8bit")
    return message


# Cases that get a notice: every open case except a disputed or paid one (a dispute stops further mail).
NOTICE_STATUSES: tuple[str, ...] = (
    "candidate",
    "requested",
    "identified",
    "drafted",
    "approved",
    "sent",
    "no_response",
    "escalated",
)


@dataclass(frozen=True, slots=True)
class PreparedNotice:
    """One rendered notice: its case, XML, text, the stored row and the files written."""

    doc: CaseDocument
    notice_id: str
    xml: bytes
    text: str
    row: NoticeRow
    xml_path: Path
    body_path: Path

    @property
    def body(self) -> str:
        """The e-mail body: the text, a blank line, the XML."""
        return f"{self.text.rstrip()}\n\n{self.xml.decode('utf-8')}"


@dataclass(frozen=True, slots=True)
class NoticeBatch:
    """What :func:`prepare_notices` made, and the cases it could not make a notice for (Doe, reason)."""

    notices: list[PreparedNotice]
    skipped: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of sending one notice: its Message-ID, or the error (then nothing was marked sent)."""

    notice_id: str
    to: str
    message_id: str | None
    error: str | None


def prepare_notices(
    store: Store,
    out: Path,
    *,
    now_us: int,
    isp_name: str | None = None,
    complainant: Complainant | None = None,
    id_prefix: str = "SWS",
    schema: etree.XMLSchema | None = None,
    trust: EvidenceTrust | None = None,
    policy: DocumentPolicy = COURT_TESTED,
) -> NoticeBatch:
    """Render, validate (when ``schema`` is given), write and record one notice per open case.

    Writes ``<notice id>.xml`` (the ACNS XML) and ``<notice id>.txt`` (the whole e-mail body) under ``out``
    and stores/refreshes the ``notice`` row (``xml_sha256`` = SHA-256 of the XML file's bytes).

    Args:
        store: an open store. out: directory (created). now_us: UTC µs for new rows.
        isp_name: only this ISP. complainant: overrides each case's client. id_prefix: Case ID prefix.
        schema: :func:`load_schema`; None skips validation (the CLI refuses ``--send`` then).
        trust: node keys and clock to prove the evidence against (None: the store's own key, system clock).
            A case whose claim the proven evidence does not carry is skipped, named
            (:class:`swarmscope.cases.case_proof.CaseProof`); the ``AlsoSeen`` windows are proven hits only.
            So is a case whose stored metainfo does not hash to its infohash: the torrent name and size
            come only from metainfo that does (:func:`swarmscope.store.legal.notices.sealed_torrent`).
        policy: the thresholds each case is re-judged under (default: the court-tested defaults; the
            case's build note only tightens them, :mod:`swarmscope.cases.document_policy`).

    Returns:
        :class:`NoticeBatch`.

    Raises:
        NoticeError: a rendered notice does not validate (a bug: nothing of it is written or recorded).
        StoreError: the database refused a row. OSError: ``out`` not writable.
    """
    out.mkdir(parents=True, exist_ok=True)
    proof = CaseProof(store, store_trust(store, trust), policy)
    stated, refused = split_altered(
        store, proof.directory.history, case_documents(store, isp_name=isp_name, statuses=NOTICE_STATUSES)
    )
    docs, unproven = proof.split(stated)
    refused += unproven
    batch = NoticeBatch([], refused)
    for doc in docs:
        if doc.torrent_problem is not None:  # a name or size nobody sealed is never stated
            batch.skipped.append((doc.doe, doc.torrent_problem))
            continue
        notice_id = notice_id_for(doc, id_prefix)
        windows, pieces = case_windows(proof, doc), case_pieces(store, doc.infohash)
        try:
            sender = complainant_for(doc, complainant)
            xml = build_notice_xml(doc, windows, sender, notice_id, pieces)
        except NoticeError as exc:
            batch.skipped.append((doc.doe, str(exc)))
            continue
        if schema is not None:
            validate_notice(schema, xml)
        text = render_notice_text(doc, windows, sender, notice_id, pieces)
        xml_path, body_path = out / f"{notice_id}.xml", out / f"{notice_id}.txt"
        xml_path.write_bytes(xml)
        body_path.write_text(f"{text.rstrip()}\n\n{xml.decode('utf-8')}", encoding="utf-8")
        digest = hashlib.sha256(xml).hexdigest()
        row = record_notice(store, doc.case_id, doc.isp_id, notice_id, digest, doc.abuse_email, now_us)
        batch.notices.append(PreparedNotice(doc, notice_id, xml, text, row, xml_path, body_path))
    return batch


async def send_notices(
    store: Store,
    notices: Sequence[PreparedNotice],
    *,
    host: str,
    port: int,
    sender: str,
    clock: Any,
    timeout: float = 30.0,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> list[Delivery]:
    """E-mail each notice not yet sent to its ISP's abuse address; mark it sent only once delivered.

    Args:
        store: an open store. notices: from :func:`prepare_notices`. host, port: the SMTP server.
        sender: From address. clock: an object with ``now_us()`` (UTC µs; ``net.clock.Clock``).
        timeout, starttls, username, password: see :func:`net.smtp_client.send_message`.

    Returns:
        One :class:`Delivery` per notice attempted (notices already sent are left out).
    """
    deliveries = []
    for prepared in notices:
        if prepared.row.sent_us is not None or not prepared.row.to_address:
            continue
        to = prepared.row.to_address
        try:
            message = notice_message(
                prepared.text, prepared.xml, notice_id=prepared.notice_id, sender=sender, to=to
            )
            message_id = await asyncio.wait_for(
                send_message(
                    host,
                    port,
                    message,
                    timeout=timeout,
                    starttls=starttls,
                    username=username,
                    password=password,
                ),
                timeout * 4,
            )
        except (MailError, NoticeError, TimeoutError) as exc:
            deliveries.append(Delivery(prepared.notice_id, to, None, str(exc) or type(exc).__name__))
            continue
        mark_notice_sent(store, prepared.notice_id, clock.now_us(), message_id)
        deliveries.append(Delivery(prepared.notice_id, to, message_id, None))
    return deliveries
