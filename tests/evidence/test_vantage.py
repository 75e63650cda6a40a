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


def test_a_peer_of_the_other_family_than_the_bind_address_is_seen_from_the_default_route() -> None:
    """A node bound to ::1 reaches an IPv4 peer from the kernel's default IPv4 source (the bind applies
    to its own family only), the same source as a node without --bind: one vantage, not two."""
    assert vantage_of_address("::1", peer_ip="127.0.0.9") == DEFAULT_ROUTE
    assert vantage_of_address("127.0.4.1", peer_ip="::1") == DEFAULT_ROUTE
    assert vantage_of_address("::1", peer_ip="::2") == "::1"
    assert vantage_of_address("::ffff:127.0.4.6", peer_ip="127.0.0.9") == "127.0.4.6"  # mapped: IPv4
    assert vantage_of_address("192.0.2.9", peer_ip="198.51.100.7") == "192.0.2.0/24"

    def run(settings: dict[str, object]) -> RunStarted:
        return RunStarted(1, 0, "0.1.0", None, json.dumps(settings))

    assert vantage_of_run(run({"bind_ip": "2001:db8:1::5"}), "203.0.113.4") == DEFAULT_ROUTE
    assert vantage_of_run(run({"bind_ip": "2001:db8:1::5"}), "2001:db8:9::1") == "2001:db8:1::/48"


def test_the_default_route_corroborates_nothing_and_a_wildcard_bind_is_the_default_route() -> None:
    """A node without --bind (or bound to 0.0.0.0 / ::) probes from whatever source the kernel picks, a
    bound node's address included: beside a named vantage it adds none; alone it is one."""
    from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE, vantage_count, vantage_of_address

    assert vantage_of_address("0.0.0.0") == vantage_of_address("::") == DEFAULT_ROUTE
    assert vantage_count([DEFAULT_ROUTE, "127.0.0.1"]) == 1
    assert vantage_count([DEFAULT_ROUTE, DEFAULT_ROUTE]) == 1
    assert vantage_count(["192.0.2.0/24", "198.51.100.0/24", DEFAULT_ROUTE]) == 2
    assert vantage_count([]) == 0
