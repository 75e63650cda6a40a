"""Fixtures of the crash-loop and store-fault tests (``test_crash_loop.py``, ``test_store_faults.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from swarmscope.testbed.swarm import Swarm, start_swarm
from tests import pg_server


@pytest.fixture(scope="module")
def crash_swarm(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    """The testbed swarm, shared by a module's tests (each uses a store of its own)."""
    with start_swarm(tmp_path_factory.mktemp("swarm"), monitor_ip="127.0.0.1") as running:
        yield running


@contextmanager
def _own_pg() -> Iterator[pg_server.ScratchPostgres]:
    """A PostgreSQL server of the caller's own (skips when PostgreSQL tests are off or absent)."""
    if os.environ.get("SWARMSCOPE_TEST_PG", "1") == "0":
        pytest.skip("SWARMSCOPE_TEST_PG=0: PostgreSQL tests are off")
    server = pg_server.start()
    if server is None:
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def scratch_pg() -> Iterator[pg_server.ScratchPostgres]:
    """A PostgreSQL server of the module's own: its store starts empty, and restarting it disturbs nobody."""
    with _own_pg() as server:
        yield server


@pytest.fixture
def fleet_db() -> Iterator[str]:
    """The URL of a fleet database on a PostgreSQL server of the test's own."""
    with _own_pg() as server:
        yield server.url
