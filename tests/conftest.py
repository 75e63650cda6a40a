"""Test session setup: every test runs inside a private network namespace when we are root.

The namespace is entered once, before any thread or subprocess starts, so every real client a test
launches inherits it and no packet can leave the machine (brief: "Network rule"). Set
SWARMSCOPE_TEST_NETNS=0 to run on the host loopback instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from swarmscope.netns import enter_private_netns, in_private_netns
from tests import pg_server

# ../shared beside the project (as in CI); SWARMSCOPE_SHARED points elsewhere (e.g. from a clone in /tmp)
SHARED = Path(os.environ.get("SWARMSCOPE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
FIXTURES = SHARED / "fixtures" / "torrents"


_SCRATCH_PG: pg_server.ScratchPostgres | None = None

# Shared, noisy machines (brief: speed is measured in benchmarks, never in timed tests): hypothesis keeps
# its example counts but neither times examples nor fails a run because generating them was slow.
settings.register_profile(
    "swarmscope", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "swarmscope"))


def _xdist_controller(config: pytest.Config) -> bool:
    """True in the pytest-xdist process that only hands tests to workers (it runs none itself)."""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", default=None))


def pytest_configure(config: pytest.Config) -> None:
    if _xdist_controller(config):
        return  # each worker enters its own namespace and starts its own scratch PostgreSQL
    if os.environ.get("SWARMSCOPE_TEST_NETNS", "1") != "0":
        enter_private_netns()
    _start_scratch_postgresql()


def _start_scratch_postgresql() -> None:
    """Start a scratch PostgreSQL for the PostgreSQL tests unless one is named (see tests/pg_server.py).

    Set before test modules are imported, so their module-level ``SWARMSCOPE_TEST_PG_URL`` reads see it.
    """
    global _SCRATCH_PG
    if os.environ.get("SWARMSCOPE_TEST_PG_URL") or os.environ.get("SWARMSCOPE_TEST_PG", "1") == "0":
        return
    _SCRATCH_PG = pg_server.start()
    if _SCRATCH_PG is not None:
        os.environ["SWARMSCOPE_TEST_PG_URL"] = _SCRATCH_PG.url


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SCRATCH_PG
    if _SCRATCH_PG is not None:
        _SCRATCH_PG.stop()
        os.environ.pop("SWARMSCOPE_TEST_PG_URL", None)
        _SCRATCH_PG = None


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures/torrents, or skip when the shared folder is absent (a clone elsewhere)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}: set SWARMSCOPE_SHARED to the shared folder")
    return FIXTURES


@pytest.fixture(scope="session")
def netns() -> bool:
    """Skip unless the session runs in a private network namespace (needed by real-client tests)."""
    if not in_private_netns():
        pytest.skip("needs a private network namespace: run as root with unshare available")
    return True
