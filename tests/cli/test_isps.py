"""``swarmscope isps`` in-process: directory, disclosure requests with dates, cooperation rate."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.thresholds import Candidate
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import load_node_key
from swarmscope.store.database import open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.tampering import key_trust

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()
T0 = 1_796_000_000_000_000
HOUR = 3600 * 10**6


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def add_loopnet(db: str) -> None:
    code, out = invoke(
        "isps",
        "add",
        "Loopnet",
        "--db",
        db,
        "--asn",
        "64500",
        "--asn",
        "64501",
        "--abuse-email",
        "abuse@loop.example",
        "--legal-address",
        "1 Loop St",
        "--country",
        "DE",
    )
    assert code == 0 and "Loopnet AS64500, AS64501" in out


def test_add_and_list(tmp_path: Path) -> None:
    db = str(tmp_path / "i.db")
    add_loopnet(db)
    code, out = invoke("isps", "list", "--db", db)
    assert (
        code == 0
        and "Loopnet  AS64500,AS64501  abuse=abuse@loop.example  country=DE  address=1 Loop St" in out
    )
    code, out = invoke(
        "isps",
        "add",
        "Other",
        "--db",
        db,
        "--asn",
        "64501",
        "--abuse-email",
        "a@o.example",
        "--legal-address",
        "x",
    )
    assert code == 1 and "AS64501 already belongs to 'Loopnet'" in out
    code, out = invoke(
        "isps", "add", "Bad", "--db", db, "--asn", "1", "--abuse-email", "nobody", "--legal-address", "x"
    )
    assert code == 1 and "not a single valid e-mail address" in out


@pytest.mark.parametrize(
    "email",
    ["nobody", "abuse@isp.test\r\nBcc: spy@evil.test", "a b@isp.test", "Abuse <abuse@isp.test>", "a@b@c"],
)
def test_add_refuses_an_invalid_abuse_email(tmp_path: Path, email: str) -> None:
    """M8: the abuse address goes into SMTP headers of notices; CR/LF or a display name is refused."""
    db = str(tmp_path / "i.db")
    code, out = invoke(
        "isps", "add", "Bad", "--db", db, "--asn", "1", "--abuse-email", email, "--legal-address", "x"
    )
    assert code == 1 and "error: --abuse-email: not a single valid e-mail address" in out
    assert "spy" not in out and "Traceback" not in out
    with open_store(db) as store:
        assert sc.list_isps(store) == []


def test_request_lifecycle_and_status(tmp_path: Path) -> None:
    db = str(tmp_path / "i.db")
    add_loopnet(db)
    with open_store(db) as store:
        isp = sc.get_isp(store, "Loopnet").id
        case = case_status.upsert_case(
            store, Candidate("127.0.0.9", "aa" * 20, 6881, T0, T0 + 2 * HOUR, 3), None, isp, None, None, T0
        )
    code, out = invoke("isps", "request", "Loopnet", "--db", db, "--status", "drafted", "--actor", "alice")
    assert code == 0 and "request 1: drafted for Loopnet, 1 case(s)" in out
    code, out = invoke(
        "isps",
        "request",
        "Loopnet",
        "--db",
        db,
        "--status",
        "served",
        "--date",
        "2026-12-01T09:00:00",
        "--actor",
        "alice",
        "--note",
        "by courier",
    )
    assert code == 0 and "request 1: served since 2026-12-01T09:00:00.000000Z" in out
    with open_store(db) as store:
        assert case_status.get_case(store, case.id).status == "requested"
        events = case_status.request_events(store, 1)
        assert [(e.status, e.actor) for e in events] == [("drafted", "alice"), ("served", "alice")]
        assert case_status.case_events(store, case.id)[-1].note == "request: request 1 served"
    code, out = invoke(
        "isps", "request", "Loopnet", "--db", db, "--status", "drafted"
    )  # served: none to attach
    assert "request 2: drafted for Loopnet, 0 case(s)" in out
    code, out = invoke("isps", "request", "1", "--db", db, "--request", "1", "--status", "partially_complied")
    assert code == 0
    code, out = invoke("isps", "request", "Loopnet", "--db", db, "--request", "2", "--status", "complied")
    assert code == 1 and "cannot move from 'drafted' to 'complied'" in out
    code, out = invoke("isps", "status", "--db", db)
    assert code == 0
    assert "Loopnet: drafted=1, partially_complied=1; answered=1 cooperation=50%" in out
    assert "request 1: partially_complied since" in out and "1 case(s)" in out


def test_request_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "i.db")
    add_loopnet(db)
    code, out = invoke("isps", "request", "Loopnet", "--db", db, "--status", "served")
    assert code == 1 and "no open disclosure request" in out
    code, out = invoke("isps", "request", "Loopnet", "--db", db, "--status", "maybe")
    assert code == 1 and "unknown request status 'maybe'" in out
    code, out = invoke("isps", "request", "Nobody", "--db", db, "--status", "drafted")
    assert code == 1 and "not in the directory" in out
    code, out = invoke("isps", "request", "Loopnet", "--db", db, "--status", "drafted", "--date", "yesterday")
    assert code == 1 and "--date" in out


def test_status_without_requests(tmp_path: Path) -> None:
    db = str(tmp_path / "i.db")
    add_loopnet(db)
    assert invoke("isps", "status", "--db", db) == (0, "Loopnet: no requests; answered=0 cooperation=-\n")


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066", "\x07", "\x1b", "\r", "\t", "\u2029"])
def test_add_refuses_control_characters_in_name_and_address(tmp_path: Path, char: str) -> None:
    db = tmp_path / "isps.db"
    base = ["--asn", "64500", "--abuse-email", "abuse@loop.example", "--db", str(db)]
    result = runner.invoke(app, ["isps", "add", f"Loop{char}net", *base, "--legal-address", "1 Loop St"])
    assert result.exit_code == 1 and result.stderr.startswith("error: NAME: contains a control"), (
        result.output
    )
    result = runner.invoke(app, ["isps", "add", "Loopnet", *base, "--legal-address", f"1 Loop{char} St"])
    assert result.exit_code == 1 and "--legal-address: contains a control" in result.stderr, result.output
    assert "only line breaks are allowed" in result.stderr and char not in result.output
    code, out = invoke(
        "isps", "add", "Loopnet", *base, "--abuse-email", "a b@x", "--legal-address", "1 Loop St"
    )
    assert code == 1 and "--abuse-email: not a single valid" in out
    assert not db.exists()  # bad input creates no database
    code, out = invoke("isps", "add", "Loopnet", *base, "--legal-address", "1 Loop St\n12345 Loop")
    assert code == 0, out


def test_status_with_no_isps_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "isps.db")
    open_store(db).close()
    assert invoke("isps", "status", "--db", db) == (0, "no ISPs\n")


def test_request_region_refuses_a_bidi_override(tmp_path: Path) -> None:
    db = str(tmp_path / "isps.db")
    add_loopnet(db)
    code, out = invoke(
        "isps", "request", "Loopnet", "--status", "drafted", "--region", "Ber\u202elin", "--db", db
    )
    assert (
        code == 1
        and out.startswith("error: --region: contains a control, bidi or zero-width")
        and "\u202e" not in out
    )
    store = open_store(db, create=False)
    try:
        assert case_status.request_rows(store) == []
    finally:
        store.close()


def test_isps_add_seals_with_the_node_key_and_never_starts_a_second_one(tmp_path: Path) -> None:
    """A new database: the node key is created beside it and announced (as ``monitor`` does), and the entry
    is sealed with it. An existing database whose key file is gone is refused, naming the file: a new key
    would be a second signing identity."""
    db = str(tmp_path / "new.db")
    args = ["isps", "add", "Loopnet", "--asn", "64500", "--abuse-email", "abuse@loop.example",
            "--legal-address", "1 Loop St", "--db", db]  # fmt: skip
    result = runner.invoke(app, args)
    key = tmp_path / "new.db.node-key.pem"
    assert result.exit_code == 0 and key.is_file(), result.output
    assert result.stderr.startswith(f"created node key {key}, fingerprint ")
    with open_store(db, create=False) as store:
        history = workflow_history(store, key_trust(load_node_key(key), 2**62))
    assert [proven.event.step for proven in history.events["isp:1"]] == ["isp_entry"]
    key.rename(tmp_path / "moved.pem")
    result = runner.invoke(app, [*args[:2], "Othernet", "--asn", "64501", *args[5:]])
    assert result.exit_code == 1 and not key.exists(), result.output
    assert result.stderr.startswith(f"error: node key {key}: no such file; this decision is sealed")
