"""An address written with its port, or run on from hex letters, must not leave a research export.

:func:`swarmscope.research.cells.scrub` promises that anything that parses as an IP address in free text
(a client string, a torrent name) is replaced by ``[address]``. A longest-token reading once let
``10.1.2.3:554`` (IPv4 with a port, RFC 3986 section 3.2) and ``cafe10.1.2.3`` through whole; these tests
hold scrub to the export's own leak scan (``tests/research/scan.py``): nothing it would flag survives.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.research.cells import scrub
from swarmscope.research.writer import swarms_csv
from tests.research.scan import address_literals


@pytest.mark.parametrize("text", ["cam 10.1.2.3:554", "peer at 192.0.2.7:6881", "cafe10.1.2.3"])
def test_no_address_literal_survives_scrub(text: str) -> None:
    assert address_literals(scrub(text)) == []


def test_a_torrent_name_with_an_address_and_port_is_scrubbed_in_swarms_csv() -> None:
    out = swarms_csv({"ab" * 20: "backup of 198.51.100.23:8080"})
    assert "198.51.100.23" not in out


_NEAR = "0123456789abcdefABCDEFgxyz:.[]%- /"  # characters that run on into an address, and a few that don't
_TEXT = st.text(alphabet=st.sampled_from(_NEAR), max_size=12)
_ADDRESS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
)


@settings(max_examples=400, deadline=None)
@given(
    before=_TEXT,
    address=_ADDRESS,
    port=st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}")),
    after=_TEXT,
)
def test_no_embedded_address_survives_scrub(before: str, address: str, port: str, after: str) -> None:
    """Whatever an address is embedded in (hex letters, digits, colons, dots, brackets, a port), the
    leak scan finds no address in scrub's output."""
    assert address_literals(scrub(before + address + port + after)) == []


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_NEAR), max_size=40))
def test_no_address_survives_scrub_in_any_text(text: str) -> None:
    assert address_literals(scrub(text)) == []


@pytest.mark.parametrize("version", ["libtorrent 2.0.11", "Transmission 4.0.6", "qBittorrent v5.0.1"])
def test_versions_of_up_to_three_parts_stay(version: str) -> None:
    assert scrub(version) == version


def test_a_four_part_version_is_an_address_and_goes() -> None:
    """``2.1.1.0`` is a valid IPv4 address (the leak scan would flag it): replaced, on purpose."""
    ipaddress.ip_address("2.1.1.0")
    assert scrub("libtorrent 2.1.1.0") == "libtorrent [address]"
