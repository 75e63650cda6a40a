"""Evidence for the live-monitoring tests: two swarms (Acme's and Globex's), sealed by the node key beside
the console's database (the key the console trusts), plus an unsealed row and a hostile client string."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from swarmscope.evidence.records import Attribution, Failure, Observation, Sighting, Source, Tier
from swarmscope.store.console.fold import catch_up
from swarmscope.store.console.stats import MonitorSample, write_monitor_sample
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.schema import observation as observation_table
from swarmscope.store.legal.cases import link_torrent
from tests.store.factories import insert_unlinked

ACME_SWARM = "a1" * 20
GLOBEX_SWARM = "b2" * 20
S = 1_000_000
SCRIPT_CLIENT = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'
CAPTURE = b"the wire capture of one probe"


@dataclass(frozen=True)
class MonitoringWorld:
    """What was written: the run id, the start time (UTC µs) and the capture's SHA-256 hex."""

    run_id: int
    t0: int
    capture_hex: str


def probe(swarm: str, ip: str, at: int, **kw: object) -> Observation:
    fields: dict[str, object] = {
        "infohash": swarm, "ip": ip, "port": 6881, "source": Source.TRACKER.value, "started_us": at,
        "ended_us": at + S, "tier": Tier.CONNECTED, "failure": Failure.CHOKED.value,
    }  # fmt: skip
    fields.update(kw)
    return Observation(**fields)  # type: ignore[arg-type]


def writer_store(path: Path, now_us: int) -> Store:
    """A second, writing store on the console's database, signing with the key beside it."""
    return open_store(str(path), node_key=load_or_create_node_key(default_key_path(str(path))), now_us=now_us)


def build(path: Path, acme_work: int, globex_work: int, t0: int, *, fold: bool = True) -> MonitoringWorld:
    """:func:`fill` through a writer store on the console's SQLite file (the key file beside it)."""
    store = writer_store(path, t0)
    try:
        return fill(store, acme_work, globex_work, t0, fold=fold)
    finally:
        store.close()


def fold(path: Path) -> int:
    """Fold the console's SQLite file's new sealed batches (what ``serve``'s background folder does)."""
    store = open_store(str(path), create=False)
    try:
        return catch_up(store)
    finally:
        store.close()


def fill(store: Store, acme_work: int, globex_work: int, t0: int, *, fold: bool = True) -> MonitoringWorld:
    """Acme's swarm: 127.0.0.2 verified (capture), 127.0.0.3 with the hostile client string, 127.0.0.4
    listed, 127.0.0.5 unsealed; Globex's swarm: 127.0.0.9 verified. Two monitor samples. The sealed
    batches are folded into the console's read models unless ``fold`` is False (pages never fold)."""
    swarms = ((ACME_SWARM, "acme-feature.mkv", acme_work), (GLOBEX_SWARM, "globex.flac", globex_work))
    for swarm, name, work in swarms:
        store.add_swarm(swarm, swarm, None, name, 8, 16384, 8 * 16384, None, None, t0)
        link_torrent(store, work, swarm, t0)
    run = store.start_run({}, "0.1.0", t0)
    listed = Sighting(ACME_SWARM, "127.0.0.4", 6881, "tracker", "http://127.0.0.1:6969/announce", t0)
    store.add_sightings(run, [listed], sealed_at_us=t0)  # the world's clock: a real-time seal before the
    # batches below would read, rightly, as a clock set back
    digest = hashlib.sha256(CAPTURE).digest()
    verified = {"tier": Tier.VERIFIED, "failure": None, "verified_pieces": (0,), "bytes_received": 16384}
    records = [
        probe(ACME_SWARM, "127.0.0.2", t0 + S, client="Transmission", client_version="4.0",
              capture_sha256=digest, **verified),
        probe(ACME_SWARM, "127.0.0.3", t0 + 2 * S, client=SCRIPT_CLIENT, tier=Tier.HAS_PIECES),
        probe(GLOBEX_SWARM, "127.0.0.9", t0 + 3 * S, client="aria2", **verified),
        Attribution(ip="127.0.0.2", observed_at_us=t0 + S, asn=64500, isp="Example Net", country="DE"),
    ]  # fmt: skip
    store.commit_evidence(run, records=records, captures={digest: CAPTURE}, sealed_at_us=t0 + 10 * S)
    with store.engine.begin() as conn:
        unsealed = probe(ACME_SWARM, "127.0.0.5", t0 + 4 * S, **verified)
        insert_unlinked(conn, observation_table, [writer.observation_row(run, unsealed, (None, None))])
    write_monitor_sample(store, MonitorSample(run, t0 + 5 * S, 40, 3, 2, 0.004, 0.01, 1, 2))
    write_monitor_sample(store, MonitorSample(run, t0 + 10 * S, 90, 0, 4, 0.006, 0.02, 1, 2))
    if fold:
        catch_up(store)
    return MonitoringWorld(run, t0, digest.hex())


def add_verified(path: Path, run: int, ip: str, at: int) -> None:
    """One more sealed verified probe of Acme's swarm (a monitor writing while the page is open)."""
    store = writer_store(path, at)
    try:
        obs = probe(
            ACME_SWARM, ip, at, tier=Tier.VERIFIED, failure=None, verified_pieces=(1,), bytes_received=99
        )
        store.add_observations(run, [obs], sealed_at_us=at + 2 * S)
    finally:
        store.close()
