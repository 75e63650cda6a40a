"""A hostile peer that answers every probe with data that fails its hash: re-probes back off.

Same harness and shared assertions as test_peer_wire.py. A peer whose probes connect and end in
``hash_mismatch`` (or ``protocol_error``) is re-probed after ``reprobe_interval`` doubled per such probe
(``PlanPolicy.max_suspect_backoff`` caps it), so what it makes us store shrinks geometrically instead of
staying at one full probe per interval (README "Resource bounds").
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from swarmscope.evidence.records import Failure
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.wire import peer as pw
from tests.hostile.conftest import Honest
from tests.hostile.harness import (
    Hostile,
    check,
    config,
    handshake,
    have_all,
    piece_bytes,
    requests,
    run_monitor,
    unchoke,
)

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients


def test_a_peer_serving_corrupt_pieces_is_re_probed_less_and_less_often(
    honest: Honest, tmp_path: Path
) -> None:
    """Corrupt blocks on every connection, re-probe interval 0.5 s, 7 s run: the gaps between probes
    double (0.5 s x 2, x 4, x 8 ...), so at most 4 probes instead of one every ~0.5 s.

    Bounds: RSS +64 MiB, descriptors +16; ≤ 4 probes of the hostile peer; the n-th gap ≥ 0.5 s x 2^n.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, h: Hostile) -> None:
        writer.write(await handshake(reader, h) + have_all() + unchoke())
        while True:
            for index, begin, length in await requests(reader):
                data = piece_bytes(honest.content, index, honest.piece_len)[begin : begin + length]
                writer.write(pw.encode_message(pw.Piece(index, begin, bytes(b ^ 1 for b in data))))

    hostile = Hostile("127.0.21.12", script)
    settings = config(7.0, plan=PlanPolicy(reprobe_interval=0.5))
    out = run_monitor(tmp_path, honest.torrent, [hostile], settings=settings, duration=7.0)
    hostile_obs = check(out, [hostile.ip], rss_mib=64, fds=16)
    assert all(o.failure == Failure.HASH_MISMATCH.value for o in hostile_obs), hostile_obs
    assert 2 <= len(hostile_obs) <= 4, [o.started_us for o in hostile_obs]
    starts = sorted(o.started_us for o in hostile_obs)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.5 * 2 ** (i + 1) * 1e6 for i, gap in enumerate(gaps)), gaps  # 1 s, 2 s, 4 s ...
