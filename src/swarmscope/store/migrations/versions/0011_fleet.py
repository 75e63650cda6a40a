"""The fleet: nodes, registered swarms, leases with fencing tokens, the fences of evidence batches.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

New tables ``fleet_node``, ``fleet_swarm``, ``fleet_lease``, ``lease_fence`` (on every database, so one
schema module serves both; the fleet itself refuses SQLite). On PostgreSQL also:

- ``swarmscope_now_us()``: database time, UTC microseconds (``clock_timestamp()``: the time of the call,
  not of the transaction start, so a long transaction cannot stretch a lease).
- sequence ``fleet_lease_token``: every lease take or takeover draws the next fencing token.
- trigger ``fleet_lease_vantages``: a swarm never has more leases than ``fleet_swarm.vantages`` (the swarm
  row is locked first, so two takers of its last slot serialise; SQLSTATE ``SF002``).
- ``fleet_node.share`` and ``fleet_lease.handoff``: the rebalancing job's fair share per node and the
  leases it asks their holders to hand off (a node over its share releases them cleanly).
- trigger ``lease_fence_current``: a batch fence must name the current token of a live (unexpired) lease
  held by the node that sealed the batch, locked ``FOR SHARE`` until the batch commits; otherwise the
  whole batch transaction fails (SQLSTATE ``SF001``).
- constraint trigger ``ledger_batch_fenced`` (deferred to COMMIT): a batch sealed by a fleet node must
  carry a fence for every swarm its observations and sightings belong to, so a fleet node's key cannot
  write around its leases (a batch sealed late by crash recovery is exempt: it adds no record rows).
- that check finds a batch's rows by their ledger link through the ``(ledger_node, ledger_index)`` indexes
  migration 0010 creates.

A frozen snapshot (no import of ``fleet/schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NOW_US = (
    "CREATE FUNCTION swarmscope_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS "
    "$$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint $$"
)

_VANTAGES = """
CREATE FUNCTION fleet_lease_vantages() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted integer; held integer;
BEGIN
  SELECT vantages INTO wanted FROM fleet_swarm WHERE infohash = NEW.infohash FOR UPDATE;
  SELECT count(*) INTO held FROM fleet_lease WHERE infohash = NEW.infohash AND id <> NEW.id;
  IF held >= wanted THEN
    RAISE EXCEPTION USING ERRCODE = 'SF002',
      MESSAGE = format('swarm %s already has %s of %s wanted leases', NEW.infohash, held, wanted);
  END IF;
  RETURN NEW;
END $$
"""

_FENCE = """
CREATE FUNCTION lease_fence_current() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE expires bigint;
BEGIN
  SELECT l.expires_us INTO expires
    FROM fleet_lease l
    JOIN fleet_node n ON n.name = l.node_name
    JOIN node_key k ON k.fingerprint = n.fingerprint
    JOIN ledger_batch b ON b.node_id = k.id
   WHERE b.id = NEW.batch_id AND l.infohash = NEW.infohash AND l.token = NEW.token
     FOR SHARE OF l;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'SF001',
      MESSAGE = format('fencing: lease token %s of swarm %s is not held by this node',
                       NEW.token, NEW.infohash);
  END IF;
  IF expires <= swarmscope_now_us() THEN
    RAISE EXCEPTION USING ERRCODE = 'SF001',
      MESSAGE = format('fencing: lease token %s of swarm %s expired', NEW.token, NEW.infohash);
  END IF;
  RETURN NEW;
END $$
"""

_COVERED = """
CREATE FUNCTION ledger_batch_fenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE unfenced text;
BEGIN
  IF NEW.recovered OR NOT EXISTS (SELECT 1 FROM fleet_node n JOIN node_key k ON k.fingerprint = n.fingerprint
                                   WHERE k.id = NEW.node_id) THEN
    RETURN NULL;
  END IF;
  SELECT r.infohash INTO unfenced FROM (
      SELECT o.infohash FROM observation o
       WHERE o.ledger_node = NEW.node_id AND o.ledger_index BETWEEN NEW.first_index AND NEW.last_index
      UNION
      SELECT s.infohash FROM sighting s
       WHERE s.ledger_node = NEW.node_id AND s.ledger_index BETWEEN NEW.first_index AND NEW.last_index
  ) r
   WHERE NOT EXISTS (SELECT 1 FROM lease_fence f WHERE f.batch_id = NEW.id AND f.infohash = r.infohash)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'SF001',
      MESSAGE = format('fencing: batch %s of a fleet node names no lease of swarm %s', NEW.id, unfenced);
  END IF;
  RETURN NULL;
END $$
"""


def _create_registers() -> None:
    op.create_table(
        "fleet_node",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("source_ip", sa.Text),
        sa.Column("listen_port", sa.Integer, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_us", sa.BigInteger, nullable=False),
        sa.Column("stopped_us", sa.BigInteger),
        sa.Column("share", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_node"),
        sa.UniqueConstraint("name", name="uq_fleet_node_name"),
        sa.ForeignKeyConstraint(
            ["fingerprint"], ["node_key.fingerprint"], name="fk_fleet_node_fingerprint_node_key"
        ),
    )
    op.create_table(
        "fleet_swarm",
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("metainfo", sa.LargeBinary),
        sa.Column("magnet", sa.Text),
        sa.Column("work", sa.Text),
        sa.Column("vantages", sa.Integer, nullable=False),
        sa.Column("added_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("infohash", name="pk_fleet_swarm"),
        sa.CheckConstraint("vantages >= 1", name="ck_fleet_swarm_vantages_positive"),
        sa.CheckConstraint("metainfo IS NOT NULL OR magnet IS NOT NULL", name="ck_fleet_swarm_has_source"),
    )


def _create_leases() -> None:
    op.create_table(
        "fleet_lease",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("node_name", sa.Text, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("taken_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("handoff", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_lease"),
        sa.ForeignKeyConstraint(
            ["infohash"],
            ["fleet_swarm.infohash"],
            name="fk_fleet_lease_infohash_fleet_swarm",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_name"], ["fleet_node.name"], name="fk_fleet_lease_node_name_fleet_node"
        ),
        sa.UniqueConstraint("token", name="uq_fleet_lease_token"),
        sa.UniqueConstraint("infohash", "node_name", name="uq_fleet_lease_infohash_node_name"),
    )
    op.create_table(
        "lease_fence",
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "infohash", name="pk_lease_fence"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["ledger_batch.id"], name="fk_lease_fence_batch_id_ledger_batch"
        ),
    )


def upgrade() -> None:
    _create_registers()
    _create_leases()
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_NOW_US)
    op.execute("CREATE SEQUENCE fleet_lease_token")
    op.execute(_VANTAGES)
    op.execute(
        "CREATE TRIGGER fleet_lease_vantages BEFORE INSERT OR UPDATE OF infohash ON fleet_lease "
        "FOR EACH ROW EXECUTE FUNCTION fleet_lease_vantages()"
    )
    op.execute(_FENCE)
    op.execute(
        "CREATE TRIGGER lease_fence_current BEFORE INSERT ON lease_fence "
        "FOR EACH ROW EXECUTE FUNCTION lease_fence_current()"
    )
    op.execute(_COVERED)
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_batch_fenced AFTER INSERT ON ledger_batch "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_batch_fenced()"
    )


def downgrade() -> None:
    for table in ("lease_fence", "fleet_lease", "fleet_swarm", "fleet_node"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_batch_fenced ON ledger_batch")
        op.execute("DROP FUNCTION ledger_batch_fenced()")
        op.execute("DROP FUNCTION lease_fence_current()")
        op.execute("DROP FUNCTION fleet_lease_vantages()")
        op.execute("DROP SEQUENCE fleet_lease_token")
        op.execute("DROP FUNCTION swarmscope_now_us()")
