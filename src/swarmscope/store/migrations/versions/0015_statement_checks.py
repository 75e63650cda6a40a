"""PostgreSQL: the references of observation and sighting rows checked once per statement, not per row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

On PostgreSQL the four foreign keys ``fk_{observation,sighting}_{run_id_monitor_run,infohash_swarm}`` are
replaced by statement-level triggers that refuse the same rows. A foreign key fires one trigger per row
and per key, each running a ``SELECT ... FOR KEY SHARE`` on the parent (PostgreSQL ``ri_triggers.c``):
measured on 2 loaded cores, about two thirds of the server's time of a ``COPY`` of 50,000 observations.
An ``AFTER INSERT ... FOR EACH STATEMENT`` trigger with a transition table (PostgreSQL 10+, "CREATE
TRIGGER", ``REFERENCING NEW TABLE``) sees the whole ``COPY`` or ``INSERT`` at once and runs one anti-join
per parent table:

- ``evidence_rows_checked`` (child side, on ``observation`` and ``sighting``): every new row's ``run_id``
  names a ``monitor_run`` and its ``infohash`` a ``swarm`` (the parents are locked ``FOR KEY SHARE`` first,
  as the foreign key did, so a concurrent delete of a parent waits for this transaction); and a row that
  carries a ledger link (``ledger_node``, ``ledger_index``; either set) names an existing ``ledger_entry``
  of its own kind (a check no foreign key made: a dangling link is refused). A row with no link at all (the
  ``unsealed`` state of a pre-ledger row) is accepted as before. SQLSTATE 23503 (``foreign_key_violation``),
  the whole statement fails.
- ``evidence_parents_kept`` (parent side, on ``swarm`` and ``monitor_run``, after UPDATE and after DELETE,
  per statement, and before TRUNCATE): a parent key that no longer exists may not be named by an
  observation or sighting row: the ``NO ACTION`` of the dropped foreign keys. SQLSTATE 23503.

SQLite keeps its foreign keys (``PRAGMA foreign_keys=ON``): it has no transition tables, and its own
foreign-key check is an index probe in the same process. ``schema.py`` keeps declaring the foreign keys;
:data:`swarmscope.store.ledger.schema.STATEMENT_CHECKED_FKS` names the ones PostgreSQL enforces this way.

A frozen snapshot (no import of the project).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_CHILDREN = ("observation", "sighting")
_FKS = (("run_id", "monitor_run", "id"), ("infohash", "swarm", "infohash"))

_CHILD_CHECK = """
CREATE FUNCTION evidence_rows_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  PERFORM 1 FROM monitor_run r WHERE r.id IN (SELECT DISTINCT n.run_id FROM new_rows n) FOR KEY SHARE;
  SELECT n.run_id::text INTO bad FROM (SELECT DISTINCT run_id FROM new_rows) n
   WHERE n.run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM monitor_run r WHERE r.id = n.run_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s row names monitor run %s, which does not exist', TG_TABLE_NAME, bad);
  END IF;
  PERFORM 1 FROM swarm s WHERE s.infohash IN (SELECT DISTINCT n.infohash FROM new_rows n) FOR KEY SHARE;
  SELECT n.infohash INTO bad FROM (SELECT DISTINCT infohash FROM new_rows) n
   WHERE n.infohash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM swarm s WHERE s.infohash = n.infohash) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s row names swarm %s, which does not exist', TG_TABLE_NAME, bad);
  END IF;
  SELECT format('(%s, %s)', n.ledger_node, n.ledger_index) INTO bad FROM new_rows n
   WHERE (n.ledger_node IS NOT NULL OR n.ledger_index IS NOT NULL)
     AND NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.node_id = n.ledger_node
                        AND e.idx = n.ledger_index AND e.kind = TG_TABLE_NAME) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%1$s row names ledger entry %2$s, which is no %1$s entry', TG_TABLE_NAME, bad);
  END IF;
  RETURN NULL;
END $$
"""

# The parent's key column is TG_ARGV[0]; the children name it in column TG_ARGV[1].
_PARENT_CHECK = """
CREATE FUNCTION evidence_parents_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE gone text; child text;
BEGIN
  FOREACH child IN ARRAY ARRAY['observation', 'sighting'] LOOP
    IF TG_OP = 'TRUNCATE' THEN
      EXECUTE format('SELECT %I::text FROM %I LIMIT 1', TG_ARGV[1], child) INTO gone;
    ELSE
      EXECUTE format('SELECT o.%1$I::text FROM old_rows o WHERE NOT EXISTS '
                     '(SELECT 1 FROM %2$I p WHERE p.%1$I = o.%1$I) AND EXISTS '
                     '(SELECT 1 FROM %3$I c WHERE c.%4$I = o.%1$I) LIMIT 1',
                     TG_ARGV[0], TG_TABLE_NAME, child, TG_ARGV[1]) INTO gone;
    END IF;
    IF gone IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%s %s is still named by %s rows', TG_TABLE_NAME, gone, child);
    END IF;
  END LOOP;
  RETURN NULL;
END $$
"""


def _parent_triggers(parent: str, key: str, column: str) -> list[str]:
    args = f"'{key}', '{column}'"
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION evidence_parents_kept({args})"
    return [
        f"CREATE TRIGGER {parent}_kept_on_update AFTER UPDATE ON {parent} "
        f"REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER {parent}_kept_on_delete AFTER DELETE ON {parent} "
        f"REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER {parent}_kept_on_truncate BEFORE TRUNCATE ON {parent} {run}",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CHILD_CHECK)
    op.execute(_PARENT_CHECK)
    for table in _CHILDREN:
        for column, parent, _ in _FKS:
            op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
        op.execute(
            f"CREATE TRIGGER {table}_rows_checked AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_rows_checked()"
        )
    for column, parent, key in _FKS:
        for statement in _parent_triggers(parent, key, column):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _, parent, _ in _FKS:
        for event in ("update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER {parent}_kept_on_{event} ON {parent}")
    for table in _CHILDREN:
        op.execute(f"DROP TRIGGER {table}_rows_checked ON {table}")
        for column, parent, key in _FKS:
            op.create_foreign_key(f"fk_{table}_{column}_{parent}", table, parent, [column], [key])
    op.execute("DROP FUNCTION evidence_parents_kept()")
    op.execute("DROP FUNCTION evidence_rows_checked()")
