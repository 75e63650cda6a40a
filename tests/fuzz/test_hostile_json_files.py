"""``verify`` on a bundle whose methodology.json or attribution/datasets.json is large JSON of tiny objects.

The fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within bounded
time and memory. ``evidence/bundle/manifest_json.parse_manifest`` bounded manifest.json (size cap and
value-density check), but the verifier ran a plain ``json.loads`` on other files the bundle carries,
even when the manifest already named them as altered: ``datasets.parse_datasets`` and
``proofs._methodology_version`` (and each hits.jsonl line). Every JSON file verify reads is now held to
the bound of ``evidence/bundle/json_bound.py``: refused, named in one problem line, before it is parsed.
``swarmscope verify`` of a bundle whose methodology.json is 50 MB of ``[{},{},...]`` peaked at 1.46 GB RSS
(1.51 GB for datasets.json; 175 MB for the valid bundle), now 223 MB (the file's bytes, read whole).
"""

from __future__ import annotations

import tracemalloc

import pytest

from swarmscope.evidence.bundle.context import Context
from swarmscope.evidence.bundle.proofs import _methodology_version
from swarmscope.evidence.bundle.verify import verify_bundle
from tests.fuzz.bundle_stages import bundle_files

HOSTILE_BYTES = 8 * 1024 * 1024
PEAK_BOUND = 64 * 1024 * 1024  # eight times the hostile file, as for manifest.json


@pytest.mark.parametrize("path", ["methodology.json", "attribution/datasets.json"])
def test_a_huge_json_file_of_tiny_objects_is_refused_in_bounded_memory(path: str) -> None:
    count = HOSTILE_BYTES // 3
    files = {**bundle_files(), path: b"[" + b"{}," * (count - 1) + b"{}]"}
    tracemalloc.start()
    try:
        verdict = verify_bundle(files)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not verdict.ok
    refused = [p.message for p in verdict.problems if p.file == path and "(not a bundle file)" in p.message]
    assert len(refused) == 1 and "\n" not in refused[0], verdict.problems
    assert peak < PEAK_BOUND, f"{path}: peak {peak / 2**20:.0f} MiB for an 8 MiB file"


def test_a_methodology_in_the_bundle_spelling_is_not_parsed() -> None:
    """Its version is its last line (``layout.json_bytes`` sorts the keys): read whatever the size, so a
    genuine statement over the 16 MiB bound still verifies, and nothing is built."""
    raw = b"[" * (17 << 20) + b'\n  "version": 2\n}\n'
    ctx = Context({"methodology.json": raw}, ())
    tracemalloc.start()
    try:
        assert _methodology_version(ctx) == (2, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
