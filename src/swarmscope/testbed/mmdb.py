"""Small MaxMind DB files and flag lists for tests: loopback ranges mapped to test ISPs.

Built with mmdb-writer (a test dependency) in the record layouts of GeoLite2-ASN, GeoLite2-City,
GeoIP2-ISP and GeoIP2-Anonymous-IP, with a fixed ``build_epoch`` so the same call builds byte-identical
files. AS numbers are from the documentation/private range (RFC 5398: 64496–64511).

============  =======  ======================  ===================================  =============
range         AS       organisation            city (advisory)                      flag lists
============  =======  ======================  ===================================  =============
127.0.1.0/24  64501    Test Broadband GmbH     DE / Nordrhein-Westfalen / Köln
127.0.2.0/24  64502    Test Hosting Ltd        GB / England / London                hosting
127.0.3.0/24  64503    Test Mobile SAS         FR / Île-de-France / Paris           vpn: .3.7
127.0.4.0/24  64504    Test Relay e.V.         (none)                               tor: .4.4
::1/128       64510    Test IPv6 Loopback Net  DE / Berlin / Berlin
============  =======  ======================  ===================================  =============

127.0.0.0/24 (the default loopback peers) is in no dataset: every field None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

BUILD_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z

TEST_NETWORKS: dict[str, dict[str, Any]] = {
    "127.0.1.0/24": {
        "asn": 64501, "org": "Test Broadband GmbH", "isp": "Test Broadband Retail",
        "geo": ("DE", "Germany", "NW", "Nordrhein-Westfalen", "Köln", 20),
    },
    "127.0.2.0/24": {
        "asn": 64502, "org": "Test Hosting Ltd", "isp": "Test Hosting Ltd",
        "geo": ("GB", "United Kingdom", "ENG", "England", "London", 50), "hosting": True,
    },
    "127.0.3.0/24": {
        "asn": 64503, "org": "Test Mobile SAS", "isp": "Test Mobile SAS",
        "geo": ("FR", "France", "IDF", "Île-de-France", "Paris", 100),
    },
    "127.0.4.0/24": {"asn": 64504, "org": "Test Relay e.V.", "isp": None, "geo": None},
    "::1/128": {
        "asn": 64510, "org": "Test IPv6 Loopback Net", "isp": "Test IPv6 Loopback Net",
        "geo": ("DE", "Germany", "BE", "Berlin", "Berlin", 5),
    },
}  # fmt: skip

HOSTING_LIST = "# test hosting ranges\n127.0.2.0/24\n\n2001:db8::/32  # documentation range\n"
VPN_LIST = "# test VPN endpoints\n127.0.3.7\n"
TOR_LIST = "127.0.4.4 # test Tor exit\n"


class _FixedEpochWriter(MMDBWriter):
    """An MMDBWriter whose metadata ``build_epoch`` is fixed (reproducible files)."""

    def _build_meta(self) -> dict[str, Any]:
        meta = super()._build_meta()
        meta["build_epoch"] = BUILD_EPOCH
        return meta


def _writer(database_type: str) -> MMDBWriter:
    return _FixedEpochWriter(
        6, database_type, ["en"], f"swarmscope test {database_type}", ipv4_compatible=True
    )


def _city_record(geo: tuple[str, str, str, str, str, int]) -> dict[str, Any]:
    cc, country, sub_code, sub_name, city, radius = geo
    return {
        "country": {"iso_code": cc, "names": {"en": country}},
        "subdivisions": [{"iso_code": sub_code, "names": {"en": sub_name}}],
        "city": {"names": {"en": city}},
        "location": {"accuracy_radius": radius, "latitude": 0.0, "longitude": 0.0},
    }


def build_mmdb(path: Path, database_type: str) -> Path:
    """Write one test MMDB of ``database_type`` (GeoLite2-ASN, GeoLite2-City, GeoIP2-ISP,
    GeoIP2-Anonymous-IP) covering :data:`TEST_NETWORKS`; returns ``path``."""
    writer = _writer(database_type)
    for cidr, net in TEST_NETWORKS.items():
        record: dict[str, Any] | None
        if database_type == "GeoLite2-ASN":
            record = {"autonomous_system_number": net["asn"], "autonomous_system_organization": net["org"]}
        elif database_type == "GeoIP2-ISP":
            record = {"autonomous_system_number": net["asn"], "autonomous_system_organization": net["org"]}
            if net["isp"]:
                record |= {"isp": net["isp"], "organization": net["isp"]}
        elif database_type == "GeoLite2-City":
            record = _city_record(net["geo"]) if net["geo"] else None
        elif database_type == "GeoIP2-Anonymous-IP":
            record = {"is_anonymous": True, "is_hosting_provider": True} if net.get("hosting") else None
        else:
            raise ValueError(f"no test layout for {database_type}")
        if record is not None:
            writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def build_test_datasets(directory: Path) -> dict[str, Path]:
    """Build the default test datasets in ``directory``.

    Returns:
        kind → path: ``asn`` (GeoLite2-ASN), ``city`` (GeoLite2-City), ``hosting``, ``vpn``, ``tor`` (list
        files). Register them with ``swarmscope datasets add PATH [--kind K]`` or
        ``store.ledger.datasets.register_dataset``. :func:`build_mmdb` also builds GeoIP2-ISP and
        GeoIP2-Anonymous-IP files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "asn": build_mmdb(directory / "GeoLite2-ASN.mmdb", "GeoLite2-ASN"),
        "city": build_mmdb(directory / "GeoLite2-City.mmdb", "GeoLite2-City"),
    }
    for kind, text in (("hosting", HOSTING_LIST), ("vpn", VPN_LIST), ("tor", TOR_LIST)):
        paths[kind] = directory / f"{kind}.txt"
        paths[kind].write_text(text, encoding="utf-8")
    return paths
