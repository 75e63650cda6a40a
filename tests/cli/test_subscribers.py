"""``swarmscope subscribers keygen | import | show | audit`` through the real CLI and a real database file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases.identities import ENV_VAR, IdentityKey
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal.subscribers import audit_rows, subscriber_rows
from tests.cases.evidence import node_key_for
from tests.store.factories import T0
from tests.store.test_subscribers import ALICE_ROW, BOB_ROW, HOUR, NAMES, disclosure, make_case

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

RUNNER = CliRunner()


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A database with two cases awaiting disclosure (the node key beside it: ``import`` seals each
    identification), and a key file made by ``keygen``."""
    db = tmp_path / "cases.db"
    store = open_store(str(db), node_key=node_key_for(db), now_us=T0)
    try:
        make_case(store, "DOE-000001", "127.0.0.2")
        make_case(store, "DOE-000002", "127.0.0.3")
    finally:
        store.close()
    key = tmp_path / "identity.key"
    result = RUNNER.invoke(app, ["subscribers", "keygen", "--out", str(key)])
    assert result.exit_code == 0, result.output
    return db, key


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = RUNNER.invoke(app, ["subscribers", *args], env=env)
    return result.exit_code, result.output


def test_keygen_writes_a_private_key_once(world: tuple[Path, Path]) -> None:
    _db, key = world
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    IdentityKey.load(key)
    code, out = invoke("keygen", "--out", str(key))
    assert code == 1 and "exists" in out


def test_import_show_audit(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + disclosure(ALICE_ROW, BOB_ROW))
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--actor", "counsel", "--db", str(db))
    assert code == 0, out
    assert "line 2: identified DOE-000001" in out and "2 identities imported" in out
    for _ in range(3):
        code, out = invoke(
            "show", "DOE-000001", "--identity-key", str(key), "--actor", "clerk", "--db", str(db)
        )
        assert code == 0, out
        assert NAMES[0] in out and NAMES[1] in out and NAMES[2] in out
        assert "disclosed for: 127.0.0.2 port any, " in out.splitlines()[-1]  # what the ISP disclosed
    code, out = invoke("audit", "--db", str(db))
    assert code == 0 and out.count("read") == 3 and out.count("import") == 2
    assert NAMES[0] not in out and "127.0.0.2" not in out
    store = open_store(str(db), create=False)
    try:
        assert [r.actor for r in audit_rows(store, subject="case:DOE-000001") if r.action == "read"] == [
            "clerk"
        ] * 3
        assert case_status.get_case(store, "DOE-000002").status == "identified"
    finally:
        store.close()


def test_key_from_environment_and_wrong_key(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    csv.write_bytes(disclosure(ALICE_ROW))
    env_key = {ENV_VAR: key.read_text().strip()}
    code, out = invoke("import", str(csv), "--db", str(db), "--actor", "counsel", env=env_key)
    assert code == 0, out
    code, out = invoke("show", "DOE-000001", "--db", str(db), env=env_key)
    assert code == 0 and NAMES[0] in out
    wrong = {ENV_VAR: base64.b64encode(bytes(32)).decode()}
    code, out = invoke("show", "DOE-000001", "--db", str(db), "--actor", "intruder", env=wrong)
    assert code == 1 and "wrong key" in out and NAMES[0] not in out
    code, out = invoke("show", "DOE-000001", "--db", str(db), env={ENV_VAR: ""})
    assert code == 1 and ENV_VAR in out
    store = open_store(str(db), create=False)
    try:
        last = audit_rows(store)[-1]  # the wrong key decrypted nothing: logged, but not as a read
        assert (last.actor, last.action) == ("intruder", "read_failed")
        assert "intruder" not in [r.actor for r in audit_rows(store) if r.action == "read"]
    finally:
        store.close()


def test_rejected_file_imports_nothing_and_names_lines(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    bad = tmp_path / "bad.csv"
    bad.write_bytes(disclosure(ALICE_ROW) + b"127.0.0.3,yesterday,today,X,Y,\n")
    code, out = invoke("import", str(bad), "--identity-key", str(key), "--db", str(db))
    assert code == 1 and "line 3" in out and "nothing imported" in out
    unmatched = tmp_path / "unmatched.csv"
    unmatched.write_bytes(disclosure(ALICE_ROW, ("127.0.0.9", *ALICE_ROW[1:])))
    code, out = invoke("import", str(unmatched), "--identity-key", str(key), "--db", str(db))
    assert code == 1 and "line 3" in out and "nothing imported" in out
    store = open_store(str(db), create=False)
    try:
        assert subscriber_rows(store) == [] and audit_rows(store) == []
    finally:
        store.close()
    code, out = invoke("import", str(unmatched), "--identity-key", str(key), "--db", str(db), "--partial")
    assert code == 0 and "1 identities imported" in out and "line 3" in out


def test_unknown_isp_refused(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    csv.write_bytes(disclosure(ALICE_ROW))
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--isp", "Nobody", "--db", str(db))
    assert code == 1 and "Nobody" in out


def test_wrong_key_listed_as_read_failed(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    csv.write_bytes(disclosure(ALICE_ROW))
    assert invoke("import", str(csv), "--identity-key", str(key), "--db", str(db))[0] == 0
    wrong = tmp_path / "wrong.key"
    assert invoke("keygen", "--out", str(wrong))[0] == 0
    code, out = invoke(
        "show", "DOE-000001", "--identity-key", str(wrong), "--actor", "mallory", "--db", str(db)
    )
    assert code == 1 and "wrong key" in out and NAMES[0] not in out
    code, out = invoke("audit", "--case", "DOE-000001", "--db", str(db))
    assert code == 0 and "read_failed" in out and "mallory" in out


def test_world_readable_key_refused(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    key.chmod(0o644)
    csv = tmp_path / "isp.csv"
    csv.write_bytes(disclosure(ALICE_ROW))
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--db", str(db))
    assert code == 1 and "group/other" in out and "chmod 600" in out
    code, out = invoke("show", "DOE-000001", "--identity-key", str(key), "--db", str(db))
    assert code == 1 and "group/other" in out


def test_conflicting_rows_reported_for_both_lines(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    rival = ("127.0.0.2", T0, T0 + 4 * HOUR, NAMES[3], NAMES[4], "")
    csv.write_bytes(disclosure(ALICE_ROW, rival, BOB_ROW))
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--db", str(db), "--partial")
    assert code == 0, out
    assert "line 2:" in out and "line 3:" in out and out.count("conflict") == 2
    assert "line 4: identified DOE-000002" in out and "1 identities imported" in out


def test_invalid_email_rejected_by_line_without_echo(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "isp.csv"
    header, row = disclosure(ALICE_ROW).decode().splitlines()
    row = row.rsplit(",", 1)[0] + ',"a@b.test\r\nBcc: spy@evil.test"'
    csv.write_bytes(f"{header}\n{row}\n".encode())
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--db", str(db))
    flat = " ".join(out.split())
    assert code == 1 and "line 2: email: not a single valid e-mail address" in flat
    assert "spy" not in out and "nothing imported" in flat


def test_nothing_imported_suggests_partial_only_when_it_helps(
    world: tuple[Path, Path], tmp_path: Path
) -> None:
    db, key = world
    some = tmp_path / "some.csv"
    some.write_bytes(disclosure(ALICE_ROW, ("127.0.0.9", *ALICE_ROW[1:])))
    code, out = invoke("import", str(some), "--identity-key", str(key), "--db", str(db))
    flat = " ".join(out.split())
    assert code == 1 and "nothing imported: 1 row(s) match a case" in flat and "use --partial" in flat
    none = tmp_path / "none.csv"
    none.write_bytes(disclosure(("127.0.0.9", *ALICE_ROW[1:]), ("127.0.0.8", *BOB_ROW[1:])))
    for partial in ([], ["--partial"]):
        code, out = invoke("import", str(none), "--identity-key", str(key), "--db", str(db), *partial)
        flat = " ".join(out.split())
        assert code == 1 and "nothing imported: no row identifies a case" in flat
        assert "--partial" not in flat  # given or not, it would import nothing


def test_ipv4_mapped_ipv6_rows_match_the_ipv4_case(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    csv = tmp_path / "mapped.csv"
    csv.write_bytes(disclosure(("::ffff:127.0.0.2", *ALICE_ROW[1:]), ("[::FFFF:7f00:3]", *BOB_ROW[1:])))
    code, out = invoke("import", str(csv), "--identity-key", str(key), "--db", str(db))
    assert code == 0, out
    assert "line 2: identified DOE-000001" in out and "line 3: identified DOE-000002" in out


def test_import_messages_stay_one_line_each(world: tuple[Path, Path], tmp_path: Path) -> None:
    db, key = world
    some = tmp_path / "some.csv"
    some.write_bytes(disclosure(ALICE_ROW, ("127.0.0.9", *ALICE_ROW[1:])))
    result = RUNNER.invoke(
        app,
        ["subscribers", "import", str(some), "--identity-key", str(key), "--db", str(db)],
        terminal_width=80,
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "line 3: no case for this IP address in this window",
        "nothing imported: 1 row(s) match a case; fix the lines above, or use --partial to import those",
    ]
