"""Which node key the workflow commands trust: --node-key (default beside the database) and --trust-key.

A key the database names is never trusted by itself: whoever can write the file can add one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.seal import key_fingerprint, public_key_pem, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, T0, hit, node_key_for, sample, seal

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()
BUILD = ("cases", "build", "--min-hits", "3", "--min-span", "1h")


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Three hits of 127.0.0.2 sealed by the node key beside the database (one run measured, one not)."""
    path = str(tmp_path / "c.db")
    with open_store(path, node_key=node_key_for(path), now_us=T0) as store:
        seal(store, [hit("127.0.0.2", m) for m in (0, 30, 70)])
        seal(store, [sample(99, 4), *(hit("127.0.0.3", m) for m in (100, 130, 170))], swarms=())
        sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    return path


def fingerprint(db: str) -> str:
    return key_fingerprint(public_key_raw(load_or_create_node_key(default_key_path(db))))


def test_the_default_key_beside_the_database_is_trusted(db: str) -> None:
    code, out, err = invoke(*BUILD, "--db", db)
    assert code == 0 and out.startswith("2 new case(s)"), out + err
    assert "clock never measured (no NTP sample) in monitor run(s) 1: its hits were not checked" in out


def test_no_key_is_one_line_and_exit_1(db: str) -> None:
    default_key_path(db).rename(Path(db).parent / "elsewhere.pem")
    code, out, err = invoke(*BUILD, "--db", db)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("error: no node key at ") and "--node-key" in err and "--trust-key" in err
    assert len(err.strip().splitlines()) == 1
    assert (
        open_store(db, create=False)
        .engine.connect()
        .exec_driver_sql("SELECT COUNT(*) FROM legal_case")
        .scalar()
        == 0
    )


def test_a_fingerprint_or_a_public_key_file_is_enough(db: str, tmp_path: Path) -> None:
    fp = fingerprint(db)
    key = load_or_create_node_key(default_key_path(db))
    public = tmp_path / "node.pub.pem"
    public.write_bytes(public_key_pem(key))
    default_key_path(db).rename(tmp_path / "elsewhere.pem")
    code, out, _err = invoke(*BUILD, "--db", db, "--trust-key", fp.upper())
    assert code == 0 and out.startswith("2 new case(s)"), out
    code, out, _err = invoke(*BUILD, "--db", db, "--node-key", str(public))
    assert code == 0 and out.startswith("0 new case(s), 2 existing"), out


@pytest.mark.parametrize("bad", ["xyz", "ab" * 31, "g" * 64])
def test_a_malformed_fingerprint_is_refused(db: str, bad: str) -> None:
    code, _out, err = invoke(*BUILD, "--db", db, "--trust-key", bad)
    assert code == 1 and err.startswith(
        f"error: --trust-key {bad!r}: a node key fingerprint is 64 hex digits"
    )


def test_evidence_sealed_by_another_key_is_refused_and_named(db: str, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    load_or_create_node_key(other)
    code, out, err = invoke(*BUILD, "--db", db, "--node-key", str(other))
    assert code == 0 and out.startswith("0 new case(s)"), out
    lines = [line for line in err.splitlines() if line.startswith("warning: refused observation")]
    assert len(lines) == 6 and all("is sealed by an untrusted key" in line for line in lines), err


def test_a_tampered_row_is_named_on_stderr(db: str) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("DROP TRIGGER observation_append_only_update")
        raw.execute("UPDATE observation SET bytes_received = 999 WHERE id = 2")
    raw.close()
    code, out, err = invoke(*BUILD, "--db", db)
    assert code == 0 and out.startswith("1 new case(s)"), out  # 127.0.0.2 keeps 2 proven hits only
    assert "warning: refused observation 2 (ledger index " in err and "127.0.0.2:6881: row altered" in err


def test_exhibits_need_a_trusted_key_too(db: str, tmp_path: Path) -> None:
    default_key_path(db).unlink()
    code, _out, err = invoke("exhibits", "--out", str(tmp_path / "x"), "--db", db)
    assert code == 1 and err.startswith("error: no node key at ")
