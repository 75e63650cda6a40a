"""Parse a bundle's ``manifest.json`` in memory bounded by its size, once per verification.

A hostile bundle may carry a manifest of millions of tiny JSON values (``[{},{},...]``): ``json.loads``
builds one Python object per value, about 20 times the bytes it reads (100 MB of ``{},`` took 2.8 GB),
and the verifier used to parse it up to three times. A genuine manifest lists one file per entry, each
``{"path": ..., "sha256": <64 hex>, "size": N}`` of about 100 bytes or more, so it holds far fewer than
one value opener or separator per :data:`BYTES_PER_VALUE` bytes; a manifest denser than that, or larger
than :data:`MAX_MANIFEST`, is refused before it is parsed (memory then stays within a small multiple of
its size). The last parse is kept, keyed by the bytes object itself, so the checks that read the same
manifest share one parse.

Source: the fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within
bounded time and memory, never a crash.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MANIFEST = 1 << 28  # bytes (256 MiB: a listing of about two million files)
BYTES_PER_VALUE = 8  # bytes per JSON value opener or separator, at least, in any genuine manifest

_last: tuple[bytes, Any] | None = None


def parse_manifest(raw: bytes) -> Any:
    """The JSON value of ``raw`` (UTF-8), parsed once per bytes object.

    Raises:
        ValueError: larger than :data:`MAX_MANIFEST`, denser in values than a bundle listing, not UTF-8 or
            not JSON (one line each).
    """
    global _last
    if _last is not None and _last[0] is raw:
        return _last[1]
    if len(raw) > MAX_MANIFEST:
        raise ValueError(f"manifest.json of {len(raw)} bytes: over {MAX_MANIFEST} bytes")
    values = raw.count(b"{") + raw.count(b"[") + raw.count(b",")
    if values * BYTES_PER_VALUE > len(raw) + 4096:
        raise ValueError(
            f"manifest.json holds {values} JSON values in {len(raw)} bytes: not a bundle listing"
        )
    parsed = json.loads(raw.decode("utf-8"))
    _last = (raw, parsed)
    return parsed
