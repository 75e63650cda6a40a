"""Fixtures of the letter tests: the letters world (tests/cli/letter_world.py), an SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.testbed.smtp import SmtpServer, start_smtp
from tests.cli.letter_world import World, open_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The letters world; its store is closed afterwards (a test module may define its own ``world``)."""
    yield from open_world(tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 (testbed/smtp.py), stopped afterwards."""
    server = start_smtp("127.0.0.1")
    try:
        yield server
    finally:
        server.stop()
