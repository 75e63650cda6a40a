"""What the client parser keeps between probes stays small when peers send long, distinct BEP 10 ``v``.

``client_id.identify`` keeps its last 1,024 answers keyed by the raw ``v`` bytes (``functools.lru_cache``
on ``_identified``), and a ``v`` may be as long as an extension handshake (the 1 MiB message bound,
interop PW-06), so 1,024 probes of hostile peers (a tracker naming addresses of its own: the plan keeps
3,000 per swarm) hold about 1 GiB for the rest of the run, though the answer itself is cut to
``V_TEXT_MAX`` characters. Review rev12b14.
"""

from __future__ import annotations

import gc
import os
import tracemalloc

from swarmscope.evidence.probe.peer_identity import identity_fields
from swarmscope.wire import bencode, extension
from swarmscope.wire.client_id import V_TEXT_MAX, repair_text

V_BYTES = 500_000
PROBES = 200


def test_long_distinct_client_names_are_not_kept_whole() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(PROBES):
            v = b"Hostile " + os.urandom(6).hex().encode() + b" " + b"x" * V_BYTES
            ext = extension.decode_handshake(bencode.encode({b"m": {}, b"v": v}))
            fields = identity_fields(None, ext)
            assert len(fields["client"]) <= 210  # the answer is cut (V_TEXT_MAX)
            del ext, fields, v
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held <= 16 << 20, f"{held >> 20} MiB kept after {PROBES} probes of {V_BYTES} bytes of v each"


def test_a_huge_v_is_rendered_from_its_head_only() -> None:
    """A 1 MiB ``v`` of GBK-looking pairs (or of lone high bytes) renders as its first 200 characters and
    "…", read from its first 804 bytes: rendering the whole cost ~140 ms of the event loop per probe."""
    for body in (b"\x81\x80" * (1 << 19), b"\xc3" * (1 << 20), b"Evil/1.0 " + b"A" * (1 << 20)):
        text = repair_text(body)
        assert text == repair_text(body[:804]) and text.endswith("…") and len(text) == V_TEXT_MAX + 1
