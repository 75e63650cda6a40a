"""Micro-benchmark of the monitor's per-record hot path: canonical bytes and database row building.

Usage (the repo's venv python, ``src`` on the path)::

    python bench/records.py [--n 50000] [--repeat 5]

Builds ``n`` observations with every field set (like the ones a verified peer gives: extension handshake,
piece lists, a block proof, a capture hash) and times, with :mod:`timeit`, ``canonical_bytes`` over all of
them and ``writer.observation_row`` over all of them; prints the best of ``repeat`` runs as seconds per
batch and microseconds per observation. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import timeit

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import BlockProof, ExtensionInfo, Observation, Tier
from swarmscope.store.ledger.writer import observation_row

T0 = 1_796_000_000_000_000


def observations(n: int) -> list[Observation]:
    """``n`` distinct verified observations with every field set (ip and times vary)."""
    base = Observation(
        infohash="ab" * 20, ip="127.0.0.1", port=6881, source="tracker", started_us=T0, ended_us=T0 + 1,
        tier=Tier.VERIFIED, peer_id=b"-lt2010-" + bytes(12), reserved=bytes(8), client="libtorrent",
        client_version="2.0.10",
        extension=ExtensionInfo(m={"ut_metadata": 2, "ut_pex": 1}, v=b"libtorrent/2.0.10", p=6881,
                                yourip="127.0.0.9", reqq=500, metadata_size=12345),
        num_pieces=64, pieces_have=64, bitfield=b"\xff" * 8, completion=1.0, bytes_received=16384,
        wire_bytes_in=17000, wire_bytes_out=200, verified_pieces=(3,), quirks=("PW-10",),
        verified_blocks=(BlockProof(3, 0, 16384, bytes(32)),), capture_sha256=bytes(32),
    )  # fmt: skip
    return [
        dataclasses.replace(base, ip=f"127.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", started_us=T0 + i)
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    obs = observations(args.n)
    link = (1, 1)
    timings = {
        "canonical_bytes": lambda: [canonical_bytes(o) for o in obs],
        "observation_row": lambda: [observation_row(1, o, link) for o in obs],
    }
    for name, fn in timings.items():
        best = min(timeit.repeat(fn, number=1, repeat=args.repeat))
        print(f"{name:16s} {best:7.3f} s / {args.n} = {best / args.n * 1e6:6.2f} µs per observation")


if __name__ == "__main__":
    main()
