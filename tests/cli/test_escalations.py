"""Expiry → no_response → ``escalations mark`` → the litigation list CSV; identities only with the key,
each read audited."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.letter_flow import expire_letters
from swarmscope.cases.litigation import COLUMNS, IDENTITY_COLUMNS
from swarmscope.cases.payments import record_payment
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal.subscribers import AuditRow, audit_rows
from swarmscope.testbed.smtp import start_smtp
from tests.cli.letter_world import DAY, HOUR, T0, build_world, draft_approve, send

register_commands()  # as the swarmscope entry point does: every command, whatever ran before


def test_expired_case_escalated_and_exported(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    server = start_smtp("127.0.0.1")
    try:
        letters = []
        for doe in world.dois[:2]:
            draft_approve(world, doe)
            letters.append(send(world, doe, server, tmp_path / "post", T0 + HOUR).letter)
        record_payment(world.store, world.dois[1], 10_000, letters[1].payment_reference, currency="EUR",
                       received_us=T0 + DAY, method=None, actor="clerk", now_us=T0 + DAY)  # fmt: skip
        after = letters[0].deadline_us + 1
        assert expire_letters(world.store, "counsel", after) == world.dois[:2]
    finally:
        server.stop()
        world.store.close()
    runner, db = CliRunner(), str(world.db)
    result = runner.invoke(app, ["escalations", "mark", world.dois[2], "--actor", "counsel", "--db", db])
    assert result.exit_code == 1 and "not allowed" in result.output  # identified, not no_response
    for doe in world.dois[:2]:
        result = runner.invoke(app, ["escalations", "mark", doe, "--actor", "counsel", "--db", db])
        assert result.exit_code == 0, result.output
    out = tmp_path / "litigation.csv"
    result = runner.invoke(app, ["escalations", "--out", str(out), "--actor", "counsel", "--db", db])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == COLUMNS and [r["doe"] for r in rows] == world.dois[:2]
    first, second = rows
    assert (first["ip"], first["isp"], first["verified_hits"]) == ("127.0.0.11", "Loopback Telecom", "4")
    assert (first["amount_claimed"], first["amount_received"], first["currency"]) == ("450.00", "0.00", "EUR")
    assert first["letters_sent"] == "1" and first["first_letter_utc"].startswith("2026-05-28T")
    assert first["last_deadline_utc"].startswith("2026-06-25T") and second["amount_received"] == "100.00"
    assert "Alex" not in out.read_text()

    before = _reads(world.db)
    result = runner.invoke(app, ["escalations", "--identity-key", str(world.key_file), "--actor", "counsel",
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS + IDENTITY_COLUMNS
    assert [r["name"] for r in rows] == ["Alex Sample", "Blake Sample"] and rows[1]["email"] == ""
    reads = _reads(world.db)[len(before) :]
    assert sorted((r.subject, r.actor) for r in reads) == [(f"case:{d}", "counsel") for d in world.dois[:2]]

    private = tmp_path / "litigation-identities.csv"
    old = os.umask(0o022)
    try:  # the list of identities is readable by its owner only (review M6)
        result = runner.invoke(app, ["escalations", "--out", str(private), "--identity-key",
                                     str(world.key_file), "--actor", "counsel", "--db", db])  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0 and "Alex Sample" in private.read_text(), result.output
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(out.stat().st_mode) == 0o600
    result = runner.invoke(app, ["escalations", "--out", str(out / "x.csv"), "--db", db])  # under a file
    assert result.exit_code == 1 and "error: --out" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)


def _reads(db: Path) -> list[AuditRow]:
    store = open_store(str(db), create=False)
    try:
        return [r for r in audit_rows(store) if r.action == "read"]
    finally:
        store.close()


def test_export_of_nothing_is_a_header(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    world.store.close()
    result = CliRunner().invoke(app, ["escalations", "--db", str(world.db)])
    assert result.exit_code == 0 and result.stdout.strip() == ",".join(COLUMNS)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_escalation_cells_never_run_as_formulas(text: str) -> None:
    from swarmscope.cases.litigation import _cell

    assert _cell(text).startswith("'") or _cell(text)[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_a_case_whose_rows_changed_is_left_out_of_the_litigation_list(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    server = start_smtp("127.0.0.1")
    try:
        sent = []
        for doe in world.dois[:2]:
            draft_approve(world, doe)
            sent.append(send(world, doe, server, tmp_path / "post", T0 + HOUR))
        assert expire_letters(world.store, "counsel", sent[0].letter.deadline_us + 1) == world.dois[:2]
    finally:
        server.stop()
        world.store.close()
    runner, db = CliRunner(), str(world.db)
    for doe in world.dois[:2]:
        assert (
            runner.invoke(app, ["escalations", "mark", doe, "--actor", "counsel", "--db", db]).exit_code == 0
        )
    with sqlite3.connect(db) as raw:  # the first case's first hit edited behind the ledger's back
        raw.execute("DROP TRIGGER observation_append_only_update")
        raw.execute("UPDATE observation SET port = 1 WHERE ip = '127.0.0.11' AND id = 1")
    raw.close()
    result = runner.invoke(app, ["escalations", "--identity-key", str(world.key_file), "--actor", "counsel",
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["doe"] for r in rows] == [world.dois[1]]
    assert f"error: left out {world.dois[0]}: refused" in result.stderr and "row altered" in result.stderr
    reads = [r.subject for r in _reads(world.db)]
    assert f"case:{world.dois[0]}" not in reads[-1:]  # its identity was not decrypted for the list
