"""``swarmscope exhibits`` through the Typer app on a real store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal.schema import disclosure_request
from tests.cases.test_exhibits import build_world, pdf_text

register_commands()


def test_exhibits_command_writes_csv_pdf_and_requests(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["exhibits", "--out", str(out), "--db", str(world.db), "--by-region", "--actor", "counsel"]
    )
    assert result.exit_code == 0, result.output
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) == 3 and len(sorted(out.glob("*.pdf"))) == 3
    for path in csvs:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in result.output.replace("\n", "")
        assert digest in pdf_text(path.with_suffix(".pdf"))
    store = open_store(str(world.db), create=False)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(disclosure_request)).all()
    finally:
        store.close()
    assert len(rows) == 3 and {r.status for r in rows} == {"drafted"}


def test_exhibits_for_one_isp_and_a_missing_database(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    out = tmp_path / "one"
    result = CliRunner().invoke(
        app, ["exhibits", "--out", str(out), "--db", str(world.db), "--isp", "Other <ISP> & Co"]
    )
    assert result.exit_code == 0, result.output
    assert [p.suffix for p in sorted(out.iterdir())] == [".csv", ".pdf"]
    missing = CliRunner().invoke(app, ["exhibits", "--out", str(out), "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "database not found" in missing.output
