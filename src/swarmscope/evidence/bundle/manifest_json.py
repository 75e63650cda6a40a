"""Parse a bundle's ``manifest.json`` in memory bounded by its size, once per verification.

A hostile bundle may carry a manifest of millions of tiny JSON values (``[{},{},...]``, or short distinct
keys ``{"0000000":0,...}``): ``json.loads`` builds one Python object per value, 15 to 25 times the bytes
it reads, and the verifier used to parse it up to three times. The manifest is held to the bound every
JSON file verify reads is held to (:mod:`swarmscope.evidence.bundle.json_bound`): at most
:data:`MAX_MANIFEST` bytes, and refused before it is parsed when the parse could cost more than
``COST_FACTOR`` times its size. A genuine manifest lists one file in about 180 bytes (``{"path": ...,
"sha256": <64 hex>, "size": N}``, indented; 250 in a bundle across nodes) and a bundle of N observations
lists 2 to 3 files per observation, so the 64 MiB cap holds about 370,000 files, some 150,000
observations. The last parse is kept, keyed by the bytes object itself, so the checks that read the same
manifest share one parse.

Source: the fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within
bounded time and memory, never a crash.
"""

from __future__ import annotations

from typing import Any

from swarmscope.evidence.bundle.json_bound import MANIFEST, loads_bounded

MAX_MANIFEST = MANIFEST.max_bytes  # bytes (64 MiB)

_last: tuple[bytes, Any] | None = None


def parse_manifest(raw: bytes) -> Any:
    """The JSON value of ``raw`` (UTF-8), parsed once per bytes object.

    Raises:
        ValueError: larger than :data:`MAX_MANIFEST`, costlier to parse than the bound of
            :mod:`~swarmscope.evidence.bundle.json_bound` allows (``JsonBoundError``), not UTF-8 or not
            JSON (one line each).
    """
    global _last
    if _last is not None and _last[0] is raw:
        return _last[1]
    parsed = loads_bounded(raw, MANIFEST)
    _last = (raw, parsed)
    return parsed
