"""A hit's vantage point from the sealed run settings: loopback addresses apart, /24 and /48 networks
together, IPv4-mapped IPv6 as IPv4, every run without --bind one shared vantage."""

from __future__ import annotations

import json

from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE, vantage_of_address, vantage_of_run
from swarmscope.evidence.records import RunStarted


def test_vantages_are_source_networks() -> None:
    assert vantage_of_address("127.0.4.1") != vantage_of_address("127.0.4.5")  # loopback: per address
    assert vantage_of_address("::ffff:127.0.4.6") == vantage_of_address("127.0.4.6") == "127.0.4.6"
    assert vantage_of_address("192.0.2.10") == vantage_of_address("192.0.2.250") == "192.0.2.0/24"
    assert vantage_of_address("::ffff:192.0.2.7") == "192.0.2.0/24"
    assert vantage_of_address("198.51.100.1") == "198.51.100.0/24"
    assert (
        vantage_of_address("2001:db8:1:1::1") == vantage_of_address("2001:db8:1:ffff::9") == "2001:db8:1::/48"
    )
    assert vantage_of_address(None) == vantage_of_address("not an address") == DEFAULT_ROUTE


def test_the_vantage_of_a_run_is_its_sealed_bind_address() -> None:
    def run(settings: dict[str, object]) -> RunStarted:
        return RunStarted(1, 0, "0.1.0", None, json.dumps(settings))

    assert vantage_of_run(run({"bind_ip": "192.0.2.9"})) == "192.0.2.0/24"
    assert vantage_of_run(run({"bind_ip": None})) == vantage_of_run(run({})) == DEFAULT_ROUTE
    assert vantage_of_run(None) == DEFAULT_ROUTE
