"""Applying the retention schedules to the store: what is due at ``now_us`` and, unless a dry run, its purge.

The schedules themselves are pure (:mod:`swarmscope.cases.retention`); the deletions and redactions are the
store's (:mod:`swarmscope.store.legal.purge`: identities with an audit row each and one ``purge_log`` row; IP
evidence redacted in the sealed ledger, hashes kept, so the chain and seals still verify). A dry run changes
nothing (no purge_log or audit rows either). Times are UTC microseconds.

"Unresolved" IP evidence is judged by each case's status as its sealed history allows it
(:func:`swarmscope.cases.case_state.holds_evidence`), never by the status column alone: a case whose
column says ``withdrawn`` without a proven sealed withdrawal (an open case edited in the database file, or
one withdrawn before decisions were sealed) keeps its evidence; so does the identity of a case whose
column says ``closed`` (or ``withdrawn``) against its sealed history. Without the node's key nothing
is proven, so no such withdrawal releases evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmscope.cases.case_state import holds_evidence
from swarmscope.cases.retention import ClosedCase, RetentionPolicy, due_identities, due_ip_addresses
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import purge as purge_store
from swarmscope.store.legal.workflow_seals import WorkflowHistory, workflow_history


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    """What a purge found due and did: identity DOE numbers, IP-evidence rows per table, rows deleted.

    ``ip`` holds the IP-evidence counts (due, or purged when not a dry run).
    """

    identity_does: tuple[str, ...]
    ip_addresses: int
    ip_rows: dict[str, int]
    identities_deleted: int
    ip: purge_store.IpPurge


def apply_retention(
    store: Store,
    policy: RetentionPolicy,
    *,
    actor: str,
    now_us: int,
    dry_run: bool,
    trust: EvidenceTrust | None = None,
) -> PurgeOutcome:
    """Decide what is due at ``now_us`` under ``policy`` and (unless ``dry_run``) purge it.

    ``trust``: the keys the cases' sealed decisions are proven under (None: the store's own node key; a
    store opened without one proves none).

    Raises:
        SwarmscopeError: the store refused the purge, or IP evidence is due for redaction and the store has
            no signing key to seal its purge record (nothing is deleted then).
    """
    altered = _altered(store, trust)
    ids, held = {c.id for c in altered}, frozenset(c.ip for c in altered)
    cases = [
        ClosedCase(c.case_id, c.doe, "altered" if c.case_id in ids else c.status, c.closed_us)
        for c in purge_store.identity_cases(store)
    ]
    due = due_identities(cases, now_us, policy)

    def due_ips(seen: Mapping[str, int], cases: Mapping[str, Sequence[str]]) -> Sequence[str]:
        judged = {ip: [*statuses, "altered"] if ip in held else statuses for ip, statuses in cases.items()}
        return due_ip_addresses(seen, judged, now_us, policy)

    if not dry_run and store.node is None:  # refuse before the identities go when the key is missing
        rule = policy.ip_rule
        pending = purge_store.purge_ip_evidence(store, due_ips, rule=rule, now_us=now_us, dry_run=True)
        purge_store.require_signer(store, pending.entries)
    deleted = 0
    if not dry_run:
        pairs = [(c.case_id, c.doe) for c in due]
        deleted = purge_store.purge_identities(
            store, pairs, rule=policy.identity_rule, actor=actor, now_us=now_us
        )
    ip = purge_store.purge_ip_evidence(store, due_ips, rule=policy.ip_rule, now_us=now_us, dry_run=dry_run)
    return PurgeOutcome(tuple(c.doe for c in due), ip.addresses, ip.rows, deleted, ip)


def _altered(store: Store, trust: EvidenceTrust | None) -> list[case_rows.CaseRow]:
    """The cases whose status column their proven sealed history does not allow
    (:func:`swarmscope.cases.case_state.holds_evidence`; under ``trust``, else the store's own node key,
    none proven without either): their IP evidence and identity are held whatever the column says."""
    proven = trust is not None or store.node is not None
    history = workflow_history(store, store_trust(store, trust)) if proven else WorkflowHistory()
    return [c for c in case_status.list_cases(store) if holds_evidence(history, c) == "altered"]
