"""``swarmscope verify`` on a hostile bundle DIRECTORY: special files and odd names fail it, never crash it.

The byte-level fuzz target (``bundle`` in tests/fuzz/targets.py) replaces file contents; this adds what only
a directory can carry: a symlink to an endless device, a FIFO that would block a reader, a directory where
a file belongs, file names that are not UTF-8, and a manifest that is not a regular file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from swarmscope.cli.verify import run_verify
from swarmscope.cli.verify_ledger import EXIT_FAILED, EXIT_UNUSABLE
from tests.fuzz.targets import bundle_files


def write_bundle(root: Path) -> None:
    for path, data in bundle_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def hostile_extras(root: Path) -> None:
    (root / "zero").symlink_to("/dev/zero")
    os.mkfifo(root / "records" / "fifo")
    os.mkdir(bytes(root / "records") + b"/\xff")
    (Path(os.fsdecode(bytes(root) + b"/\xfe\x80.bin"))).write_bytes(b"x")
    (root / "captures" / "loop").symlink_to(root / "captures")
    (root / "pieces").rename(root / "pieces.moved")
    (root / "pieces").symlink_to(root / "pieces.moved")


def run(root: Path, as_json: bool) -> tuple[int, str]:
    out = io.StringIO()
    status = run_verify(root, as_json=as_json, console=Console(file=out, width=200, highlight=False))
    return status, out.getvalue()


@pytest.mark.parametrize("as_json", [False, True])
def test_special_files_and_odd_names_fail_verification_cleanly(tmp_path: Path, as_json: bool) -> None:
    write_bundle(tmp_path)
    hostile_extras(tmp_path)
    status, text = run(tmp_path, as_json)
    assert status == EXIT_FAILED
    for name in ("zero", "records/fifo", "captures/loop", "pieces.moved/"):
        assert name in text  # named as a file the manifest does not list
    assert "listed in the manifest but missing" in text  # the piece behind the symlinked directory


@pytest.mark.parametrize("kind", ["directory", "symlink", "fifo"])
def test_a_manifest_that_is_not_a_regular_file_is_not_a_bundle(tmp_path: Path, kind: str) -> None:
    write_bundle(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.unlink()
    if kind == "directory":
        manifest.mkdir()
    elif kind == "symlink":
        manifest.symlink_to("/dev/zero")
    else:
        os.mkfifo(manifest)
    status, text = run(tmp_path, as_json=False)
    assert status == EXIT_UNUSABLE and "no manifest.json" in text
