"""Flag list files: parsing (line-numbered errors), interval merging, bisect membership."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.attribution.flag_lists import FlagList, RangeSet, parse_flag_list
from swarmscope.errors import InputError

GOOD = [
    ("", []),
    ("# only a comment\n\n", []),
    ("10.0.0.0/8\n", ["10.0.0.0/8"]),
    ("192.0.2.1\n", ["192.0.2.1/32"]),
    ("  198.51.100.0/24   # trailing comment\r\n", ["198.51.100.0/24"]),
    ("2001:db8::/32\n::1\n", ["2001:db8::/32", "::1/128"]),
    ("127.0.2.0/24\n127.0.2.0/24\n", ["127.0.2.0/24", "127.0.2.0/24"]),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_lines(text: str, expected: list[str]) -> None:
    assert [str(n) for n in parse_flag_list(text, "x.txt")] == expected


BAD = [
    ("10.0.0.1/8\n", "line 1"),  # host bits set
    ("ok\n", "line 1"),
    ("10.0.0.0/8\n300.1.1.1\n", "line 2"),
    ("# c\n\n10.0.0.0/33\n", "line 3"),
    ("1.2.3.4 5.6.7.8\n", "line 1"),
    ("2001:db8::/129\n", "line 1"),
]


@pytest.mark.parametrize(("text", "line"), BAD)
def test_bad_lines_name_the_file_and_line(text: str, line: str) -> None:
    with pytest.raises(InputError) as info:
        parse_flag_list(text, "vpn.txt")
    assert "vpn.txt" in str(info.value) and line in str(info.value)


def test_many_bad_lines_are_counted_and_the_first_ones_named() -> None:
    text = "\n".join(f"bad{i}" for i in range(25))
    with pytest.raises(InputError) as info:
        parse_flag_list(text, "tor.txt")
    message = str(info.value)
    assert "25 bad line(s)" in message and "line 1:" in message and "line 10:" in message
    assert "line 11:" not in message and "(and 15 more)" in message


def test_ranges_merge_overlapping_and_adjacent() -> None:
    nets = [ipaddress.ip_network(n) for n in ("10.0.0.0/25", "10.0.0.128/25", "10.0.0.64/26", "10.0.2.0/24")]
    ranges = RangeSet.of(nets)  # type: ignore[arg-type]
    assert len(ranges) == 2
    assert int(ipaddress.ip_address("10.0.0.255")) in ranges
    assert int(ipaddress.ip_address("10.0.1.0")) not in ranges
    assert int(ipaddress.ip_address("10.0.2.0")) in ranges
    assert int(ipaddress.ip_address("9.255.255.255")) not in ranges


def test_flag_list_keeps_families_apart() -> None:
    flags = FlagList.of("hosting", parse_flag_list("0.0.0.0/0\n", "h"))
    assert ipaddress.ip_address("8.8.8.8") in flags
    assert ipaddress.ip_address("::8") not in flags  # the same integer, other family


def test_unknown_flag_is_refused() -> None:
    with pytest.raises(InputError, match="unknown flag"):
        FlagList.of("proxy", [])


@given(st.text(max_size=200))
def test_parses_or_raises_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_flag_list(text, "fuzz")


networks = st.builds(
    lambda addr, prefix: ipaddress.ip_network(f"{ipaddress.IPv4Address(addr)}/{prefix}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@given(st.lists(networks, max_size=20), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_membership_matches_a_linear_scan(nets: list[ipaddress.IPv4Network], probes: list[int]) -> None:
    flags = FlagList.of("tor", nets)
    for value in (
        probes + [int(n.network_address) for n in nets] + [int(n.broadcast_address) + 1 for n in nets]
    ):
        if value >= 2**32:
            continue
        address = ipaddress.IPv4Address(value)
        assert (address in flags) == any(address in n for n in nets)
