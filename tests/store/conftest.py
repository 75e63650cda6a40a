"""Fixtures: a fresh evidence store (a writer, with a node key) in a temporary directory, with two swarms
and one run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
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
