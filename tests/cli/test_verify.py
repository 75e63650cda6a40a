"""``swarmscope verify DIR``: exit status 0/1/2, precise text and JSON verdicts, hostile bundles."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.verify import DirectoryBundle, run_verify
from swarmscope.evidence.bundle import exhibits
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from tests.evidence.test_bundle import BLOCK_IP, KEY, build, make_world

WORLD = make_world()
FILES = build(WORLD)
FINGERPRINT = key_fingerprint(public_key_raw(KEY))


def write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return write(tmp_path / "bundle", FILES)


def verify_text(path: Path, **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    status = run_verify(path, console=Console(file=out, width=400, color_system=None), **kwargs)  # type: ignore[arg-type]
    return status, out.getvalue()


def test_directory_reader_matches_the_files(bundle_dir: Path) -> None:
    reader = DirectoryBundle(bundle_dir)
    assert set(reader) == set(FILES) and len(reader) == len(FILES)
    assert all(reader[path] == data for path, data in FILES.items())
    with pytest.raises(KeyError):
        reader["../bundle/manifest.json"]


def test_ok_text(bundle_dir: Path) -> None:
    status, text = verify_text(bundle_dir, expect_key=FINGERPRINT)
    assert status == 0, text
    for check in ("manifest", "manifest signature", "chain", "batch seals", "capture replay", "block proofs"):
        assert f"ok   {check}" in text
    assert "VERIFIED" in text and f"signing key: {FINGERPRINT}" in text


def test_flipped_capture_names_file_and_record(bundle_dir: Path) -> None:
    block = next(
        r for r in WORLD.records if getattr(r, "ip", None) == BLOCK_IP and hasattr(r, "capture_sha256")
    )
    rel = b.capture_path(block.capture_sha256)  # type: ignore[union-attr]
    data = bytearray((bundle_dir / rel).read_bytes())
    data[len(data) // 2] ^= 0x40
    (bundle_dir / rel).write_bytes(bytes(data))
    status, text = verify_text(bundle_dir)
    assert status == 1
    assert f"FILE {rel}" in text and f"{BLOCK_IP}:6881" in text and "NOT VERIFIED" in text


def test_json_verdict(bundle_dir: Path) -> None:
    (bundle_dir / exhibits.SIGHTINGS_JSONL).write_bytes(
        FILES[exhibits.SIGHTINGS_JSONL].replace(b"tracker", b"trackex", 1)
    )
    status, text = verify_text(bundle_dir, as_json=True)
    verdict = json.loads(text)
    assert status == 1 and verdict["ok"] is False and verdict["exit_status"] == 1
    views = [p for p in verdict["problems"] if p["check"] == "views"]
    assert views and views[0]["file"] == exhibits.SIGHTINGS_JSONL and views[0]["record"]["kind"] == "sighting"


def test_not_a_bundle(tmp_path: Path) -> None:
    assert verify_text(tmp_path / "absent")[0] == 2
    (tmp_path / "empty").mkdir()
    status, text = verify_text(tmp_path / "empty", as_json=True)
    assert status == 2 and json.loads(text)["exit_status"] == 2


def test_hostile_names_are_escaped(bundle_dir: Path) -> None:
    (bundle_dir / "[bold]x\x1b[2J").write_bytes(b"evil")
    status, text = verify_text(bundle_dir)
    assert status == 1 and "\x1b" not in text and "[bold]x" in text


def test_symlink_is_not_followed(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(FILES[b.DATASETS])
    (bundle_dir / b.DATASETS).unlink()
    (bundle_dir / b.DATASETS).symlink_to(outside)
    status, text = verify_text(bundle_dir)
    assert status == 1 and f"FILE {b.DATASETS}" in text


def test_cli_exit_codes(bundle_dir: Path, tmp_path: Path) -> None:
    register_commands()
    runner = CliRunner()
    assert runner.invoke(app, ["verify", str(bundle_dir), "--expect-key", FINGERPRINT]).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    (copy / b.MANIFEST_SIG).write_bytes(bytes(64))
    result = runner.invoke(app, ["verify", str(copy), "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["ok"] is False
    assert runner.invoke(app, ["verify", str(tmp_path / "nope")]).exit_code == 2
