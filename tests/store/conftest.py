"""Fixtures: a fresh evidence store (a writer, with a node key) in a temporary directory, with two swarms
and one run; the same on the scratch PostgreSQL (``SWARMSCOPE_TEST_PG_URL``), emptied after the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.migrate import alembic_config
from tests.store.factories import T0, add_swarms


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "evidence.db"


@pytest.fixture
def node_key(db_path: Path) -> Ed25519PrivateKey:
    return load_or_create_node_key(default_key_path(str(db_path)))


@pytest.fixture
def store(db_path: Path, node_key: Ed25519PrivateKey) -> Iterator[Store]:
    s = open_store(str(db_path), node_key=node_key, now_us=T0)
    try:
        add_swarms(s)
        yield s
    finally:
        s.close()


@pytest.fixture
def run_id(store: Store) -> int:
    return store.start_run({"max_peers": 50, "trackers": ["http://127.0.0.1:6969/announce"]}, "0.1.0", T0)


@pytest.fixture
def pg_store(node_key: Ed25519PrivateKey) -> Iterator[Store]:
    """A writer store on the scratch PostgreSQL with two swarms; its schema goes down to base after."""
    url = os.environ.get("SWARMSCOPE_TEST_PG_URL")
    assert url is not None, "a PostgreSQL test module skips without SWARMSCOPE_TEST_PG_URL"
    store = open_store(url, node_key=node_key, now_us=T0)
    try:
        add_swarms(store)
        yield store
    finally:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        store.close()
