"""``swarmscope research export`` over a store filled by the real ledger writer, with known counts.

The world (k = 3), all in swarm A, port 6881, source tracker unless said; hour 00 is T0's hour (UTC):

- V1..V4 (10.1.0.1-4) verified in hour 00; V1, V2, V3 hold every piece (seeds), V4 3 of 12.
  Clients Transmission, Transmission, Transmission, qBittorrent. V1 is verified again in hour 01 as Vuze.
- C1, C2 (10.1.0.11-12) connected (choked, no piece) in hour 00; C3 (10.1.0.13) connected in hour 01.
  Clients Transmission, qBittorrent, qBittorrent.
- L1..L3 (10.2.0.1-3) only listed by the tracker in hour 00; L1 also by the DHT in hours 00 and 01.
- Attributions: V1, V2, V3, C1 DE / AS3320; V4, C3 FR / AS3215; C2 NL / AS1136.
- Not evidence: 10.9.9.9 verified but never sealed (unsealed), 10.8.8.8 verified, sealed, then its row
  altered (altered). Neither may count, nor appear anywhere.

The expected tables are written out by hand below from this description (not computed by the code under
test); the leak scan (tests/research/scan.py) then reads every output file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import Attribution, Failure, Source, Tier
from swarmscope.research import collect
from swarmscope.research.export import StudyOptions, export_study
from swarmscope.research.pseudonym import Pseudonymiser
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.cli.test_report_evidence import insert_unlinked
from tests.research.scan import scan_export
from tests.store.factories import SWARM_A, T0, add_swarms, observation, sighting
from tests.tampering import backend_store, node_trust, tamper

register_commands()

HOUR = 3_600_000_000
H0, H1 = "2026-11-30T00:00Z", "2026-11-30T01:00Z"
V = [f"10.1.0.{i}" for i in (1, 2, 3, 4)]
C = [f"10.1.0.{i}" for i in (11, 12, 13)]
L = [f"10.2.0.{i}" for i in (1, 2, 3)]
UNSEALED, ALTERED = "10.9.9.9", "10.8.8.8"
PLACES = {V[0]: ("DE", 3320), V[1]: ("DE", 3320), V[2]: ("DE", 3320), C[0]: ("DE", 3320),
          V[3]: ("FR", 3215), C[2]: ("FR", 3215), C[1]: ("NL", 1136)}  # fmt: skip
ORGS = {3320: "Deutsche Telekom AG", 3215: "Orange", 1136: "KPN"}
ALL_IPS = {ip: {6881} for ip in [*V, *C, *L, UNSEALED, ALTERED]}


def _verified(ip: str, at: int, client: str, have: int) -> Any:
    return observation(
        ip=ip, tier=Tier.VERIFIED, failure=None, verified_pieces=(0,), started_us=T0 + at,
        ended_us=T0 + at + 10, client=client, num_pieces=12, pieces_have=have, completion=have / 12,
    )  # fmt: skip


def _connected(ip: str, at: int, client: str) -> Any:
    return observation(
        ip=ip, tier=Tier.CONNECTED, failure=Failure.CHOKED.value, started_us=T0 + at, ended_us=T0 + at + 10,
        client=client, num_pieces=12, pieces_have=0, completion=0.0,
    )  # fmt: skip


def build_world(db: Path) -> None:
    """The world in the SQLite file ``db``, sealed by the node key beside it."""
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        fill_world(store)


def fill_world(store: Store) -> None:
    """The world (module docstring) in ``store`` (opened with its node key), any backend."""
    add_swarms(store)
    run = store.start_run({}, "0.1.0", T0)
    clients = ["Transmission", "Transmission", "Transmission", "qBittorrent"]
    observations = [
        _verified(ip, 100, c, 12 if i < 3 else 3) for i, (ip, c) in enumerate(zip(V, clients, strict=True))
    ]
    observations += [_connected(C[0], 200, "Transmission"), _connected(C[1], 200, "qBittorrent")]
    observations += [_verified(V[0], HOUR, "Vuze", 12), _connected(C[2], HOUR, "qBittorrent")]
    observations += [_verified(ALTERED, 300, "Transmission", 12)]
    store.add_observations(run, observations, sealed_at_us=T0 + 2 * HOUR)
    sightings = [sighting(ip=ip, seen_at_us=T0 + 50) for ip in L]
    sightings += [
        sighting(ip=L[0], source=Source.DHT.value, detail="dht", seen_at_us=T0 + at) for at in (60, HOUR)
    ]
    store.add_sightings(run, sightings, sealed_at_us=T0 + 2 * HOUR)
    places = [Attribution(ip, T0, asn=asn, as_org=ORGS[asn], country=cc) for ip, (cc, asn) in PLACES.items()]
    store.commit_evidence(run, records=places, sealed_at_us=T0 + 2 * HOUR)
    insert_unlinked(store, run, [_verified(UNSEALED, 400, "Transmission", 12)], [])
    tamper(store, ["observation"], f"UPDATE observation SET pieces_have = 11 WHERE ip = '{ALTERED}'")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("research") / "evidence.db"
    build_world(db)
    return db


def research(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["research", *args])
    return result.exit_code, result.stdout, result.stderr


def read(out: Path, name: str) -> list[tuple[str, ...]]:
    """The CSV's rows without the header (every column as text)."""
    rows = list(csv.reader(io.StringIO((out / f"{name}.csv").read_text(encoding="utf-8"))))
    return [tuple(r) for r in rows[1:]]


def released(group: tuple[str, ...], label: str, units: int, total: int) -> tuple[str, ...]:
    return (*group, label, str(units), str(units), f"{units / total:.4f}", "0")


def suppressed(group: tuple[str, ...], label: str) -> tuple[str, ...]:
    return (*group, label, "", "", "", "1")


A = SWARM_A


def test_tables_hold_the_known_counts_with_small_cells_pooled(world: Path, tmp_path: Path) -> None:
    key = tmp_path / "study.key"
    assert research("key", str(key))[0] == 0
    out = tmp_path / "out"
    code, stdout, stderr = research(
        "export", "--out", str(out), "--db", str(world), "--k", "3", "--key-file", str(key)
    )
    assert code == 0, stderr
    assert "8 observations counted" in stdout and "5 sightings" in stdout
    assert "left out: 1 altered record(s)" in stderr and "left out: 1 unsealed record(s)" in stderr
    # hour 00: verified 4, connected 2 (< 3, pooled), listed 3 (the smallest released, pooled with it)
    assert read(out, "swarm_size") == [
        released((A, H0), "verified", 4, 9), released((A, H0), "(suppressed)", 5, 9),
        released((A, H0), "(all)", 9, 9),
        # hour 01: V1 verified, C3 connected, L1 listed: each alone, pooled; the pool is the total
        released((A, H1), "(suppressed)", 3, 3), released((A, H1), "(all)", 3, 3),
    ]  # fmt: skip
    hours = read(out, "hour_of_day")
    assert hours[0] == (A, "00", "9", "9", "", "0") and hours[1] == (A, "01", "3", "3", "", "0")
    assert all(row[2:] == ("0", "0", "", "0") for row in hours[2:]) and len(hours) == 24
    # connected units: V1-V4, C1-C3 = 7; DE 4, FR 2 and NL 1 pooled (3 >= k: no complementary cell)
    assert read(out, "country_share") == [
        released((A,), "DE", 4, 7),
        released((A,), "(suppressed)", 3, 7),
        released((A,), "(all)", 7, 7),
    ]
    assert read(out, "asn_share") == [
        released((A,), "AS3320 Deutsche Telekom AG", 4, 7), released((A,), "(suppressed)", 3, 7),
        released((A,), "(all)", 7, 7),
    ]  # fmt: skip
    # latest client: V1 is Vuze (hour 01) -> Transmission 3 (V2, V3, C1), qBittorrent 3 (V4, C2, C3), Vuze 1;
    # the pool of 1 takes the smallest released cell (3 and 3 tie: "Transmission" sorts first)
    assert read(out, "client_share") == [
        released((A,), "qBittorrent", 3, 7),
        released((A,), "(suppressed)", 4, 7),
        released((A,), "(all)", 7, 7),
    ]
    # hour 00: seeds V1, V2, V3; leechers V4, C1, C2. Hour 01: V1 and C3 only: fewer than k, nothing shown
    assert read(out, "seeds_leechers") == [
        released((A, H0), "seed", 3, 6), released((A, H0), "leecher", 3, 6), released((A, H0), "(all)", 6, 6),
        suppressed((A, H1), "(all)"),
    ]  # fmt: skip
    # tracker: V1-V4, C1-C3, L1-L3 = 10 (4 verified); dht: L1 alone
    assert read(out, "discovery_sources") == [
        released((A, "tracker"), "verified", 4, 10), released((A, "tracker"), "not_verified", 6, 10),
        released((A, "tracker"), "(all)", 10, 10), suppressed((A, "dht"), "(all)"),
    ]  # fmt: skip
    assert scan_export(out, ALL_IPS, bytes.fromhex(key.read_text().strip()), 3) == []


def test_readme_states_k_suppression_left_out_and_dataset_policy(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert research("export", "--out", str(out), "--db", str(world), "--k", "3")[0] == 0
    text = (out / "README.md").read_text()
    assert "k = 3" in text and "ephemeral key" in text and "not a person" not in text
    assert "Neither is a person" in text and "complementary suppression" in text
    assert "| `swarm_size.csv` | 5 | 5 |" in text  # H0: connected and listed; H1: three cells
    assert "1 altered record(s)" in text and "1 unsealed record(s)" in text
    assert "7 unit(s) attributed, citing no registered dataset" in text  # the world's records cite none
    assert {p.name for p in out.iterdir()} >= {
        f"{t}.{x}" for t in ("swarm_size", "hour_of_day") for x in ("png", "svg")
    }
    assert scan_export(out, ALL_IPS, None, 3) == []


def test_truncation_counts_networks(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = research("export", "--out", str(out), "--db", str(world), "--k", "2", "--truncate")
    assert code == 0, stderr
    # two networks: 10.1.0.0/24 (V, C) and 10.2.0.0/24 (L); one port each -> one peer each
    assert read(out, "hour_of_day")[:2] == [(A, "00", "2", "2", "", "0"), (A, "01", "2", "2", "", "0")]
    assert read(out, "swarm_size")[:2] == [
        released((A, H0), "(suppressed)", 2, 2),
        released((A, H0), "(all)", 2, 2),
    ]
    assert "/24 (IPv4)" in (out / "README.md").read_text()
    assert scan_export(out, ALL_IPS, None, 2) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "1"], "--k 1: must be a whole number, at least 2"),
        (["--k", "nan"], "--k nan: must be"),
        (["--k", "2.5"], "--k 2.5: must be"),
        (["--key-file", "/nonexistent/study.key"], "no such file"),
        (["--infohash", "zz"], "--infohash: 'zz' is not 40 or 64 hex digits"),
        (["--infohash", "cc" * 20], "no such swarm"),
    ],
)
def test_bad_options_are_one_line_and_write_nothing(
    world: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = research("export", "--out", str(out), "--db", str(world), *args)
    assert code == 1 and message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr + stdout
    assert not out.exists()


def test_missing_database_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    code, _, stderr = research("export", "--out", str(tmp_path / "out"), "--db", str(db))
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and stderr.startswith("error:")
    assert not db.exists() and not (tmp_path / "out").exists()


def test_existing_output_and_existing_key_are_refused(world: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    code, _, stderr = research("export", "--out", str(tmp_path / "out"), "--db", str(world))
    assert code == 1 and "not an empty directory" in stderr
    key = tmp_path / "study.key"
    key.write_text("precious")
    code, _, stderr = research("key", str(key))
    assert code == 1 and "never overwritten" in stderr and key.read_text() == "precious"


def test_the_scan_finds_planted_leaks(world: Path, tmp_path: Path) -> None:
    """The scan is not vacuous: an address, a /24, a pseudonym prefix, the key, a small cell and a
    differencing leak planted in a clean export are each found."""
    key = tmp_path / "study.key"
    research("key", str(key))
    secret = bytes.fromhex(key.read_text().strip())
    out = tmp_path / "out"
    assert (
        research("export", "--out", str(out), "--db", str(world), "--k", "3", "--key-file", str(key))[0] == 0
    )
    assert scan_export(out, ALL_IPS, secret, 3) == []
    pseudonym = Pseudonymiser(secret).address(V[0])
    plants = {
        "README.md": [V[0], "10.2.0.0/24", pseudonym[:16], secret.hex(), "2001:db8::7"],
        "client_share.csv": [f"{A},Evil,2,2,0.2000,0\r\n"],
        "country_share.csv": [f"{A},XX,4,4,0.5000,0\r\n{A},(all),9,9,1.0000,0\r\n"],
    }
    for name, texts in plants.items():
        with (out / name).open("a", encoding="utf-8", newline="") as fh:
            fh.write(" ".join(texts))
    problems = "\n".join(scan_export(out, ALL_IPS, secret, 3))
    for planted in [V[0], "10.2.0.0/24", pseudonym[:16], secret.hex(), "2001:db8::7"]:
        assert repr(planted) in problems
    assert "released cell of 2 < k=3" in problems
    assert "total minus released labels is 1 < k" in problems


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_export_on_both_backends_with_attributions_read_in_chunks(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same tables from PostgreSQL as from SQLite, the attributions read two addresses at a time (the
    IN list of an attribution query stays bounded; the latest proven one per unit still wins)."""
    monkeypatch.setattr(collect, "IP_CHUNK", 2)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    with backend_store(backend, tmp_path, key, T0) as store:
        fill_world(store)
        result = export_study(
            store, node_trust(store, T0 + 3 * HOUR), StudyOptions(k=3), tmp_path / "out", T0
        )
    out = tmp_path / "out"
    assert read(out, "country_share") == [
        released((A,), "DE", 4, 7),
        released((A,), "(suppressed)", 3, 7),
        released((A,), "(all)", 7, 7),
    ]
    assert read(out, "asn_share")[0] == released((A,), "AS3320 Deutsche Telekom AG", 4, 7)
    assert result.facts.left_out == {"altered": 1, "unsealed": 1} and result.facts.observations == 8
    assert [d.name for d in result.facts.datasets] == []  # these attributions cite no registered dataset
    assert scan_export(out, ALL_IPS, None, 3) == []


def test_the_group_without_a_command_prints_its_help() -> None:
    code, stdout, _ = research()
    assert code == 0 and "export" in stdout and "key" in stdout
