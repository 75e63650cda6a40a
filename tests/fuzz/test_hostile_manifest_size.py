"""``swarmscope verify`` on a bundle whose manifest.json is large, valid JSON of many small objects.

The fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within bounded
time and memory, never a crash. ``cli/verify.py`` reads any regular file up to ``MAX_FILE`` (2 GiB) and
the verifier parses manifest.json with ``json.loads`` before any check: 100 MB of ``[{},{},...]`` took
2.8 GB of RSS (so under 1 GB of manifest, a few MB zipped, exhausts a 24 GiB machine), and under a 2 GB
address-space limit ``verify`` died with a MemoryError traceback. A genuine manifest lists a few hundred
bytes per bundle file.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from rich.console import Console

from swarmscope.cli.verify import MAX_FILE, run_verify
from swarmscope.cli.verify_ledger import EXIT_UNUSABLE
from swarmscope.evidence.bundle.nodes_verify import verify_export

MANIFEST_BYTES = 8 * 1024 * 1024
PEAK_BOUND = 64 * 1024 * 1024  # eight times the hostile file


def assert_refused_within_bound(files: dict[str, bytes]) -> None:
    """``verify_export`` of ``files`` fails, with a traced peak under :data:`PEAK_BOUND`."""
    tracemalloc.start()
    try:
        verdict = verify_export(files)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not verdict.ok
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.0f} MiB for an {MANIFEST_BYTES / 2**20:.0f} MiB manifest"


def test_a_huge_manifest_of_tiny_objects_is_refused_in_bounded_memory() -> None:
    count = MANIFEST_BYTES // 3
    files = {"manifest.json": b"[" + b"{}," * (count - 1) + b"{}]"}
    assert_refused_within_bound(files)


def test_a_manifest_over_the_file_bound_is_named_not_read_as_missing(tmp_path: Path) -> None:
    """A sparse manifest.json one byte over ``MAX_FILE``: refused by name and size, exit 2, nothing read."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with (bundle / "manifest.json").open("wb") as sparse:
        sparse.truncate(MAX_FILE + 1)  # sparse: no disk blocks written
    out = io.StringIO()
    status = run_verify(bundle, console=Console(file=out, width=400))
    assert status == EXIT_UNUSABLE
    assert f"manifest.json: {MAX_FILE + 1} bytes, over the {MAX_FILE}" in out.getvalue()
    assert "no manifest.json" not in out.getvalue()


def test_a_huge_manifest_of_short_distinct_keys_is_refused_in_bounded_memory() -> None:
    """``{"000000":0,"000001":0,...}``: one separator per 11 bytes passed the density check
    ``manifest_json.parse_manifest`` had (1 per 8), and each entry costs a str, a dict slot and an entry
    of the decoder's key memo: about 15 times the file's bytes (a 256 MiB manifest: about 4 GB). The
    cost bound of ``evidence/bundle/json_bound.py`` weighs each ``:`` and ``"``, and refuses it."""
    count = MANIFEST_BYTES // 11
    body = b",".join(b'"%06x":0' % i for i in range(count))
    files = {"manifest.json": b"{" + body + b"}"}
    assert_refused_within_bound(files)


def test_another_file_over_the_file_bound_is_named_not_only_missing(tmp_path: Path) -> None:
    """A sparse ledger file one byte over ``MAX_FILE``: it reads as missing to the checks (a problem), and
    a note says why, by name and size."""
    bundle = tmp_path / "bundle"
    (bundle / "records").mkdir(parents=True)
    (bundle / "manifest.json").write_text('{"version": 1, "files": {}}')
    with (bundle / "records" / "ledger.bin").open("wb") as sparse:
        sparse.truncate(MAX_FILE + 1)
    out = io.StringIO()
    status = run_verify(bundle, console=Console(file=out, width=400))
    assert status != 0
    assert f"note: records/ledger.bin: {MAX_FILE + 1} bytes, over the {MAX_FILE}" in out.getvalue(), (
        out.getvalue()
    )
