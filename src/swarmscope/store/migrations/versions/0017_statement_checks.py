"""PostgreSQL: the references of evidence rows and ledger entries checked once per statement, not per row.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

On PostgreSQL six foreign keys are replaced by statement-level triggers that refuse the same rows:
``fk_{observation,sighting}_{run_id_monitor_run,infohash_swarm}`` and
``fk_ledger_entry_{node_id_node_key,batch_id_ledger_batch}``. A foreign key fires one trigger per row and
per key, each running a ``SELECT ... FOR KEY SHARE`` on the parent (PostgreSQL ``ri_triggers.c``):
measured on 2 loaded cores, about two thirds of the server's time of a ``COPY`` of 50,000 observations. An
``AFTER INSERT ... FOR EACH STATEMENT`` trigger with a transition table (PostgreSQL 10+, "CREATE TRIGGER",
``REFERENCING NEW TABLE``) sees the whole ``COPY`` or ``INSERT`` at once:

- ``evidence_rows_checked`` (on ``observation`` and ``sighting``): every new row's ``run_id`` names a
  ``monitor_run`` and its ``infohash`` a ``swarm`` (the distinct parents, collected in one pass, are
  locked ``FOR KEY SHARE`` as the foreign key did, so a concurrent delete of a parent waits for this
  transaction); and a row that carries a ledger link (``ledger_node``, ``ledger_index``; either set)
  names an existing ``ledger_entry`` of its own kind (a check no foreign key made: a dangling or half
  link is refused). A row with no link at all (the ``unsealed`` state of a pre-ledger row) is accepted as
  before. The links are checked per node by one hash join of the node's rows with its entries between
  their lowest and highest index (``enable_nestloop = off`` in the function: the planner has no
  statistics of a transition table and would otherwise probe the index once per row).
- ``ledger_entries_checked`` (on ``ledger_entry``): every entry's ``node_id`` names a ``node_key`` and its
  ``batch_id``, when set, a ``ledger_batch`` (locked ``FOR KEY SHARE``).
- ``evidence_parents_kept`` (on ``swarm``, ``monitor_run``, ``node_key``, ``ledger_batch``; after UPDATE
  and after DELETE per statement, and before TRUNCATE): a parent key that no longer exists may not be named
  by a child row: the ``NO ACTION`` of the dropped foreign keys.

Every refusal is SQLSTATE 23503 (``foreign_key_violation``) and fails the whole statement. SQLite keeps
its foreign keys (``PRAGMA foreign_keys=ON``): it has no transition tables, and its foreign-key check is an
index probe in the same process. ``schema.py`` keeps declaring the foreign keys;
:data:`swarmscope.store.ledger.schema.STATEMENT_CHECKED_FKS` names the ones PostgreSQL enforces this way.

A frozen snapshot (no import of the project).
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# One pass over the transition table collects the distinct parents (a batch names one run and a few swarms);
# each parent is then one index probe. The links are checked per node: one join of the node's rows with its
# entries in [lowest, highest] index, planned with those bounds (EXECUTE), counted against the rows.
_CHILD_CHECK = """
CREATE FUNCTION evidence_rows_checked() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off AS $$
DECLARE runs integer[]; swarms text[]; found bigint; bad text; link record;
BEGIN
  SELECT array_agg(DISTINCT run_id) FILTER (WHERE run_id IS NOT NULL),
         array_agg(DISTINCT infohash) FILTER (WHERE infohash IS NOT NULL)
    INTO runs, swarms FROM new_rows;
  SELECT count(*) INTO found FROM (SELECT 1 FROM monitor_run r WHERE r.id = ANY(runs) FOR KEY SHARE) l;
  IF found < cardinality(runs) THEN
    SELECT u::text INTO bad FROM unnest(runs) u WHERE NOT EXISTS (SELECT 1 FROM monitor_run r WHERE r.id = u);
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s row names monitor run %s, which does not exist', TG_TABLE_NAME, bad);
  END IF;
  SELECT count(*) INTO found FROM (SELECT 1 FROM swarm s WHERE s.infohash = ANY(swarms) FOR KEY SHARE) l;
  IF found < cardinality(swarms) THEN
    SELECT u INTO bad FROM unnest(swarms) u WHERE NOT EXISTS (SELECT 1 FROM swarm s WHERE s.infohash = u);
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s row names swarm %s, which does not exist', TG_TABLE_NAME, bad);
  END IF;
  FOR link IN SELECT ledger_node AS node, min(ledger_index) AS lo, max(ledger_index) AS hi,
                     count(*) AS total, count(ledger_index) AS linked
                FROM new_rows WHERE ledger_node IS NOT NULL OR ledger_index IS NOT NULL
               GROUP BY ledger_node LOOP
    found := -1;
    IF link.node IS NOT NULL AND link.linked = link.total THEN
      EXECUTE format('SELECT count(*) FROM new_rows n JOIN ledger_entry e ON e.idx = n.ledger_index '
                     'WHERE n.ledger_node = %1$s AND e.node_id = %1$s AND e.idx BETWEEN %2$s AND %3$s '
                     'AND e.kind = %4$L', link.node, link.lo, link.hi, TG_TABLE_NAME) INTO found;
    END IF;
    IF found < link.total THEN
      SELECT format('(%s, %s)', n.ledger_node, n.ledger_index) INTO bad FROM new_rows n
       WHERE n.ledger_node IS NOT DISTINCT FROM link.node
         AND (n.ledger_node IS NOT NULL OR n.ledger_index IS NOT NULL)
         AND NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.node_id = n.ledger_node
                            AND e.idx = n.ledger_index AND e.kind = TG_TABLE_NAME) LIMIT 1;
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%1$s row names ledger entry %2$s, which is no %1$s entry', TG_TABLE_NAME, bad);
    END IF;
  END LOOP;
  RETURN NULL;
END $$
"""

_ENTRY_CHECK = """
CREATE FUNCTION ledger_entries_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE nodes integer[]; batches integer[]; found bigint; bad text;
BEGIN
  SELECT array_agg(DISTINCT node_id) FILTER (WHERE node_id IS NOT NULL),
         array_agg(DISTINCT batch_id) FILTER (WHERE batch_id IS NOT NULL)
    INTO nodes, batches FROM new_rows;
  SELECT count(*) INTO found FROM (SELECT 1 FROM node_key k WHERE k.id = ANY(nodes) FOR KEY SHARE) l;
  IF found < cardinality(nodes) THEN
    SELECT u::text INTO bad FROM unnest(nodes) u WHERE NOT EXISTS (SELECT 1 FROM node_key k WHERE k.id = u);
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('ledger_entry row names node key %s, which does not exist', bad);
  END IF;
  SELECT count(*) INTO found FROM (SELECT 1 FROM ledger_batch b WHERE b.id = ANY(batches) FOR KEY SHARE) l;
  IF found < cardinality(batches) THEN
    SELECT u::text INTO bad FROM unnest(batches) u
     WHERE NOT EXISTS (SELECT 1 FROM ledger_batch b WHERE b.id = u);
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('ledger_entry row names ledger batch %s, which does not exist', bad);
  END IF;
  RETURN NULL;
END $$
"""

# TG_ARGV: the parent's key column, then pairs (child table, its column naming that key).
_PARENT_CHECK = """
CREATE FUNCTION evidence_parents_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE gone text; i integer := 1;
BEGIN
  WHILE i < TG_NARGS LOOP
    IF TG_OP = 'TRUNCATE' THEN
      EXECUTE format('SELECT %1$I::text FROM %2$I WHERE %1$I IS NOT NULL LIMIT 1', TG_ARGV[i + 1], TG_ARGV[i])
         INTO gone;
    ELSE
      EXECUTE format('SELECT o.%1$I::text FROM old_rows o WHERE NOT EXISTS '
                     '(SELECT 1 FROM %2$I p WHERE p.%1$I = o.%1$I) AND EXISTS '
                     '(SELECT 1 FROM %3$I c WHERE c.%4$I = o.%1$I) LIMIT 1',
                     TG_ARGV[0], TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1]) INTO gone;
    END IF;
    IF gone IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%s %s is still named by %s rows', TG_TABLE_NAME, gone, TG_ARGV[i]);
    END IF;
    i := i + 2;
  END LOOP;
  RETURN NULL;
END $$
"""

# child table -> (its column, the parent table, the parent's key) of each replaced foreign key
_REPLACED = {
    "observation": (("run_id", "monitor_run", "id"), ("infohash", "swarm", "infohash")),
    "sighting": (("run_id", "monitor_run", "id"), ("infohash", "swarm", "infohash")),
    "ledger_entry": (("node_id", "node_key", "id"), ("batch_id", "ledger_batch", "id")),
}
_CHILD_FUNCTION = {
    "observation": "evidence_rows_checked",
    "sighting": "evidence_rows_checked",
    "ledger_entry": "ledger_entries_checked",
}


def _parents() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(parent, key) -> [(child, column), ...] over :data:`_REPLACED`."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for child, refs in _REPLACED.items():
        for column, parent, key in refs:
            out.setdefault((parent, key), []).append((child, column))
    return out


def _parent_triggers(parent: str, key: str, children: list[tuple[str, str]]) -> list[str]:
    args = ", ".join(f"'{name}'" for name in (key, *(n for pair in children for n in pair)))
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
    for function in (_CHILD_CHECK, _ENTRY_CHECK, _PARENT_CHECK):
        op.execute(function)
    for table, refs in _REPLACED.items():
        for column, parent, _ in refs:
            op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
        op.execute(
            f"CREATE TRIGGER {table}_rows_checked AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_CHILD_FUNCTION[table]}()"
        )
    for (parent, key), children in _parents().items():
        for statement in _parent_triggers(parent, key, children):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for parent, _ in _parents():
        for event in ("update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER {parent}_kept_on_{event} ON {parent}")
    for table, refs in _REPLACED.items():
        op.execute(f"DROP TRIGGER {table}_rows_checked ON {table}")
        for column, parent, key in refs:
            op.create_foreign_key(f"fk_{table}_{column}_{parent}", table, parent, [column], [key])
    for function in ("evidence_parents_kept", "ledger_entries_checked", "evidence_rows_checked"):
        op.execute(f"DROP FUNCTION {function}()")
