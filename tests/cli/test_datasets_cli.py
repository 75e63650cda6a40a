"""``swarmscope datasets add|list|remove|download`` in-process (Typer CliRunner), on a real SQLite store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.ledger.datasets import list_datasets
from swarmscope.testbed.mmdb import build_test_datasets
from tests.net.test_maxmind_download import KEY, FakeMaxMind, _publish, server  # noqa: F401 (fixture)

register_commands()
runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return build_test_datasets(tmp_path / "datasets")


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["datasets", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_add_list_remove(tmp_path: Path, files: dict[str, Path]) -> None:
    db = str(tmp_path / "s.db")
    code, out = _run("add", str(files["asn"]), "--db", db)
    assert code == 0, out
    assert "registered: dataset 1 asn GeoLite2-ASN" in out
    assert hashlib.sha256(files["asn"].read_bytes()).hexdigest() in out.replace("\n", "")
    code, out = _run("add", str(files["hosting"]), "--kind", "hosting", "--db", db)
    assert code == 0 and "registered: dataset 2 hosting hosting.txt" in out
    code, out = _run("add", str(files["asn"]), "--db", db)
    assert code == 0 and "already active: dataset 1" in out
    code, out = _run("list", "--db", db)
    assert code == 0 and "geolocation is advisory" in out
    assert "GeoLite2-ASN" in out and "hosting.txt" in out and "2026-01-01T00:00:00" in out
    code, out = _run("remove", "1", "--db", db)
    assert code == 0 and "deactivated: dataset 1" in out
    code, out = _run("list", "--active", "--db", db)
    assert "GeoLite2-ASN" not in out and "hosting.txt" in out
    with open_store(db, create=False) as store:
        rows = list_datasets(store)
    assert [(r.id, r.kind, r.active) for r in rows] == [(1, "asn", False), (2, "hosting", True)]
    assert rows[0].sha256 == hashlib.sha256(files["asn"].read_bytes()).hexdigest()
    assert rows[0].size == files["asn"].stat().st_size
    code, out = _run("add", str(files["asn"]), "--db", db)
    assert code == 0 and "reactivated: dataset 1" in out


def test_bad_list_file_reports_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "tor.txt"
    bad.write_text("127.0.4.4\n# ok\nnot-an-ip\n127.0.4.0/33\n")
    code, out = _run("add", str(bad), "--kind", "tor", "--db", str(tmp_path / "s.db"))
    assert code == 1
    assert "2 bad line(s)" in out and "line 3:" in out and "line 4:" in out


def test_corrupt_mmdb_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    corrupt = tmp_path / "GeoLite2-City.mmdb"
    corrupt.write_bytes(files["city"].read_bytes()[:200])
    code, out = _run("add", str(corrupt), "--db", str(tmp_path / "s.db"))
    assert code == 1 and "not a valid MaxMind DB file" in out
    assert not (tmp_path / "s.db").exists()  # nothing stored: bad input does not even create the database
    open_store(str(tmp_path / "s.db")).close()
    code, out = _run("add", str(corrupt), "--db", str(tmp_path / "s.db"))
    assert code == 1 and "not a valid MaxMind DB file" in out
    with open_store(str(tmp_path / "s.db"), create=False) as store:
        assert list_datasets(store) == []


def test_unknown_kind_and_unknown_ref(tmp_path: Path, files: dict[str, Path]) -> None:
    db = str(tmp_path / "s.db")
    code, out = _run("add", str(files["vpn"]), "--kind", "proxy", "--db", db)
    assert code == 1 and "unknown dataset kind 'proxy'" in out
    assert not Path(db).exists()  # bad input creates no database
    open_store(db).close()
    code, out = _run("remove", "7", "--db", db)
    assert code == 1 and "no dataset '7'" in out


def test_download_and_register(server: FakeMaxMind, tmp_path: Path, files: dict[str, Path]) -> None:  # noqa: F811
    _publish(server, "GeoLite2-ASN", files["asn"].read_bytes())
    db = str(tmp_path / "s.db")
    args = ["download", "--edition", "GeoLite2-ASN", "--licence-key", KEY, "--out", str(tmp_path / "dl")]
    code, out = _run(*args, "--base-url", server.base_url, "--add", "--db", db)
    assert code == 0, out
    assert "sha256 checked" in out and "registered: dataset 1 asn GeoLite2-ASN" in out
    assert (tmp_path / "dl" / "GeoLite2-ASN.mmdb").read_bytes() == files["asn"].read_bytes()


def test_download_needs_a_key(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["datasets", "download", "--edition", "GeoLite2-ASN", "--out", str(tmp_path)],
        env={"MAXMIND_LICENSE_KEY": ""},
    )  # fmt: skip
    assert result.exit_code == 1 and "licence key is required" in result.output


def test_download_offline(tmp_path: Path) -> None:
    code, out = _run(
        "download", "--edition", "GeoLite2-ASN", "--licence-key", KEY, "--base-url", "http://127.0.0.1:9",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1 and "cannot reach 127.0.0.1:9" in out and "(offline?)" in out
