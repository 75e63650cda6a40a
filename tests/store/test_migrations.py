"""Alembic migrations: fresh file to head, downgrade/upgrade round trip, no drift from schema.py."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from swarmscope.store.database import APPEND_ONLY_TABLES, create_engine, database_url, open_store
from swarmscope.store.metadata import metadata
from swarmscope.store.migrate import alembic_config

EXPECTED_TABLES = {
    "alembic_version",
    "swarm",
    "monitor_run",
    "sighting",
    "observation",
    "node_key",
    "ledger_batch",
    "ledger_entry",
    "batch_timestamp",
    "capture",
    "blob",
    "reference_piece",
    "clock_sample",
    "run_started",
    "quarantined_row",
    # the legal workflow (migration 0003)
    "dataset",
    "attribution",
    "client",
    "work",
    "work_torrent",
    "isp",
    "disclosure_request",
    "disclosure_event",
    "legal_case",
    "case_event",
    "subscriber",
    "audit_log",
    "notice",
    "letter",
    "payment",
    "dispute",
    "purge_log",
    # migration 0004
    "purge_authorization",
    # migration 0006
    "redaction",
    "workflow_event",
    # migration 0009 (the web console's access control)
    "web_user",
    "web_token",
    "web_session",
    "web_login_attempt",
    # migration 0010: the console's read models and the monitor's live stats
    "console_peer",
    "console_place",
    "console_minute",
    "console_swarm",
    "console_client",
    "console_batch",
    "monitor_stat",
    # the fleet (migration 0011)
    "fleet_node",
    "fleet_swarm",
    "fleet_lease",
    "lease_fence",
    # the fleet's periodic duties (migration 0013)
    "fleet_duty",
}
ALL_TRIGGERS = {f"{t}_append_only_{a}" for t in APPEND_ONLY_TABLES for a in ("update", "delete")}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _triggers(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'").scalars())


def test_fresh_file_migrates_to_head(db_path: Path) -> None:
    store = open_store(str(db_path))
    try:
        assert _tables(store.engine) == EXPECTED_TABLES
        with store.engine.connect() as conn:
            heads = ScriptDirectory.from_config(alembic_config(conn)).get_heads()
            assert len(heads) == 1, f"the migrations have several heads {heads}: give one a down_revision"
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == heads[0]
        assert _triggers(store.engine) == ALL_TRIGGERS
    finally:
        store.close()


def test_migrated_schema_matches_schema_module(db_path: Path) -> None:
    open_store(str(db_path)).close()
    engine = create_engine(database_url(str(db_path)))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(db_path: Path) -> None:
    open_store(str(db_path)).close()
    engine = create_engine(database_url(str(db_path)))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert _tables(engine) == {"alembic_version"}
        assert _triggers(engine) == set()
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert _tables(engine) == EXPECTED_TABLES
        assert _triggers(engine) == ALL_TRIGGERS
    finally:
        engine.dispose()


def test_open_twice_is_idempotent(db_path: Path) -> None:
    open_store(str(db_path)).close()
    open_store(str(db_path)).close()
    open_store(str(db_path), create=False).close()


def test_downgrade_to_0001_keeps_its_triggers_and_rows(db_path: Path) -> None:
    open_store(str(db_path)).close()
    engine = create_engine(database_url(str(db_path)))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        assert _tables(engine) == {"alembic_version", "swarm", "monitor_run", "sighting", "observation"}
        assert _triggers(engine) == {
            f"{t}_append_only_{a}" for t in ("sighting", "observation") for a in ("update", "delete")
        }
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert _triggers(engine) == ALL_TRIGGERS
    finally:
        engine.dispose()
