"""Rows of letters, payments and disputes (README "Letters"), and the evidence facts a letter summarises.

Case status changes go through :func:`swarmscope.store.legal.cases.set_case_status` (the workflow table); this
module keeps the letter's own record: the settings frozen at drafting (``settings_json``), who approved it,
when, and the digest of the content approved (``approved_sha256``), when it was sent, the SHA-256 of the
PDF that left and the e-mail Message-ID. A letter is sent at most once and only after its approval of the
same content — the UPDATE itself requires ``approved_sha256 = <digest recomputed at sending> AND sent_us IS
NULL AND voided_us IS NULL`` (defence in depth behind the workflow check). An unsent letter is voided
(``voided_us``) when a newer draft supersedes it or a dispute arrives; a voided letter is never approved or
sent. Money is integer cents with an ISO 4217 currency; times are UTC microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.store.database import StoreError
from swarmscope.store.ledger.schema import swarm
from swarmscope.store.legal.case_status import StatusMove, apply_move
from swarmscope.store.legal.notices import sealed_torrent
from swarmscope.store.legal.schema import case_event, client, dispute, isp, legal_case, letter, payment, work

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """The evidence summary of one case as a letter states it (no personal data).

    ``file_name`` is the torrent's name (only from metainfo hashing to ``infohash``, else None);
    ``work_title`` / ``rights_holder`` come from the campaign (None when the case has no work linked);
    ``isp`` is the ISP's name (None when unknown).
    """

    case_id: int
    doe: str
    ip: str
    port: int
    infohash: str
    file_name: str | None
    work_title: str | None
    rights_holder: str | None
    isp: str | None
    first_hit_us: int
    last_hit_us: int
    hits: int
    status: str
    hit_proofs: tuple[str, ...] = ()  # one line per verified hit: when, and what it proved (cases layer)


@dataclass(frozen=True, slots=True)
class LetterRow:
    """One letter (columns of ``letter``): kind "initial" | "reminder"."""

    id: int
    case_id: int
    kind: str
    amount_cents: int
    currency: str
    deadline_us: int
    payment_reference: str
    created_us: int
    approved_by: str | None
    approved_us: int | None
    sent_us: int | None
    pdf_sha256: str | None
    message_id: str | None
    settings_json: str | None = None
    approved_sha256: str | None = None
    voided_us: int | None = None


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """One recorded payment (columns of ``payment``)."""

    id: int
    case_id: int
    amount_cents: int
    currency: str
    received_us: int
    reference: str
    method: str | None
    recorded_us: int
    note: str | None


@dataclass(frozen=True, slots=True)
class DisputeRow:
    """One recorded dispute (columns of ``dispute``)."""

    id: int
    case_id: int
    received_us: int
    summary: str
    recorded_us: int


@dataclass(frozen=True, slots=True)
class CaseNote:
    """A ``case_event`` row written with a letter change that moves no status (a reminder drafted, approved
    or sent while the case stays ``sent`` / ``no_response``): the case's current status, who, why."""

    actor: str
    note: str


def _write_note(conn: sa.Connection, case_id: int, note: CaseNote | None, at_us: int) -> None:
    if note is None:
        return
    status = conn.execute(sa.select(legal_case.c.status).where(legal_case.c.id == case_id)).scalar_one()
    conn.execute(
        case_event.insert().values(
            case_id=case_id, status=status, at_us=at_us, actor=note.actor, note=note.note
        )
    )


def _row(cls: Any, mapping: Any) -> Any:
    return cls(**{name: mapping[name] for name in cls.__dataclass_fields__})


def case_facts(store: Store, case_id: int) -> CaseFacts:
    """The evidence summary of case ``case_id`` (legal_case joined with work, client, ISP and swarm).

    ``file_name`` is the torrent name only from stored metainfo that hashes to the case's infohash
    (:func:`swarmscope.store.legal.notices.sealed_torrent`, BEP 3 / BEP 52), else None (the letter says "not
    recorded"): the ``swarm`` row's ``name`` column is not sealed and never stated.

    Raises:
        StoreError: no such case.
    """
    query = (
        sa.select(
            legal_case.c.id.label("case_id"), legal_case.c.doe, legal_case.c.ip, legal_case.c.port,
            legal_case.c.infohash, swarm.c.metainfo, work.c.title.label("work_title"),
            client.c.name.label("rights_holder"), isp.c.name.label("isp"), legal_case.c.first_hit_us,
            legal_case.c.last_hit_us, legal_case.c.hits, legal_case.c.status,
        )
        .select_from(
            legal_case.outerjoin(work, work.c.id == legal_case.c.work_id)
            .outerjoin(client, client.c.id == work.c.client_id)
            .outerjoin(isp, isp.c.id == legal_case.c.isp_id)
            .outerjoin(swarm, swarm.c.infohash == legal_case.c.infohash)
        )
        .where(legal_case.c.id == case_id)
    )  # fmt: skip
    with store.engine.connect() as conn:
        found = conn.execute(query).mappings().first()
    if found is None:
        raise StoreError(f"no case with id {case_id}")
    file_name = sealed_torrent(found["metainfo"], found["infohash"])[0]
    return _row(CaseFacts, {**found, "file_name": file_name, "hit_proofs": ()})  # type: ignore[no-any-return]


def add_letter(
    store: Store,
    case_id: int,
    kind: str,
    amount_cents: int,
    currency: str,
    deadline_us: int,
    reference: Callable[[int], str],
    now_us: int,
    note: CaseNote | None = None,
    *,
    settings_json: str | None = None,
    move: StatusMove | None = None,
) -> LetterRow:
    """Insert a drafted (unapproved, unsent) letter; every older unsent letter of the case is voided.
    ``move``: the case's status move (e.g. ``draft``), applied first in the SAME transaction, so a failed
    insert leaves the case as it was (:func:`swarmscope.store.legal.case_status.apply_move`).

    Args:
        kind: "initial" | "reminder". deadline_us: the draft's deadline; the term (deadline − created) is
            what :func:`mark_sent` re-applies from the sending time. reference: sequence number of this
            letter within the case (1, 2, ...) → its payment reference (unique). settings_json: the
            letter settings frozen for this letter (canonical JSON, see swarmscope.cases.letters).

    Raises:
        StoreError: unknown case, a duplicate reference, or the database refused.
    """
    if kind not in ("initial", "reminder"):
        raise StoreError(f"letter kind must be 'initial' or 'reminder', not {kind!r}")
    with store._write(immediate=move is not None) as conn:
        if move is not None:
            apply_move(conn, case_id, move, now_us)
        count = conn.execute(sa.select(sa.func.count()).where(letter.c.case_id == case_id)).scalar_one()
        values = {
            "case_id": case_id, "kind": kind, "amount_cents": amount_cents, "currency": currency,
            "deadline_us": deadline_us, "payment_reference": reference(count + 1), "created_us": now_us,
            "settings_json": settings_json,
        }  # fmt: skip
        _void_unsent(conn, case_id, now_us)
        letter_id = conn.execute(letter.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
        _write_note(conn, case_id, note, now_us)
    return get_letter(store, letter_id)


def _void_unsent(conn: sa.Connection, case_id: int, now_us: int) -> int:
    unsent = sa.and_(letter.c.case_id == case_id, letter.c.sent_us.is_(None), letter.c.voided_us.is_(None))
    return int(conn.execute(letter.update().where(unsent).values(voided_us=now_us)).rowcount)


def get_letter(store: Store, letter_id: int) -> LetterRow:
    """The letter with row id ``letter_id``.

    Raises:
        StoreError: no such letter.
    """
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(letter).where(letter.c.id == letter_id)).mappings().first()
    if found is None:
        raise StoreError(f"no letter with id {letter_id}")
    return _row(LetterRow, found)  # type: ignore[no-any-return]


def get_case_id(conn: sa.Connection, letter_id: int) -> int:
    """The case id of letter ``letter_id`` (inside a transaction)."""
    return int(conn.execute(sa.select(letter.c.case_id).where(letter.c.id == letter_id)).scalar_one())


def list_letters(store: Store, *, case_id: int | None = None) -> list[LetterRow]:
    """Letters in row order, optionally of one case."""
    query = sa.select(letter).order_by(letter.c.id)
    if case_id is not None:
        query = query.where(letter.c.case_id == case_id)
    with store.engine.connect() as conn:
        return [_row(LetterRow, m) for m in conn.execute(query).mappings()]


def approve_letter(
    store: Store, letter_id: int, actor: str, now_us: int, digest: str, note: CaseNote | None = None
) -> LetterRow:
    """Record the human approval of an unsent letter: ``approved_by``, ``approved_us`` and the hex SHA-256
    ``digest`` of the content approved (``approved_sha256``).

    Raises:
        StoreError: no such letter, already approved, sent or voided.
    """
    with store._write() as conn:
        done = conn.execute(
            letter.update()
            .where(
                letter.c.id == letter_id,
                letter.c.approved_us.is_(None),
                letter.c.sent_us.is_(None),
                letter.c.voided_us.is_(None),
            )
            .values(approved_by=actor, approved_us=now_us, approved_sha256=digest)
        ).rowcount
        if done == 1:
            _write_note(conn, get_case_id(conn, letter_id), note, now_us)
    if done != 1:
        raise StoreError(f"letter {letter_id} does not exist, is already approved, or was voided")
    return get_letter(store, letter_id)


def claim_sending(store: Store, letter_id: int, message_id: str) -> bool:
    """Claim an approved, unsent letter for one sending (committed BEFORE the SMTP conversation).

    The claim stores the Message-ID the e-mail will carry. A letter already claimed (another ``send``
    running, or an earlier one whose outcome is unknown because recording failed after the SMTP server
    accepted it) cannot be claimed again, so no letter is e-mailed twice.

    Returns:
        True when this call claimed it; False when it was claimed, sent or voided already.
    """
    with store._write(immediate=True) as conn:
        claimed = conn.execute(
            letter.update()
            .where(
                letter.c.id == letter_id,
                letter.c.message_id.is_(None),
                letter.c.sent_us.is_(None),
                letter.c.voided_us.is_(None),
            )
            .values(message_id=message_id)
        ).rowcount
    return claimed == 1


def release_claim(store: Store, letter_id: int, message_id: str) -> None:
    """Undo :func:`claim_sending` after the SMTP server refused the letter (or could not be reached)."""
    with store._write() as conn:
        conn.execute(
            letter.update()
            .where(letter.c.id == letter_id, letter.c.message_id == message_id, letter.c.sent_us.is_(None))
            .values(message_id=None)
        )


def mark_sent(
    store: Store,
    letter_id: int,
    sent_us: int,
    pdf_sha256: str,
    message_id: str | None,
    note: CaseNote | None = None,
    *,
    approved_sha256: str,
) -> LetterRow:
    """Record that an approved letter left: its deadline becomes ``sent_us`` + the drafted term.

    Args:
        approved_sha256: the content digest recomputed at sending; it must equal the one approved.

    Raises:
        StoreError: the letter is not approved (for this content), was voided, or was already sent.
    """
    term = letter.c.deadline_us - letter.c.created_us
    with store._write() as conn:
        done = conn.execute(
            letter.update()
            .where(
                letter.c.id == letter_id,
                letter.c.approved_us.is_not(None),
                letter.c.approved_sha256 == approved_sha256,
                letter.c.sent_us.is_(None),
                letter.c.voided_us.is_(None),
            )
            .values(sent_us=sent_us, deadline_us=sent_us + term, pdf_sha256=pdf_sha256, message_id=message_id)
        ).rowcount
        if done == 1:
            _write_note(conn, get_case_id(conn, letter_id), note, sent_us)
    if done != 1:
        raise StoreError(
            f"letter {letter_id} is not approved for this content, was voided or was already sent; "
            "it is not marked sent"
        )
    return get_letter(store, letter_id)


def add_payment(
    store: Store,
    case_id: int,
    amount_cents: int,
    currency: str,
    received_us: int,
    reference: str,
    method: str | None,
    note: str | None,
    now_us: int,
) -> PaymentRow:
    """Insert a received payment (the caller has matched its reference to the case's letter).

    Raises:
        StoreError: unknown case or the database refused.
    """
    values: dict[str, Any] = {
        "case_id": case_id, "amount_cents": amount_cents, "currency": currency, "received_us": received_us,
        "reference": reference, "method": method, "recorded_us": now_us, "note": note,
    }  # fmt: skip
    with store._write() as conn:
        row_id = conn.execute(payment.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
    return PaymentRow(id=row_id, **values)


def list_payments(store: Store, case_id: int) -> list[PaymentRow]:
    """Payments of a case in row order."""
    query = sa.select(payment).where(payment.c.case_id == case_id).order_by(payment.c.id)
    with store.engine.connect() as conn:
        return [_row(PaymentRow, m) for m in conn.execute(query).mappings()]


def add_dispute(store: Store, case_id: int, received_us: int, summary: str, now_us: int) -> DisputeRow:
    """Insert a dispute received for a case and void its unsent letters (approved or not) in the same
    transaction: a dispute stops every letter that has not left yet.

    Raises:
        StoreError: unknown case or the database refused.
    """
    values: dict[str, Any] = {
        "case_id": case_id,
        "received_us": received_us,
        "summary": summary,
        "recorded_us": now_us,
    }
    with store._write() as conn:
        row_id = conn.execute(dispute.insert().values(**values)).inserted_primary_key[0]  # type: ignore[index]
        _void_unsent(conn, case_id, now_us)
    return DisputeRow(id=row_id, **values)


def list_disputes(store: Store, case_id: int) -> list[DisputeRow]:
    """Disputes of a case in row order."""
    query = sa.select(dispute).where(dispute.c.case_id == case_id).order_by(dispute.c.id)
    with store.engine.connect() as conn:
        return [_row(DisputeRow, m) for m in conn.execute(query).mappings()]
