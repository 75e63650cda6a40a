"""The monitor's issue-4 evidence options: validation, pairing references, the clock policy presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.cli.evidence_options import EvidenceOptions
from swarmscope.errors import InputError
from swarmscope.monitor.config import MonitorConfig


def _config() -> MonitorConfig:
    return MonitorConfig(peer_id=b"-SS0100-optionsoptio")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (EvidenceOptions(ntp_servers=["host:notaport"]), "host"),
        (EvidenceOptions(ntp_interval=0), "--ntp-interval"),
        (EvidenceOptions(clock_threshold_ms=0), "--clock-threshold-ms"),
        (EvidenceOptions(clock_policy="lenient"), "--clock-policy"),
        (EvidenceOptions(proof_candidates=-1), "--proof-candidates"),
        (EvidenceOptions(tsa_url="ftp://tsa.example/"), "--tsa-url"),
        (EvidenceOptions(references=["/nonexistent/reference"]), "--reference"),
    ],
)
def test_bad_values_are_refused_naming_the_option(options: EvidenceOptions, message: str) -> None:
    with pytest.raises(InputError, match=message):
        options.check()


def test_commercial_anchor_preset_lowers_the_threshold_to_40_ms_and_is_sealed() -> None:
    config = _config()
    EvidenceOptions(clock_policy="commercial-anchor").apply(config, [])
    assert config.clock_threshold_ms == 40.0
    assert config.as_settings()["clock_policy"] == "commercial-anchor"
    assert config.as_settings()["clock_threshold_ms"] == 40.0
    stricter = _config()
    EvidenceOptions(clock_policy="commercial-anchor", clock_threshold_ms=10).apply(stricter, [])
    assert stricter.clock_threshold_ms == 10


def test_default_policy_keeps_the_given_threshold(tmp_path: Path) -> None:
    config = _config()
    EvidenceOptions(
        clock_threshold_ms=250, ntp_servers=["127.0.0.1:123"], tsa_url="http://127.0.0.1:1/"
    ).apply(config, [])
    settings = config.as_settings()
    assert settings["clock_threshold_ms"] == 250 and settings["clock_policy"] == "default"
    assert settings["ntp_servers"] == ["127.0.0.1:123"] and settings["tsa_url"] == "http://127.0.0.1:1/"


def test_more_references_than_torrents_is_refused(tmp_path: Path) -> None:
    ref = tmp_path / "copy.bin"
    ref.write_bytes(b"x")
    with pytest.raises(InputError, match="--reference given 1 times for 0"):
        EvidenceOptions(references=[str(ref)]).apply(_config(), [])
