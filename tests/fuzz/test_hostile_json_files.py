"""``verify`` on a bundle whose methodology.json or attribution/datasets.json is large JSON of tiny objects.

The fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within bounded
time and memory. ``evidence/bundle/manifest_json.parse_manifest`` bounds manifest.json (size cap and
value-density check), but the verifier still runs a plain ``json.loads`` on other files the bundle
carries, even when the manifest already names them as altered: ``datasets.parse_datasets`` and
``proofs._methodology_version`` (and each hits.jsonl line). ``swarmscope verify`` of a bundle whose
methodology.json is 50 MB of ``[{},{},...]`` peaked at 1.46 GB RSS (1.51 GB for datasets.json; 175 MB for
the valid bundle); ``cli/verify.py`` reads files up to 2 GiB.
"""

from __future__ import annotations

import tracemalloc

import pytest

from swarmscope.evidence.bundle.verify import verify_bundle
from tests.fuzz.bundle_stages import bundle_files

HOSTILE_BYTES = 8 * 1024 * 1024
PEAK_BOUND = 64 * 1024 * 1024  # eight times the hostile file, as for manifest.json


@pytest.mark.xfail(strict=True, reason="only manifest.json is parsed under a size and value-density bound")
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
    assert peak < PEAK_BOUND, f"{path}: peak {peak / 2**20:.0f} MiB for an 8 MiB file"
