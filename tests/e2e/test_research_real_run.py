"""End to end: ``swarmscope research export`` over the database of a real monitor run of the testbed swarm.

The libtorrent/aria2/opentracker swarm of ``swarmscope.testbed`` on 127.x loopback addresses, the test
MMDBs registered (its peers' 127.0.1.0/24 maps to AS64501 "Test Broadband GmbH", DE), one real monitor
run through the CLI, then ``research export`` through the CLI. Every output file is scanned for every
address and port the store holds (and their /24), their pseudonyms under the study key and the key
itself; the released counts are checked against ``swarmscope report`` of the same database.
"""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent")

from swarmscope.store.database import open_store
from swarmscope.store.ledger.queries import load_observations, load_sightings
from swarmscope.testbed.mmdb import build_test_datasets
from swarmscope.testbed.swarm import start_swarm
from tests.e2e.monitor_cli import CLI, monitor_command, report_rows, run_monitor
from tests.research.scan import scan_export

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

MONITOR_IP = "127.0.0.1"
RUN_SECONDS = 15.0
K = 2


@dataclass
class Study:
    out: Path
    key: bytes
    report: list[dict[str, Any]]
    addresses: dict[str, set[int]]
    infohash: str


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def study(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Study]:
    workdir = tmp_path_factory.mktemp("research-e2e")
    db = workdir / "evidence.db"
    datasets = build_test_datasets(workdir / "datasets")
    for kind in ("asn", "city"):
        cli("datasets", "add", str(datasets[kind]), "--db", str(db))
    with start_swarm(workdir, monitor_ip=MONITOR_IP) as swarm:
        run_monitor(monitor_command(swarm.torrent_path, db, MONITOR_IP, RUN_SECONDS), RUN_SECONDS + 90)
        infohash = swarm.infohash_hex
    cli("research", "key", str(workdir / "study.key"))
    out = workdir / "research"
    cli(
        "research",
        "export",
        "--out",
        str(out),
        "--db",
        str(db),
        "--k",
        str(K),
        "--key-file",
        str(workdir / "study.key"),
    )
    addresses: dict[str, set[int]] = {}
    with open_store(str(db), create=False) as store:
        for record in [*load_observations(store), *load_sightings(store)]:
            addresses.setdefault(record.ip, set()).add(record.port)
    addresses.setdefault(MONITOR_IP, set()).add(6881)
    key = bytes.fromhex((workdir / "study.key").read_text().strip())
    yield Study(out, key, report_rows(db), addresses, infohash)


def rows(study: Study, table: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((study.out / f"{table}.csv").read_text(encoding="utf-8"))))


def sealed_ips(study: Study, tiers: set[str]) -> set[str]:
    return {r["ip"] for r in study.report if r["evidence"] == "sealed" and r["tier"] in tiers}


def test_no_address_pseudonym_key_or_small_cell_in_any_file(study: Study) -> None:
    assert len(study.addresses) >= 4, study.addresses  # the swarm's peers were found
    assert scan_export(study.out, study.addresses, study.key, K) == []
    names = {p.name for p in study.out.iterdir()}
    assert {"README.md", "swarms.csv", "swarm_size.png", "swarm_size.svg", "country_share.csv"} <= names


def test_connected_addresses_are_the_reports_and_attributed_to_the_test_as(study: Study) -> None:
    connected = sealed_ips(study, {"connected", "has_pieces", "verified"})
    assert len(connected) >= K
    n = str(len(connected))
    country = [
        (r["country"], r["addresses"]) for r in rows(study, "country_share") if r["swarm"] == study.infohash
    ]
    assert country == [("DE", n), ("(all)", n)]
    asn = [(r["asn"], r["addresses"]) for r in rows(study, "asn_share") if r["swarm"] == study.infohash]
    assert asn == [("AS64501 Test Broadband GmbH", n), ("(all)", n)]
    clients = {
        r["client"]: r["addresses"] for r in rows(study, "client_share") if r["swarm"] == study.infohash
    }
    assert clients["(all)"] == n


def test_verified_per_source_and_swarm_size_match_the_report(study: Study) -> None:
    verified = sealed_ips(study, {"verified"})
    everyone = sealed_ips(study, {"listed", "connected", "has_pieces", "verified"})
    tracker = {r["verified"]: r for r in rows(study, "discovery_sources") if r["source"] == "tracker"}
    assert tracker["(all)"]["addresses"] == str(len(everyone))  # every peer came from the tracker first
    assert len(verified) >= K  # the seeds and the partial seed
    assert tracker["verified"]["addresses"] == str(len(verified))
    size = [r for r in rows(study, "swarm_size") if r["swarm"] == study.infohash and r["tier"] == "(all)"]
    if len(size) == 1:  # the run did not cross an hour boundary (UTC): one hour holds everyone
        assert size[0]["addresses"] == str(len(everyone))
    readme = (study.out / "README.md").read_text()
    assert "GeoLite2-ASN" in readme and f"k = {K}" in readme
