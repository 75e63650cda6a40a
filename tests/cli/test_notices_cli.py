"""``swarmscope notices`` through the Typer app: files, validation, --send to a real loopback SMTP server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.acns import extract_xml, load_schema, validate_notice
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal.notices import notice_rows
from swarmscope.testbed.smtp import start_smtp
from tests.cases.test_exhibits import build_world
from tests.cases.test_notices import XSD
from tests.tampering import tamper_file

register_commands()


@pytest.fixture
def xsd() -> Path:
    if not XSD.is_file():
        pytest.skip(f"ACNS schema not found at {XSD}")
    return XSD


def _rows(db: Path) -> list[tuple[str, int | None]]:
    store = open_store(str(db), create=False)
    try:
        return [(r.notice_id, r.sent_us) for r in notice_rows(store)]
    finally:
        store.close()


def test_notices_written_and_validated(tmp_path: Path, xsd: Path) -> None:
    world = build_world(tmp_path / "e.db")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["notices", "--out", str(out), "--db", str(world.db), "--xsd", str(xsd)])
    assert result.exit_code == 0, result.output
    assert "3 notice(s) written, validated against the ACNS 1.2 schema" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"SWS-DOE-00000{n}.{ext}" for n in (1, 2, 3) for ext in ("txt", "xml")
    ]
    schema = load_schema(xsd)
    validate_notice(schema, extract_xml((out / "SWS-DOE-000003.txt").read_text(encoding="utf-8")))
    unvalidated = CliRunner().invoke(app, ["notices", "--out", str(out), "--db", str(world.db)])
    assert unvalidated.exit_code == 0 and "NOT validated" in unvalidated.output


def test_send_delivers_to_loopback_and_marks_sent(tmp_path: Path, xsd: Path) -> None:
    world = build_world(tmp_path / "e.db")
    args = ["notices", "--out", str(tmp_path / "o"), "--db", str(world.db), "--xsd", str(xsd), "--isp"]
    with start_smtp() as server:
        result = CliRunner().invoke(
            app,
            [*args, "Loopback Telecom", "--send", "--smtp-host", server.host, "--smtp-port", str(server.port),
             "--from", "notices@rights.test", "--complainant-entity", "Agent Ltd",
             "--complainant-email", "agent@agent.test", "--id-prefix", "AGT"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert len(server.messages) == 2
        assert {str(m["To"]) for m in server.messages} == {"abuse@loopback.test"}
        assert "<Entity>Agent Ltd</Entity>" in server.messages[0].get_content()
    rows = dict(_rows(world.db))
    assert set(rows) == {"AGT-DOE-000001", "AGT-DOE-000002"} and all(v is not None for v in rows.values())


def test_send_refusals_and_server_down(tmp_path: Path, xsd: Path) -> None:
    world = build_world(tmp_path / "e.db")
    base = ["notices", "--out", str(tmp_path / "o"), "--db", str(world.db)]
    no_from = CliRunner().invoke(app, [*base, "--send", "--xsd", str(xsd)])
    assert no_from.exit_code == 1 and "--from" in no_from.output
    no_xsd = CliRunner().invoke(app, [*base, "--send", "--from", "n@rights.test"])
    assert no_xsd.exit_code == 1 and "--xsd" in no_xsd.output
    bad_prefix = CliRunner().invoke(app, [*base, "--id-prefix", "a/b"])
    assert bad_prefix.exit_code == 1 and "--id-prefix" in bad_prefix.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = CliRunner().invoke(
        app,
        [*base, "--send", "--xsd", str(xsd), "--from", "n@rights.test", "--smtp-host", "127.0.0.1",
         "--smtp-port", str(port), "--smtp-timeout", "5"],
    )  # fmt: skip
    assert down.exit_code == 1 and "NOT sent" in down.output and "unreachable" in down.output
    assert [sent for _id, sent in _rows(world.db)] == [None, None, None]


def test_cases_that_get_no_notice_at_all_make_the_command_fail(tmp_path: Path, xsd: Path) -> None:
    """No complainant contact: every case is skipped, and the exit status says so (not 0)."""
    world = build_world(tmp_path / "e.db", client_contact=None)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["notices", "--out", str(out), "--db", str(world.db), "--xsd", str(xsd)])
    assert result.exit_code == 1, result.output
    assert "0 notice(s) written" in result.output and "skipped DOE-000001" in result.output


def test_send_goes_on_past_a_status_altered_case_then_fails_naming_it(tmp_path: Path) -> None:
    """Counsel withdraws DOE-000001 (sealed); the writer sets it back to ``candidate``. ``notices --send``
    sends the other cases' notices, names the altered case in one line and exits 1."""
    world = build_world(tmp_path / "e.db")
    db = str(world.db)
    withdraw = CliRunner().invoke(
        app, ["cases", "event", "DOE-000001", "withdraw", "--actor", "c", "--db", db]
    )
    assert withdraw.exit_code == 0, withdraw.output
    tamper_file(db, "UPDATE legal_case SET status = 'candidate', closed_us = NULL WHERE doe = 'DOE-000001'")
    with start_smtp() as server:
        result = CliRunner().invoke(
            app,
            ["notices", "--out", str(tmp_path / "o"), "--db", db, "--send", "--no-validate", "--smtp-host",
             server.host, "--smtp-port", str(server.port), "--from", "notices@rights.test"],
        )  # fmt: skip
        assert len(server.messages) == 2, result.output
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: skipped DOE-000001: DOE-000001: refused: status altered (it says 'candidate'"
    ), result.stderr
    assert sorted(notice for notice, sent in _rows(world.db) if sent is not None) == [
        "SWS-DOE-000002",
        "SWS-DOE-000003",
    ]


def test_a_bidi_override_in_the_complainant_is_refused(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    out = tmp_path / "o"
    result = CliRunner().invoke(
        app,
        ["notices", "--out", str(out), "--db", str(world.db), "--complainant-entity", "Acme\u202eproC",
         "--complainant-email", "agent@agent.test"],
    )  # fmt: skip
    assert result.exit_code == 1 and "complainant entity: contains a control, bidi" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (out.exists() and any(out.iterdir()))
