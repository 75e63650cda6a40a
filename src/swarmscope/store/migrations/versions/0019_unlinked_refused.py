"""PostgreSQL: an observation or sighting without a ledger link is refused.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Replaces the function ``evidence_rows_checked()`` of revision 0017 (the statement-level trigger on
``observation`` and ``sighting``; the triggers themselves are unchanged). It checked a row's ledger link only
when one was set, so a row with neither ``ledger_node`` nor ``ledger_index`` (the ``unsealed`` state of a
row written before the sealed ledger, revision 0002) was accepted. Such a row is in no sealed batch, so the
fleet's fencing (revision 0011: ``lease_fence_current`` on a batch's fences, ``ledger_batch_fenced``
finding a batch's rows by their links) never sees it: a node presumed dead could still add evidence rows
for a swarm another node now holds. On PostgreSQL, the fleet's database, every new row must now carry a
link to a ledger entry of its own kind (refused with SQLSTATE 23503, the whole statement): the store's
writer (``store/ledger/commit.py``) always links, inside the fenced batch transaction. Rows already stored
are not touched. SQLite keeps accepting an unlinked row and reporting it ``unsealed``
(``store/ledger/seal_state.py``): the single-laptop store has no fleet and no fencing to bypass.

The same function also reads the transition table's distinct runs and swarms by hashing (``SELECT
DISTINCT`` in a subquery, a HashAggregate) instead of ``array_agg(DISTINCT ...)``, which sorts every row's
``infohash`` under the database's collation to find the one or few distinct values. Measured (EXPLAIN
ANALYZE of a 5,000-row INSERT of observations, PostgreSQL 15, 2 loaded cores): the whole check took 43 ms
(revision 0017) and 40 ms (this one) of a 225-245 ms statement: the same within noise; the links' join
(an index probe and a heap read of ``kind`` per row) is most of it.

A frozen snapshot (no import of the project); the downgrade restores revision 0017's function.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_CHECK = """
CREATE OR REPLACE FUNCTION evidence_rows_checked() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off
AS $$
DECLARE runs integer[]; swarms text[]; found bigint; bad text; link record;
BEGIN
  SELECT array_agg(run_id) INTO runs FROM (SELECT DISTINCT run_id FROM new_rows) d;
  SELECT array_agg(infohash) INTO swarms FROM (SELECT DISTINCT infohash FROM new_rows) d;
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
                FROM new_rows GROUP BY ledger_node LOOP
    IF link.node IS NULL AND link.linked < link.total THEN
      SELECT format('%s:%s port %s', n.infohash, n.ip, n.port) INTO bad FROM new_rows n
       WHERE n.ledger_node IS NULL AND n.ledger_index IS NULL LIMIT 1;
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%s row of %s has no ledger link: evidence is written sealed, in the batch that '
                         'seals it', TG_TABLE_NAME, bad);
    END IF;
    found := -1;
    IF link.node IS NOT NULL AND link.linked = link.total THEN
      EXECUTE format('SELECT count(*) FROM new_rows n JOIN ledger_entry e ON e.idx = n.ledger_index '
                     'WHERE n.ledger_node = %1$s AND e.node_id = %1$s AND e.idx BETWEEN %2$s AND %3$s '
                     'AND e.kind = %4$L', link.node, link.lo, link.hi, TG_TABLE_NAME) INTO found;
    END IF;
    IF found < link.total THEN
      SELECT format('(%s, %s)', n.ledger_node, n.ledger_index) INTO bad FROM new_rows n
       WHERE n.ledger_node IS NOT DISTINCT FROM link.node
         AND NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.node_id = n.ledger_node
                            AND e.idx = n.ledger_index AND e.kind = TG_TABLE_NAME) LIMIT 1;
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%1$s row names ledger entry %2$s, which is no %1$s entry', TG_TABLE_NAME, bad);
    END IF;
  END LOOP;
  RETURN NULL;
END $$
"""

# Revision 0017's function, verbatim but for OR REPLACE and a line break: what the downgrade restores.
_BEFORE = """
CREATE OR REPLACE FUNCTION evidence_rows_checked() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off
AS $$
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_BEFORE)
