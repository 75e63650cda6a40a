"""The litigation list: one CSV row per escalated case, subscriber identities only when asked (audited).

Columns (:data:`COLUMNS`): DOE number, IP address, port, infohash, file name, work, ISP, first and last
verified hit (UTC), verified hits, letters sent (count, first and last sending date, last deadline), amount
claimed, amount received, currency. Identities (:data:`IDENTITY_COLUMNS`) are included only with the
identity key; each one is decrypted through :func:`swarmscope.store.legal.subscribers.read_identity`, which
writes an audit_log row naming the actor. Cells that a spreadsheet would run as a formula (``= + - @``, tab,
CR) are prefixed with ``'`` (:func:`swarmscope.cases.exhibits.csv_cell`) and control characters become U+FFFD.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from swarmscope.cases.case_proof import CaseProof
from swarmscope.cases.case_state import litigation_subjects, status_problem
from swarmscope.cases.disclosure_check import disclosure_problem, read_disclosed_identity
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.exhibits import csv_cell
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.sealed_history import litigation_problem
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.subscribers import stored_identity

COLUMNS = (
    "doe", "ip", "port", "infohash", "file_name", "work_title", "isp", "first_hit_utc", "last_hit_utc",
    "verified_hits", "letters_sent", "first_letter_utc", "last_letter_utc", "last_deadline_utc",
    "amount_claimed", "amount_received", "currency",
)  # fmt: skip
IDENTITY_COLUMNS = ("name", "postal_address", "email")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab, newline), DEL and C1


def _utc(us: int | None) -> str:
    return "" if us is None else datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: object) -> str:
    """One CSV cell: control characters replaced by U+FFFD, formula starts defused."""
    return csv_cell("" if value is None else _CONTROL.sub("\ufffd", str(value)))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _case_values(store: Store, case: case_rows.CaseRow) -> dict[str, object]:
    """The :data:`COLUMNS` of one case: its facts, the letters sent and the money received."""
    facts = letter_store.case_facts(store, case.id)
    sent = [row for row in letter_store.list_letters(store, case_id=case.id) if row.sent_us is not None]
    currency = sent[0].currency if sent else ""
    received = sum(
        p.amount_cents for p in letter_store.list_payments(store, case.id) if p.currency == currency
    )
    return {
        "doe": facts.doe, "ip": facts.ip, "port": facts.port, "infohash": facts.infohash,
        "file_name": facts.file_name, "work_title": facts.work_title, "isp": facts.isp,
        "first_hit_utc": _utc(facts.first_hit_us), "last_hit_utc": _utc(facts.last_hit_us),
        "verified_hits": facts.hits, "letters_sent": len(sent),
        "first_letter_utc": _utc(sent[0].sent_us) if sent else "",
        "last_letter_utc": _utc(sent[-1].sent_us) if sent else "",
        "last_deadline_utc": _utc(sent[-1].deadline_us) if sent else "",
        "amount_claimed": _money(sent[0].amount_cents) if sent else "",
        "amount_received": _money(received), "currency": currency,
    }  # fmt: skip


def litigation_rows(
    store: Store,
    key: IdentityKey | None,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    refused: list[tuple[str, str]] | None = None,
    *,
    policy: DocumentPolicy = COURT_TESTED,
) -> list[dict[str, str]]:
    """One row per escalated case (see the module docstring); identities only with ``key`` (audited).

    A case whose claim the evidence proven against the sealed ledger no longer carries
    (:class:`swarmscope.cases.case_proof.CaseProof`; ``trust`` None: the store's own node key) is left
    out, its identity never read, and (DOE number, why) goes to ``refused``; so is a case its sealed workflow
    history does not put on the list (:func:`swarmscope.cases.sealed_history.litigation_problem`: the
    ``escalated`` status column alone proves nothing; a case with a sealed escalation whose column says
    otherwise is judged too, and named: :func:`swarmscope.cases.case_state.litigation_subjects`), and a
    case whose stored
    identity the ISP disclosed for another address, port or window than its proven hits
    (:func:`swarmscope.cases.disclosure_check.disclosure_problem`). ``policy``: the thresholds each case
    is re-judged under (the case's build note only tightens them).
    """
    out = []
    trusted = store_trust(store, trust)
    proof = CaseProof(store, trusted, policy)
    history = proof.directory.history
    proven, unproven = proof.split(litigation_subjects(history, case_status.list_cases(store)))
    cases = []
    for case in proven:
        stored = stored_identity(store, case.id)
        why = litigation_problem(store, case, history, trusted.now_us, trust=trusted)
        why = (
            why
            or status_problem(history, case)
            or (
                f"{case.doe}: refused: no disclosed identity is stored for it (a letter goes only to one)"
                if stored is None
                else disclosure_problem(case, stored, proof)
            )
        )
        if why is None:
            cases.append(case)
        else:
            unproven.append((case.doe, why))
    if refused is not None:
        refused.extend(unproven)
    for case in cases:
        values = _case_values(store, case)
        if key is not None:
            identity = read_disclosed_identity(store, key, case.id, actor, now_us, proof=proof)
            values |= {
                "name": identity.name,
                "postal_address": identity.postal_address,
                "email": identity.email,
            }
        out.append({name: _cell(value) for name, value in values.items()})
    return out


def litigation_csv(rows: list[dict[str, str]], identities: bool) -> str:
    """The CSV text (header row first; identity columns only when ``identities``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + (IDENTITY_COLUMNS if identities else ()))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
