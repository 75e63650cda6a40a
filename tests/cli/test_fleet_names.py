"""Names in ``fleet`` output and node lines stay on one line; ``fleet add --work`` naming no work warns.

A magnet's ``dn`` is chosen by whoever made the magnet: ``%0a`` in it must not forge a line of
``fleet status`` or of a node's log (cli/text.py ``one_line``). ``--work`` is matched by exact title
(store/legal/cases.py ``swarm_reference_works``): a title that names no work is one warning line, and the
swarm is registered all the same (the work may be added later).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.fleet import status_lines
from swarmscope.cli.node import say
from swarmscope.cli.text import one_line
from swarmscope.store.database import open_store
from swarmscope.store.fleet.status import FleetStatus, SwarmCoverage
from swarmscope.store.legal.cases import add_work
from swarmscope.store.migrate import alembic_config

register_commands()

runner = CliRunner()
PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
FORGED = "film\nn9 forged 127.0.3.9 heartbeat 0.1s ago\u2028x\u2029y\r\x1b[2J"


@pytest.fixture
def pg() -> Iterator[str]:
    assert PG_URL is not None
    yield PG_URL
    with open_store(PG_URL) as store, store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")


def test_one_line_neutralises_every_line_break_and_control() -> None:
    shown = one_line(FORGED)
    assert shown.startswith("film\ufffdn9 forged") and "\t" not in shown
    assert not any(c in shown for c in "\n\r\u2028\u2029\x1b\x85\x0b\x0c"), repr(shown)
    assert one_line("a\tb") == "a\tb"  # a tab breaks no line


def test_status_prints_a_forged_swarm_name_on_its_own_line() -> None:
    state = FleetStatus(0, [], [SwarmCoverage("ab" * 20, FORGED, None, 2, ("n1",))])
    lines = status_lines(state)
    assert len(lines) == 3 and all("\n" not in line and "\u2028" not in line for line in lines), lines
    assert lines[2].startswith(f"  {'ab' * 20} film\ufffdn9 forged") and lines[2].endswith("UNDER-COVERED")


def test_a_node_line_with_a_forged_name_stays_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    say(f"leased {'ab' * 20} ({FORGED}) token 7")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"leased {'ab' * 20} (film\ufffdn9 forged"), repr(out)


@needs_pg
def test_fleet_add_and_status_keep_a_newline_in_a_magnet_name_on_one_line(pg: str) -> None:
    magnet = "magnet:?xt=urn:btih:" + "cd" * 20 + "&dn=film%0an9%20forged%E2%80%A8x"
    result = runner.invoke(app, ["fleet", "add", magnet, "--db", pg])
    assert result.exit_code == 0, result.output
    expected = f"added {'cd' * 20} film\ufffdn9 forged\ufffdx (2 vantages)\n"
    assert result.output == expected, repr(result.output)
    result = runner.invoke(app, ["fleet", "status", "--db", pg])
    assert result.exit_code == 0 and "\u2028" not in result.output, result.output
    assert result.output.splitlines()[2] == f"  {'cd' * 20} film\ufffdn9 forged\ufffdx 0/2 [-] UNDER-COVERED"
    assert result.output.splitlines()[3].startswith("duties:"), result.output


@needs_pg
def test_fleet_add_warns_once_when_work_names_no_work(pg: str) -> None:
    magnet = "magnet:?xt=urn:btih:" + "ef" * 20 + "&dn=film"
    result = runner.invoke(app, ["fleet", "add", magnet, "--db", pg, "--work", "No Such Film"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"added {'ef' * 20} film (2 vantages)", lines
    assert len(lines) == 2, lines
    assert lines[1].startswith("warning: --work 'No Such Film' names no work (yet)"), lines
    with open_store(pg, create=False) as store:
        add_work(store, "Studio", "Some Film", None, None, 1_700_000_000_000_000)
    result = runner.invoke(app, ["fleet", "add", magnet, "--db", pg, "--work", "Some Film"])
    assert (result.exit_code, result.output) == (0, f"updated {'ef' * 20} film (2 vantages)\n"), result.output
