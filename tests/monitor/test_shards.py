"""A node's probe processes: a stable split by IP, the settings carried whole, the counters merged.

``shard_of`` must give every process and every run the same answer (CRC-32, not the salted ``hash()``) and
keep every port of one address in one shard (per-IP politeness stays local). ``config_to_json`` must carry
every field, not only the sealed ones. A probe process's ``SwarmStats.snapshot`` folded into the
coordinator's gives the same counts as if one process had seen everything.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.evidence.records import Observation, Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.monitor.shards import config_from_json, config_to_json, shard_of
from swarmscope.monitor.stats import SwarmStats
from swarmscope.net.mse_conn import EncryptionPolicy

IPS = [f"10.0.{i // 250}.{i % 250}" for i in range(1000)]


def test_the_split_is_stable_across_processes_and_uses_every_shard() -> None:
    here = [shard_of(ip, 3) for ip in IPS]
    code = (
        "import sys; from swarmscope.monitor.shards import shard_of; "
        "print(*(shard_of(ip, 3) for ip in sys.argv[1:]))"
    )
    other = subprocess.run([sys.executable, "-c", code, *IPS], capture_output=True, text=True, check=True)
    assert [int(s) for s in other.stdout.split()] == here
    assert set(here) == {0, 1, 2}
    assert all(shard_of(ip, 1) == 0 for ip in IPS)


def test_the_settings_travel_whole() -> None:
    config = MonitorConfig(
        peer_id=b"-SS0001-abcdefabcdef",
        duration=12.5,
        max_peers=77,
        bind_ip="127.0.0.1",
        dht_bootstrap=[("127.0.0.9", 6881)],
        encryption=EncryptionPolicy.REQUIRE,
        probe=ProbePolicy(depth=Depth.HAS_PIECES, claims_wait=0.25),
        plan=PlanPolicy(reprobe_interval=7.0, per_ip=1),
        references={"ab" * 20: "/tmp/ref.bin"},
        ntp_servers=["127.0.0.5:123"],
        flush_rows=123,
        pex_wait=0.0,
        dataset_paths={"cd" * 32: "/tmp/x.mmdb"},
    )
    again = config_from_json(config_to_json(config))
    for f in fields(MonitorConfig):
        assert getattr(again, f.name) == getattr(config, f.name), f.name


@pytest.mark.parametrize("data", [b"", b"[]", b'{"peer_id": "zz"}', b"\xff"])
def test_bad_settings_are_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        config_from_json(data)


def _obs(ip: str, tier: Tier, client: str | None, completion: float | None) -> Observation:
    return Observation(
        infohash="ab" * 20, ip=ip, port=6881, source="tracker", started_us=1, ended_us=2, tier=tier,
        client=client, completion=completion, bytes_received=100,
    )  # fmt: skip


def test_a_probe_process_counters_merge_into_the_coordinators() -> None:
    whole, coordinator, shard = (SwarmStats("ab" * 20, "w") for _ in range(3))
    for stats in (whole, coordinator):
        stats.sighted("10.0.0.1", 6881, "tracker")
        stats.sighted("10.0.0.2", 6881, "dht")
    seen = [_obs("10.0.0.1", Tier.VERIFIED, "qBittorrent", 1.0), _obs("10.0.0.2", Tier.CONNECTED, None, 0.5)]
    for obs in seen:
        whole.observed(obs)
        shard.observed(obs)
    shard.sighted("10.0.0.3", 6881, "pex")
    whole.sighted("10.0.0.3", 6881, "pex")
    coordinator.merge(shard.snapshot())
    assert coordinator.counts() == whole.counts()
    assert coordinator.by_source() == whole.by_source()
    assert coordinator.top_clients() == whole.top_clients()
    assert (coordinator.bytes_in, coordinator.probes) == (whole.bytes_in, whole.probes)
