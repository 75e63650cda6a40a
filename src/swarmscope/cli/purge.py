"""``swarmscope purge [--dry-run]``: apply the retention schedules (:mod:`swarmscope.cases.retention`,
applied by :mod:`swarmscope.cases.purge`).

- Identities whose case closed more than ``--identity-months`` calendar months ago are deleted; each
  deletion is written to the audit log, and one ``purge_log`` row records the rule, the count and the DOE
  numbers (never personal data).
- Unresolved IP evidence (no case, or only withdrawn ones) whose last observation or sighting is older
  than ``--ip-evidence-days`` is purged: its sealed ledger entries are redacted (hashes kept, so the
  chain and seals still verify), its observation, sighting and attribution rows deleted with the
  captures and blobs nothing kept references; one ``purge_log`` row records the rule and the counts
  (never an address). See :func:`swarmscope.store.legal.purge.purge_ip_evidence`.

  Each such purge also seals a purge record (the redacted entries by node, index, kind and record hash)
  with the node's signing key (``--node-key``, default beside the database as for ``monitor``): without
  it a redaction cannot be told from a forged one. With entries to redact and no key file the purge is
  refused (one line, exit 1, nothing changed); identity-only purges and ``--dry-run`` need no key.

``--dry-run`` reports what is due and changes nothing (no purge_log or audit rows either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from swarmscope.cases.purge import PurgeOutcome, apply_retention
from swarmscope.cases.retention import (
    DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE,
    DEFAULT_IP_EVIDENCE_DAYS,
    RetentionPolicy,
)
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.cli.node_identity import attach_signing_key, load_node_key
from swarmscope.cli.numeric import RETENTION_DAYS, RETENTION_MONTHS, number_option
from swarmscope.cli.options import ActorOption, DbOption, actor_name, now_us
from swarmscope.cli.text import escaped
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.database import DEFAULT_DB, open_store
from swarmscope.store.ledger.node_key import default_key_path


def run_purge(
    db: str,
    policy: RetentionPolicy,
    *,
    actor: str,
    now_us: int,
    dry_run: bool,
    key_path: Path | None = None,
) -> PurgeOutcome:
    """Decide what is due at ``now_us`` under ``policy`` and (unless ``dry_run``) purge it.

    Args:
        key_path: the node key file sealing the purge record (default: beside the database, as for
            ``monitor``); a missing file is refused only when there are entries to redact.

    Raises:
        SwarmscopeError: the database is missing, the key file is unusable, entries are due and there is
            no key file, or the database refused the purge (nothing is deleted then).
    """
    path = key_path or default_key_path(db)
    store = open_store(db, create=False)
    try:
        if not dry_run and path.exists():
            attach_signing_key(store, load_node_key(path), path, now_us)
        # a dry run opens no signing key, but the cases' sealed decisions are proven under its fingerprint
        trust = workflow_trust(db, path, None, now_us) if dry_run and path.exists() else None
        try:
            return apply_retention(store, policy, actor=actor, now_us=now_us, dry_run=dry_run, trust=trust)
        except SwarmscopeError as exc:
            if store.node is None and "signing key" in str(exc):
                raise InputError(f"{exc} (node key {path}: no such file; pass --node-key)") from None
            raise
    finally:
        store.close()


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what is due; change nothing.")] = False,
    ip_evidence_days: Annotated[
        int,
        number_option("--ip-evidence-days", RETENTION_DAYS, "Keep unresolved IP evidence this many days."),
    ] = DEFAULT_IP_EVIDENCE_DAYS,
    identity_months: Annotated[
        int,
        number_option("--identity-months", RETENTION_MONTHS, "Keep identities this many months after close."),
    ] = DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: Annotated[
        Path | None,
        typer.Option("--node-key", help="Node key file sealing the purge record (default: beside the db)."),
    ] = None,
) -> None:
    """Apply the retention schedules: identities after their case closed + N months, stale IP evidence."""
    console = Console(soft_wrap=True)  # one line per message, whatever the terminal width
    policy = RetentionPolicy(ip_evidence_days, identity_months)
    try:
        outcome = run_purge(
            db, policy, actor=actor_name(actor), now_us=now_us(), dry_run=dry_run, key_path=node_key
        )
    except SwarmscopeError as exc:
        console.print(f"[red]error:[/red] {escaped(exc)}")
        raise typer.Exit(1) from None
    verb = "due" if dry_run else "deleted"
    count = len(outcome.identity_does) if dry_run else outcome.identities_deleted
    listed = ", ".join(outcome.identity_does) or "none"
    console.print(f"identities ({policy.identity_rule}): {count} {verb}: {escaped(listed)}")
    rows = ", ".join(f"{n} {table}" for table, n in outcome.ip_rows.items())
    ip = outcome.ip
    verb = "due" if dry_run else "purged"
    console.print(
        f"unresolved IP evidence ({policy.ip_rule}): {ip.addresses} addresses {verb} ({rows}; "
        f"ledger entries: {ip.entries}, captures: {ip.captures}, blobs: {ip.blobs})"
    )
    if ip.purge_record is not None:
        node, index = ip.purge_record
        console.print(f"purge record sealed at ledger index {index} by node {node}")
