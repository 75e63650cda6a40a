"""Fixtures: a fresh evidence store in a temporary directory, with two swarms and one run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.store.database import Store, open_store
from tests.store.factories import T0, add_swarms


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "evidence.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = open_store(str(db_path))
    try:
        add_swarms(s)
        yield s
    finally:
        s.close()


@pytest.fixture
def run_id(store: Store) -> int:
    return store.start_run({"max_peers": 50, "trackers": ["http://127.0.0.1:6969/announce"]}, "0.1.0", T0)
