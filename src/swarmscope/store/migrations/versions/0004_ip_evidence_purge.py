"""Purge of unresolved IP evidence (README "Retention"): redactable ledger entries, purge authorization.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

- ``ledger_entry.canonical`` becomes nullable; ``redacted_rule`` (the retention rule) and
  ``redacted_us`` (UTC µs) are added. A redacted entry keeps its index and all three hashes, so the chain
  and every seal still verify; only the record's bytes (which hold the IP address) are gone.
- ``purge_authorization(id, rule, at_us)``: a purge inserts one row at the start of its transaction and
  deletes it before committing, so no committed state ever holds one (and on PostgreSQL no other
  session ever sees it).
- The append-only triggers are replaced so that ordinary UPDATE/DELETE is still refused, and while a
  ``purge_authorization`` row exists:

  * ``ledger_entry`` may be UPDATEd only from canonical bytes to NULL with ``redacted_rule`` and
    ``redacted_us`` filled, every other column unchanged, and only for observation, sighting and
    attribution entries (never a clock sample or run record); DELETE stays refused;
  * ``observation``, ``sighting``, ``attribution`` rows may be DELETEd once their own ledger entry is
    redacted (a row whose sealed entry still holds its bytes cannot go);
  * ``capture`` rows may be DELETEd when no observation references them, ``blob`` rows may be DELETEd.

  UPDATE stays refused on every one of these tables (their UPDATE triggers are untouched, except
  ``ledger_entry``'s). Trigger names are unchanged.

SQLite: making a column nullable rebuilds ``ledger_entry`` (batch mode), which drops its triggers; the
rebuild happens first and every trigger is created after it. PostgreSQL: ``ALTER COLUMN ... DROP NOT
NULL`` in place; the guards are plpgsql functions that look at ``purge_authorization``.

A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RECORD_KINDS = "('observation', 'sighting', 'attribution')"
_AUTHORIZED = "EXISTS (SELECT 1 FROM purge_authorization)"
_SAME = ("id", "node_id", "idx", "kind", "record_hash", "prev_hash", "entry_hash", "batch_id")
_DELETABLE = ("observation", "sighting", "attribution", "capture", "blob")


def _redaction_condition() -> str:
    """SQL (NEW/OLD of ledger_entry) that holds only for an authorized redaction."""
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _SAME)
    return (
        f"{_AUTHORIZED} AND OLD.canonical IS NOT NULL AND NEW.canonical IS NULL "
        "AND OLD.redacted_rule IS NULL AND OLD.redacted_us IS NULL "
        "AND NEW.redacted_rule IS NOT NULL AND NEW.redacted_us IS NOT NULL "
        f"AND OLD.kind IN {_RECORD_KINDS} AND {same}"
    )


def _delete_condition(table: str) -> str:
    """SQL (OLD of ``table``) that holds only for a delete a purge may make."""
    if table == "capture":
        referenced = "SELECT 1 FROM observation o WHERE o.capture_sha256 = OLD.sha256"
        return f"{_AUTHORIZED} AND NOT EXISTS ({referenced})"
    if table == "blob":
        return _AUTHORIZED
    sealed = (
        "SELECT 1 FROM ledger_entry e WHERE e.node_id = OLD.ledger_node AND e.idx = OLD.ledger_index "
        "AND e.canonical IS NOT NULL"
    )
    return f"{_AUTHORIZED} AND NOT EXISTS ({sealed})"


def _sqlite_guard(table: str, action: str, condition: str | None) -> None:
    name = f"{table}_append_only_{action.lower()}"
    when = "" if condition is None else f"WHEN NOT ({condition.replace('IS NOT DISTINCT FROM', 'IS')}) "
    op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(
        f"CREATE TRIGGER {name} BEFORE {action} ON {table} {when}"
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    )


def _postgresql_functions() -> None:
    op.execute(
        "CREATE FUNCTION swarmscope_ledger_redaction() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {_redaction_condition()} THEN RETURN NEW; END IF; "
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    branches = " ".join(
        f"{'IF' if i == 0 else 'ELSIF'} TG_TABLE_NAME = '{t}' THEN allowed := {_delete_condition(t)};"
        for i, t in enumerate(_DELETABLE)
    )
    op.execute(
        "CREATE FUNCTION swarmscope_purge_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"DECLARE allowed boolean := false; BEGIN {branches} END IF; "
        "IF allowed THEN RETURN OLD; END IF; "
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )


def _postgresql_guard(table: str, action: str, function: str) -> None:
    name = f"{table}_append_only_{action.lower()}"
    op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute(f"CREATE TRIGGER {name} BEFORE {action} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()")


def upgrade() -> None:
    op.create_table(
        "purge_authorization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_authorization")),
    )
    with op.batch_alter_table("ledger_entry") as batch:
        batch.alter_column("canonical", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("redacted_rule", sa.Text(), nullable=True))
        batch.add_column(sa.Column("redacted_us", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_guard("ledger_entry", "UPDATE", _redaction_condition())
        _sqlite_guard("ledger_entry", "DELETE", None)
        for table in _DELETABLE:
            _sqlite_guard(table, "DELETE", _delete_condition(table))
    elif op.get_bind().dialect.name == "postgresql":
        _postgresql_functions()
        _postgresql_guard("ledger_entry", "UPDATE", "swarmscope_ledger_redaction")
        for table in _DELETABLE:
            _postgresql_guard(table, "DELETE", "swarmscope_purge_delete")


def downgrade() -> None:
    redacted = op.get_bind().execute(sa.text("SELECT count(*) FROM ledger_entry WHERE canonical IS NULL"))
    if redacted.scalar_one():
        raise RuntimeError("cannot downgrade below 0004: the ledger holds redacted (purged) entries")
    dialect = op.get_bind().dialect.name
    for table in _DELETABLE:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_delete")
        elif dialect == "postgresql":
            _postgresql_guard(table, "DELETE", "swarmscope_append_only")
    if dialect == "postgresql":
        _postgresql_guard("ledger_entry", "UPDATE", "swarmscope_append_only")
        op.execute("DROP FUNCTION swarmscope_purge_delete()")
        op.execute("DROP FUNCTION swarmscope_ledger_redaction()")
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_column("redacted_us")
        batch.drop_column("redacted_rule")
        batch.alter_column("canonical", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("purge_authorization")
    if dialect == "sqlite":
        for table in ("ledger_entry", *_DELETABLE):
            for action in ("UPDATE", "DELETE") if table == "ledger_entry" else ("DELETE",):
                _sqlite_guard(table, action, None)
