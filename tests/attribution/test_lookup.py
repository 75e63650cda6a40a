"""Attributor: values per test range, flags from lists and GeoIP2-Anonymous-IP, missing → None."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swarmscope.attribution.datasets import Fingerprint, fingerprint
from swarmscope.attribution.lookup import Attributor, normalise
from swarmscope.errors import InputError
from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.evidence.records import Attribution

T = 1_796_000_000_000_000
DEFAULT = ("asn", "city", "hosting", "vpn", "tor")


@pytest.fixture
def attributor(fingerprints: dict[str, Fingerprint]) -> Iterator[Attributor]:
    with Attributor.open([fingerprints[k] for k in DEFAULT]) as a:
        yield a


def _shas(fingerprints: dict[str, Fingerprint], kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(fingerprints[k].sha256 for k in kinds))


EXPECTED = [
    ("127.0.1.77", "127.0.1.77", 64501, "Test Broadband GmbH", "DE", "Nordrhein-Westfalen", "Köln", 20, ()),
    ("127.0.2.9", "127.0.2.9", 64502, "Test Hosting Ltd", "GB", "England", "London", 50, ("hosting",)),
    ("::ffff:127.0.2.9", "::ffff:7f00:209", 64502, "Test Hosting Ltd", "GB", "England", "London", 50,
     ("hosting",)),
    ("127.0.3.7", "127.0.3.7", 64503, "Test Mobile SAS", "FR", "Île-de-France", "Paris", 100, ("vpn",)),
    ("127.0.3.8", "127.0.3.8", 64503, "Test Mobile SAS", "FR", "Île-de-France", "Paris", 100, ()),
    ("127.0.4.4", "127.0.4.4", 64504, "Test Relay e.V.", None, None, None, None, ("tor",)),
    ("::1", "::1", 64510, "Test IPv6 Loopback Net", "DE", "Berlin", "Berlin", 5, ()),
    ("[::1]", "::1", 64510, "Test IPv6 Loopback Net", "DE", "Berlin", "Berlin", 5, ()),
    ("127.0.0.1", "127.0.0.1", None, None, None, None, None, None, ()),
    ("2001:db8::5", "2001:db8::5", None, None, None, None, None, None, ("hosting",)),
    ("2001:0DB8:0000::6", "2001:db8::6", None, None, None, None, None, None, ("hosting",)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ip", "literal", "asn", "org", "country", "region", "city", "radius", "flags"), EXPECTED
)
def test_attribution_values(
    attributor: Attributor, fingerprints: dict[str, Fingerprint], ip: str, literal: str, asn: int | None,
    org: str | None, country: str | None, region: str | None, city: str | None, radius: int | None,
    flags: tuple[str, ...],
) -> None:  # fmt: skip
    got = attributor.attribute(ip, T)
    assert got == Attribution(
        ip=literal, observed_at_us=T, asn=asn, as_org=org, isp=org, country=country, region=region, city=city,
        accuracy_radius_km=radius, flags=flags, datasets=_shas(fingerprints, DEFAULT),
    )  # fmt: skip
    assert record_from_canonical(canonical_bytes(got)) == got


def test_isp_database_names_the_isp(fingerprints: dict[str, Fingerprint]) -> None:
    with Attributor.open([fingerprints["asn"], fingerprints["isp"]]) as a:
        got = a.attribute("127.0.1.1", T)
        assert (got.asn, got.as_org, got.isp) == (64501, "Test Broadband GmbH", "Test Broadband Retail")
        assert got.datasets == _shas(fingerprints, ("asn", "isp"))
        assert a.attribute("127.0.4.1", T).isp == "Test Relay e.V."  # no isp field: the AS organisation


def test_isp_database_alone_gives_the_asn(fingerprints: dict[str, Fingerprint]) -> None:
    with Attributor.open([fingerprints["isp"]]) as a:
        got = a.attribute("127.0.2.1", T)
    assert (got.asn, got.as_org, got.isp, got.country) == (
        64502,
        "Test Hosting Ltd",
        "Test Hosting Ltd",
        None,
    )


def test_anonymous_ip_database_flags_hosting(fingerprints: dict[str, Fingerprint]) -> None:
    with Attributor.open([fingerprints["anonymous"]]) as a:
        assert a.attribute("127.0.2.200", T).flags == ("hosting",)
        assert a.attribute("127.0.1.200", T).flags == ()


def test_flags_from_several_sources_are_sorted_and_unique(
    fingerprints: dict[str, Fingerprint], tmp_path: Path
) -> None:
    extra = tmp_path / "more-tor.txt"
    extra.write_text("127.0.2.0/28\n")
    tor = fingerprint(extra, "tor")
    with Attributor.open([fingerprints["hosting"], fingerprints["anonymous"], tor]) as a:
        assert a.attribute("127.0.2.3", T).flags == ("hosting", "tor")
        assert a.attribute("127.0.2.30", T).flags == ("hosting",)


def test_no_datasets_means_no_fields() -> None:
    with Attributor.open([]) as a:
        assert a.attribute("127.0.1.1", T) == Attribution("127.0.1.1", T)


def test_ipv6_in_an_ipv4_only_database_is_none(tmp_path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(4, "GeoLite2-ASN", ["en"], "v4 only")
    writer.insert_network(IPSet(["127.0.1.0/24"]), {"autonomous_system_number": 64501})
    writer.to_db_file(str(tmp_path / "v4.mmdb"))
    with Attributor.open([fingerprint(tmp_path / "v4.mmdb")]) as a:
        assert a.attribute("127.0.1.1", T).asn == 64501
        assert a.attribute("::1", T).asn is None
        assert a.attribute("::ffff:127.0.1.1", T).asn == 64501


@pytest.mark.parametrize("bad", ["", "example.org", "127.0.0.256", "::g", "127.0.0.1:6881"])
def test_not_an_ip_is_an_input_error(attributor: Attributor, bad: str) -> None:
    with pytest.raises(InputError, match="not an IP address"):
        attributor.attribute(bad, T)


def test_normalise_keeps_the_literal_and_looks_up_ipv4() -> None:
    literal, address = normalise("::FFFF:127.0.1.2")
    assert literal == "::ffff:7f00:102" and str(address) == "127.0.1.2"


def test_a_changed_file_is_refused(fingerprints: dict[str, Fingerprint], tmp_path: Path) -> None:
    copy = tmp_path / "hosting.txt"
    shutil.copy(fingerprints["hosting"].path, copy)
    registered = replace(fingerprints["hosting"], path=str(copy))
    copy.write_text("127.0.9.0/24\n")
    with pytest.raises(InputError, match="changed since it was registered"):
        Attributor.open([registered])
    with Attributor.open([registered], check_sha256=False) as a:
        assert a.attribute("127.0.9.1", T).flags == ("hosting",)


def test_corrupt_mmdb_registered_then_truncated(fingerprints: dict[str, Fingerprint], tmp_path: Path) -> None:
    copy = tmp_path / "asn.mmdb"
    copy.write_bytes(Path(fingerprints["asn"].path).read_bytes()[:50])
    with pytest.raises(InputError, match="not a valid MaxMind DB file"):
        Attributor.open([replace(fingerprints["asn"], path=str(copy))], check_sha256=False)


def test_unknown_kind_is_refused(fingerprints: dict[str, Fingerprint]) -> None:
    with pytest.raises(InputError, match="unknown dataset kind"):
        Attributor.open([replace(fingerprints["asn"], kind="proxy")])


def test_same_input_same_record(attributor: Attributor) -> None:
    assert attributor.attribute("127.0.1.9", T) == attributor.attribute("127.0.1.9", T)
    assert attributor.attribute("127.0.1.9", T + 1).observed_at_us == T + 1
