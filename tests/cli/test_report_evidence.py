"""``swarmscope report``: only sealed records are evidence; unsealed and quarantined records are shown apart;
the clock column judges each address's hits under its run's sealed clock policy; ``--infohash`` errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import ClockSample, Observation, Tier
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.schema import clock_sample, observation, sighting
from tests.store.factories import SWARM_A, SWARM_B, T0, add_swarms
from tests.store.factories import insert_unlinked as unlinked
from tests.store.factories import observation as make_observation
from tests.store.factories import sighting as make_sighting
from tests.store.test_recovery import _orphans

register_commands()

S = 1_000_000  # microseconds per second


def report(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "--db", str(db), *args], env={"COLUMNS": "240"})
    return result.exit_code, result.stdout, result.stderr


def rows(db: Path) -> list[dict[str, Any]]:
    code, out, err = report(db, "--format", "json")
    assert code == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    return records


def verified(ip: str, pieces: tuple[int, ...], at: int = 0, **kw: Any) -> Observation:
    return make_observation(
        ip=ip, tier=Tier.VERIFIED, failure=None, verified_pieces=pieces, started_us=T0 + at,
        ended_us=T0 + at + 10, **kw,
    )  # fmt: skip


def insert_unlinked(store: Store, run: int, observations: list[Observation], sightings: list[Any]) -> None:
    """Rows with no ledger entry, as a pre-ledger version or a hand edit leaves them (SQLite takes them;
    PostgreSQL refuses them since revision 0019, so there they are written as before it:
    :func:`tests.store.factories.insert_unlinked`)."""
    with store.engine.begin() as conn:
        unlinked(conn, observation, [writer.observation_row(run, o, (None, None)) for o in observations])
        unlinked(conn, sighting, [writer.sighting_row(run, s, (None, None)) for s in sightings])


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, Ed25519PrivateKey]:
    """Sealed: 127.0.0.2 verified for piece 0. Unlinked: 127.0.0.9 verified, 127.0.0.2 verified for piece
    1 (must not lend anything to the sealed row), a sighting of 127.0.0.7."""
    db = tmp_path / "mixed.db"
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        add_swarms(store)
        run = store.start_run({}, "0.1.0", T0)
        store.add_observations(run, [verified("127.0.0.2", (0,))], sealed_at_us=T0 + S)
        insert_unlinked(
            store,
            run,
            [verified("127.0.0.9", (3,)), verified("127.0.0.2", (1,), at=5)],
            [make_sighting(ip="127.0.0.7")],
        )
    return db, key


def test_unlinked_rows_are_unsealed_then_quarantined_never_verified(
    mixed: tuple[Path, Ed25519PrivateKey],
) -> None:
    db, key = mixed
    before = rows(db)
    assert [(r["ip"], r["tier"]) for r in before] == [
        ("127.0.0.2", "verified"),
        ("127.0.0.2", "unsealed"),
        ("127.0.0.9", "unsealed"),
        ("127.0.0.7", "unsealed"),
    ]
    assert [r["evidence"] for r in before] == ["sealed", "unsealed", "unsealed", "unsealed"]
    assert before[0]["verified_pieces"] == [0] and before[0]["observations"] == 1  # nothing borrowed
    assert before[1]["verified_pieces"] == [1]  # what the unsealed row says, shown apart
    open_store(str(db), node_key=key, now_us=T0 + 10 * S).close()  # a writer: recovery quarantines them
    after = rows(db)
    assert [(r["ip"], r["tier"]) for r in after] == [
        ("127.0.0.2", "verified"),
        ("127.0.0.2", "quarantined"),
        ("127.0.0.9", "quarantined"),
        ("127.0.0.7", "quarantined"),
    ]
    assert [r["evidence"] for r in after] == ["sealed", "quarantined", "quarantined", "quarantined"]


def test_csv_and_table_keep_them_out_of_the_tier_counts(mixed: tuple[Path, Ed25519PrivateKey]) -> None:
    db, key = mixed
    open_store(str(db), node_key=key, now_us=T0 + 10 * S).close()
    code, out, _ = report(db)
    assert code == 0
    assert "1 addresses: 1 verified, 0 has_pieces, 0 connected, 0 listed" in out
    code, out, _ = report(db, "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [(r["ip"], r["tier"], r["evidence"]) for r in table][1:] == [
        ("127.0.0.2", "quarantined", "quarantined"),
        ("127.0.0.9", "quarantined", "quarantined"),
        ("127.0.0.7", "quarantined", "quarantined"),
    ]
    code, out, _ = report(db)
    assert code == 0
    assert "1 addresses: 1 verified, 0 has_pieces, 0 connected, 0 listed" in out
    assert "found by: tracker 1;" in out
    assert "NOT EVIDENCE (not counted above): 0 addresses with unsealed records, 3 with records" in out
    line = next(line for line in out.splitlines() if "127.0.0.9:6881" in line)
    assert "quarantined" in line and "verified" not in line


def test_entries_past_the_last_seal_are_unsealed_until_sealed_late(tmp_path: Path) -> None:
    db = tmp_path / "orphans.db"
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        add_swarms(store)
        run = store.start_run({}, "0.1.0", T0)
        store.add_observations(run, [verified("127.0.0.2", (0,))], sealed_at_us=T0 + S)
        _orphans(store, run, 2)  # chain entries and rows of ports 9000, 9001, with no seal
    assert {(r["port"], r["tier"]) for r in rows(db)} == {
        (6881, "verified"),
        (9000, "unsealed"),
        (9001, "unsealed"),
    }
    open_store(str(db), node_key=key, now_us=T0 + 10 * S).close()  # recovery seals them late: not evidence
    assert {(r["port"], r["tier"], r["evidence"]) for r in rows(db)} == {
        (6881, "verified", "sealed"),
        (9000, "late", "late"),
        (9001, "late", "late"),
    }


def sample(at_s: int, offset_ms: float) -> ClockSample:
    return ClockSample("127.0.0.53:123", T0 + at_s * S, round(offset_ms * 1000), 2000, 2, 0, None)


@pytest.fixture
def clocked(tmp_path: Path) -> Path:
    """Run 1 (sealed 100 ms): samples good at 0 s, 2 s off at 10 s, good at 20 s, 50 ms off at 30 s,
    good at 40 s; an UNSEALED sample 5 s off at 50 s. Run 2 (sealed 40 ms): the same 50 ms reading.
    Run 3: no samples."""
    db = tmp_path / "clock.db"
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        add_swarms(store)
        run1 = store.start_run({"clock_threshold_ms": 100}, "0.1.0", T0)
        run2 = store.start_run({"clock_threshold_ms": 40}, "0.1.0", T0)
        run3 = store.start_run({}, "0.1.0", T0)
        samples1 = [sample(0, 1), sample(10, 2000), sample(20, 1), sample(30, 50), sample(40, 1)]
        store.commit_evidence(run1, records=samples1, sealed_at_us=T0 + 100 * S)
        store.commit_evidence(
            run2, records=[sample(0, 1), sample(30, 50), sample(40, 1)], sealed_at_us=T0 + 100 * S
        )
        with store.engine.begin() as conn:
            writer.insert_many(
                conn, clock_sample, [writer.clock_sample_row(run1, sample(50, 5000), (None, None))]
            )
        observations1 = [
            verified("127.0.0.2", (0,), at=5 * S),  # inside the 2 s window: flagged
            verified("127.0.0.3", (0,), at=35 * S),  # 50 ms under a 100 ms policy: ok
            verified("127.0.0.4", (0,), at=55 * S),  # only the unsealed sample says 5 s: ok
            verified("127.0.0.5", (0,), at=25 * S),  # a verified hit outside any window ...
            make_observation(
                ip="127.0.0.5", started_us=T0 + 5 * S, ended_us=T0 + 5 * S + 10
            ),  # ... a choke in
            make_observation(ip="127.0.0.6", started_us=T0 + 5 * S, ended_us=T0 + 5 * S + 10),
            make_observation(  # a listed address whose probe never connected, inside the 2 s window
                ip="127.0.0.10",
                tier=Tier.LISTED,
                failure="connect_refused",
                started_us=T0 + 5 * S,
                ended_us=T0 + 5 * S + 10,
            ),
        ]
        store.add_observations(run1, observations1, sealed_at_us=T0 + 100 * S)
        store.add_observations(run2, [verified("127.0.0.7", (0,), at=35 * S)], sealed_at_us=T0 + 100 * S)
        store.add_observations(run3, [verified("127.0.0.8", (0,), at=35 * S)], sealed_at_us=T0 + 100 * S)
        store.add_sightings(run3, [make_sighting(ip="127.0.0.9")], sealed_at_us=T0 + 100 * S)
        insert_unlinked(store, run1, [verified("127.0.0.11", (0,), at=25 * S)], [])  # unsealed: no verdict
    return db


def test_clock_column_under_each_runs_sealed_policy(clocked: Path) -> None:
    clock = {r["ip"]: r["clock"] for r in rows(clocked)}
    assert clock == {
        "127.0.0.2": "flagged",
        "127.0.0.3": "ok",
        "127.0.0.4": "ok",
        "127.0.0.5": "ok",  # its hits (verified observations) are clean, as cases build counts them
        "127.0.0.6": "flagged",  # not verified: every observation is judged
        "127.0.0.7": "flagged",  # 50 ms under the 40 ms sealed in its run
        "127.0.0.8": "unmeasured",
        "127.0.0.9": None,  # listed only: no probe time to judge
        "127.0.0.10": None,  # only listed, although its failed probe started in a flag window
        "127.0.0.11": None,  # unsealed: not evidence, nothing to judge
    }
    code, out, _ = report(clocked, "--format", "csv")
    assert code == 0
    assert {r["ip"]: r["clock"] for r in csv.DictReader(io.StringIO(out))}["127.0.0.7"] == "flagged"
    code, out, _ = report(clocked)
    assert code == 0 and "clock flagged: 3" in " ".join(out.split())  # the caption wraps
    line = next(line for line in out.splitlines() if "127.0.0.8:6881" in line)
    assert "unmeasured" in line


@pytest.mark.parametrize("value", ["xyz", "ab" * 21, "", "zz" * 20])
def test_malformed_infohash_is_one_line_and_exit_1(mixed: tuple[Path, Ed25519PrivateKey], value: str) -> None:
    code, out, err = report(mixed[0], "--format", "json", "--infohash", value)
    assert (code, out) == (1, "")
    assert err.startswith("error: --infohash") and err.count("\n") == 1 and "40 or 64 hex" in err


def test_unknown_infohash_is_named_and_exit_1(mixed: tuple[Path, Ed25519PrivateKey]) -> None:
    code, out, err = report(mixed[0], "--infohash", "CD" * 20)
    assert (code, out) == (1, "")
    assert err == f"error: --infohash {'cd' * 20}: no swarm with this infohash in the database\n"
    assert report(mixed[0], "--infohash", SWARM_B)[0] == 0  # known, even with no peers


def test_a_hybrid_swarm_is_found_by_its_v2_infohash(tmp_path: Path) -> None:
    db = tmp_path / "hybrid.db"
    v1, v2 = "12" * 20, "34" * 32
    with open_store(str(db), node_key=Ed25519PrivateKey.generate(), now_us=T0) as store:
        store.add_swarm(v1, v1, v2, "hybrid.bin", 4, 32768, 131072, None, None, T0)
        run = store.start_run({}, "0.1.0", T0)
        store.add_observations(run, [verified("127.0.0.2", (0,), infohash=v1)], sealed_at_us=T0 + S)
    code, out, err = report(db, "--format", "json", "--infohash", v2.upper())
    assert code == 0, err
    assert [(r["infohash"], r["ip"]) for r in json.loads(out)] == [(v1, "127.0.0.2")]
    assert SWARM_A not in out
