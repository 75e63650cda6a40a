"""Web console benchmark: a million observations, 50,000 peers; time to a swarm's first page, a peer page and
an ``/api/`` listing (medians).

Usage (the repo's venv python, ``src`` on the path)::

    python bench/web.py [--db PATH | --pg URL] [--observations 1000000] [--peers 50000] [--batch 200]
                        [--repeat 31] [--keep]

What it builds: one swarm (plus a second, small one), ``--peers`` peer addresses each probed
``observations / peers`` times, 120 s apart (the monitor's re-probe interval), a third of the probes
verified, a tenth with a hash failure, clients from a small set, and one attribution per address (country,
ISP). Everything is committed and SEALED exactly as the monitor's writer does it, through
``Store.commit_evidence`` (canonical bytes, SHA-256 chain, Ed25519 seal per batch), in batches of
``--batch`` records in time order: the monitor flushes every 0.5 s, so 200 records per batch is a
monitor probing 400 peers per second. Then the console's read models are folded once
(``store.console.fold.catch_up``, timed).

What it times (each the median of ``--repeat`` runs, wall clock, in-process):

- ``store: overview``: :func:`swarm_overview` of every swarm (what ``/swarms`` polls every 2 s);
- ``store: first page``: :func:`peer_page` of the big swarm, 50 rows, newest first;
- ``store: page 200``: the same with the cursor of page 199 (keyset: as fast as page 1);
- ``store: peer trail (cold)``: :func:`peer_trail` of a random peer, every row proven (seal, chain of its
  batch, SHA-256 of the row), nothing kept from before: one chain check per batch holding one of its rows;
- ``store: peer trail (batches kept)``: the same after 200 other peers were shown by this process, with
  the batches they proved kept (:class:`ProvenBatches`, as the web console keeps them): each row is still
  rebuilt and hashed;
- with the web app present (``swarmscope.web.app``): the same three as HTTP requests through the ASGI app
  (``httpx.ASGITransport``) by an admin's API token: ``GET /swarms/{infohash}`` (the HTML page with its
  numbers and first page of peers), ``GET /api/swarms/{infohash}/peers``, ``GET /peers/...`` (the peer
  page) and its ``/api/`` trail, ``GET /api/swarms`` and the polled ``/swarms/live`` fragment.

A benchmark, not a test: nothing here asserts a speed. The last line sums it up.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import Attribution, Observation, Tier
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.console.fold import catch_up
from swarmscope.store.console.overview import swarm_overview
from swarmscope.store.console.peers import PeerFilter, peer_page
from swarmscope.store.console.schema import (
    console_batch,
    console_client,
    console_minute,
    console_peer,
    console_place,
    console_swarm,
)
from swarmscope.store.console.trail import peer_trail
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import load_or_create_node_key
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.queries import swarm_rows
from swarmscope.store.ledger.row_proof import ProvenBatches
from swarmscope.store.metadata import metadata

T0 = 1_796_000_000_000_000  # UTC µs
REPROBE_US = 120_000_000
WARM_TRAILS = 200  # peer pages shown before the "batches kept" trail is timed
BIG = "ab" * 20
SMALL = "cd" * 20
CLIENTS = [("libtorrent", "2.0.10"), ("Transmission", "4.0.5"), ("qBittorrent", "4.6.2"), ("aria2", "1.37.0")]
COUNTRIES = [("DE", "Deutsche Telekom"), ("FR", "Orange"), ("US", "Comcast"), ("NL", "KPN")]


def peer_ip(i: int) -> str:
    """A distinct loopback-range literal per peer index (never dialled: the bench opens no socket)."""
    return f"127.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def probes(peers: int, rounds: int) -> Iterator[Observation]:
    """Every probe in time order: round r probes every peer once, ``REPROBE_US`` after round r - 1."""
    base = Observation(infohash=BIG, ip="", port=6881, source="tracker", started_us=T0, ended_us=T0,
                       tier=Tier.CONNECTED, num_pieces=64)  # fmt: skip
    step = max(1, REPROBE_US // max(peers, 1))
    for r in range(rounds):
        for i in range(peers):
            start = T0 + r * REPROBE_US + i * step
            kind = (i * 7 + r) % 10
            client, version = CLIENTS[i % len(CLIENTS)]
            tier = Tier.VERIFIED if kind < 3 else Tier.HAS_PIECES if kind < 8 else Tier.CONNECTED
            yield dataclasses.replace(
                base, ip=peer_ip(i), started_us=start, ended_us=start + 900_000, tier=tier, client=client,
                client_version=version, bytes_received=16384 if tier == Tier.VERIFIED else 0,
                verified_pieces=(i % 64,) if tier == Tier.VERIFIED else (),
                failed_pieces=(r % 64,) if kind == 9 else (), failure="hash_mismatch" if kind == 9 else None,
            )  # fmt: skip


def build(store: Store, peers: int, observations: int, batch: int) -> float:
    """Fill the store (module docstring); returns the seconds it took."""
    started = time.perf_counter()
    store.add_swarm(BIG, BIG, None, "big.iso", 64, 262144, 64 * 262144, None, None, T0)
    store.add_swarm(SMALL, SMALL, None, "small.iso", 4, 16384, 65536, None, None, T0)
    run = store.start_run({"bench": "web"}, "bench", T0)
    pending: list[Any] = [
        Attribution(
            ip=peer_ip(i),
            observed_at_us=T0,
            asn=64500 + i % 4,
            isp=COUNTRIES[i % 4][1],
            country=COUNTRIES[i % 4][0],
        )
        for i in range(peers)
    ]
    done = 0
    for obs in probes(peers, max(1, observations // peers)):
        pending.append(obs)
        if len(pending) >= batch:
            store.commit_evidence(run, records=pending, sealed_at_us=obs.ended_us + 1)
            done += len(pending)
            pending = []
            if done % 100_000 < batch:
                print(f"  {done:,} records sealed ({time.perf_counter() - started:.0f} s)", flush=True)
    if pending:
        store.commit_evidence(run, records=pending, sealed_at_us=pending[-1].ended_us + 1)
    return time.perf_counter() - started


def refold(store: Store) -> None:
    """Empty the console's read models (made again, whole, by the next fold); creates the ones a store
    migrated by an earlier build of migration 0010 lacks."""
    tables = [console_peer, console_place, console_minute, console_swarm, console_client, console_batch]
    metadata.create_all(store.engine, tables=tables)
    with store.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())


def median_ms(fn: Callable[[], object], repeat: int, name: str = "") -> float:
    """Median wall-clock milliseconds of ``repeat`` calls (one warm-up call first); printed with ``name``."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    found = statistics.median(times)
    if name:
        print(f"  {name:43s} {found:8.1f} ms", flush=True)
    return found


def timings(store: Store, url: str, key: Ed25519PrivateKey, peers: int, repeat: int) -> dict[str, float]:
    """The medians (module docstring), each printed as soon as it is measured."""
    trust = EvidenceTrust(frozenset({key_fingerprint(public_key_raw(key))}), T0 + 10**15)
    cursor = None
    for _ in range(199):
        cursor = peer_page(store, BIG, PeerFilter(), cursor=cursor).next_cursor
    rng = random.Random(7)
    kept = ProvenBatches(trust.fingerprints)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("store: overview", lambda: swarm_overview(store)),
        ("store: first page", lambda: peer_page(store, BIG, PeerFilter())),
        ("store: page 200", lambda: peer_page(store, BIG, PeerFilter(), cursor=cursor)),
        (
            "store: first page, country=DE, verified",
            lambda: peer_page(store, BIG, PeerFilter(country="DE", tier="verified")),
        ),
        (
            "store: peer trail (cold)",
            lambda: peer_trail(store, trust, BIG, peer_ip(rng.randrange(peers)), 6881),
        ),
    ]
    out = {name: median_ms(fn, repeat, name) for name, fn in cases}
    t = time.perf_counter()
    for i in range(0, peers, max(1, peers // WARM_TRAILS)):  # peer pages viewed before: batches kept
        peer_trail(store, trust, BIG, peer_ip(i), 6881, kept=kept)
    print(
        f"  {WARM_TRAILS} peer trails to warm the kept batches: {time.perf_counter() - t:.1f} s", flush=True
    )
    name = "store: peer trail (batches kept)"
    out[name] = median_ms(
        lambda: peer_trail(store, trust, BIG, peer_ip(rng.randrange(peers)), 6881, kept=kept), repeat, name
    )
    try:
        import web_http  # bench/web_http.py: the same through the ASGI app, when the web package exists
    except ImportError:
        return out
    ips = [peer_ip(rng.randrange(peers)) for _ in range(2 * repeat + 2)]
    out.update(web_http.http_timings(store, url, trust.fingerprints, BIG, ips, repeat))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", help="SQLite file to build, or to reuse when it holds a swarm (default: temp)"
    )
    parser.add_argument("--pg", help="an EMPTY PostgreSQL database URL (postgresql+psycopg://...)")
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--peers", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--keep", action="store_true", help="keep the temp SQLite file")
    parser.add_argument("--key", help="the node key file to seal with (default: beside --db, else a new key)")
    parser.add_argument("--refold", action="store_true", help="empty the console tables and fold them again")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = args.pg or args.db or str(tmp / "web.db")
    key_file = args.key or (f"{args.db}.node-key.pem" if args.db else None)
    key = load_or_create_node_key(Path(key_file)) if key_file else Ed25519PrivateKey.generate()
    store = open_store(url, node_key=key, now_us=T0)
    if args.refold:
        refold(store)
    try:
        print(
            f"building {args.observations:,} observations over {args.peers:,} peers in {url.split('@')[-1]}"
        )
        built = 0.0 if swarm_rows(store) else build(store, args.peers, args.observations, args.batch)
        t = time.perf_counter()
        batches = catch_up(store)
        folded = time.perf_counter() - t
        print(
            f"sealed in {built:.0f} s; folded {batches:,} batches into the console tables in {folded:.1f} s"
        )
        found = timings(store, url, key, args.peers, args.repeat)
        for name, ms in found.items():
            print(f"{name:45s} {ms:8.1f} ms (median of {args.repeat})")
        backend = "postgresql" if args.pg else "sqlite"
        print(f"web bench {backend}: " + " ".join(f"{k.split(': ')[-1].replace(' ', '_')}={v:.1f}ms"
                                                  for k, v in found.items()))  # fmt: skip
    finally:
        store.close()
        if not args.keep and not args.db and not args.pg:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
