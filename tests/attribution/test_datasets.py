"""Fingerprints: sha256 and size of the exact bytes, kind from database_type, corrupt files refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from swarmscope.attribution.datasets import Fingerprint, fingerprint, mmdb_kind
from swarmscope.errors import InputError
from swarmscope.testbed.mmdb import BUILD_EPOCH, build_mmdb


@pytest.mark.parametrize(
    ("kind", "database_type"),
    [
        ("asn", "GeoLite2-ASN"),
        ("city", "GeoLite2-City"),
        ("isp", "GeoIP2-ISP"),
        ("anonymous", "GeoIP2-Anonymous-IP"),
    ],
)
def test_mmdb_fingerprint(fingerprints: dict[str, Fingerprint], dataset_files: dict[str, Path], kind: str,
                          database_type: str) -> None:  # fmt: skip
    fp = fingerprints[kind]
    data = dataset_files[kind].read_bytes()
    assert fp.sha256 == hashlib.sha256(data).hexdigest()
    assert fp.size == len(data)
    assert (fp.kind, fp.name, fp.database_type) == (kind, database_type, database_type)
    assert fp.build_us == BUILD_EPOCH * 1_000_000
    assert fp.path == str(dataset_files[kind].resolve())


@pytest.mark.parametrize("kind", ["hosting", "vpn", "tor"])
def test_list_fingerprint(
    fingerprints: dict[str, Fingerprint], dataset_files: dict[str, Path], kind: str
) -> None:
    fp = fingerprints[kind]
    path = dataset_files[kind]
    assert fp.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (fp.kind, fp.name, fp.database_type) == (kind, path.name, None)
    assert fp.build_us == int(path.stat().st_mtime * 1_000_000)


def test_builds_are_reproducible(tmp_path: Path, fingerprints: dict[str, Fingerprint]) -> None:
    again = build_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == fingerprints["asn"].sha256


@pytest.mark.parametrize(
    ("database_type", "kind"),
    [
        ("GeoLite2-ASN", "asn"), ("GeoLite2-City", "city"), ("GeoIP2-City", "city"), ("GeoIP2-ISP", "isp"),
        ("GeoLite2-Country", "country"), ("GeoIP2-Anonymous-IP", "anonymous"),
        ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", "asn"), ("GeoIP2-Domain", None),
    ],
)  # fmt: skip
def test_kind_from_database_type(database_type: str, kind: str | None) -> None:
    assert mmdb_kind(database_type) == kind


def test_kind_must_agree_with_database_type(dataset_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="is a asn database, not city"):
        fingerprint(dataset_files["asn"], "city")
    assert fingerprint(dataset_files["asn"], "asn").kind == "asn"


def test_unknown_kind_is_refused(dataset_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="unknown dataset kind"):
        fingerprint(dataset_files["asn"], "proxy")


def test_list_file_without_kind_gets_a_hint(dataset_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"needs --kind hosting\|vpn\|tor"):
        fingerprint(dataset_files["hosting"])


def test_bad_list_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "vpn.txt"
    path.write_text("# vpn\n127.0.3.7\n127.0.3.999\n")
    with pytest.raises(InputError, match="line 3"):
        fingerprint(path, "vpn")


def test_list_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "tor.txt"
    path.write_bytes(b"127.0.0.1\n\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8"):
        fingerprint(path, "tor")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read dataset"):
        fingerprint(tmp_path / "nope.mmdb")


# Cuts that break the structure. A change inside a value (e.g. the last byte of build_epoch) still decodes:
# the format has no checksum; that is what the registered sha256 (re-checked by Attributor.open) is for.
@pytest.mark.parametrize("cut", [0, 10, 100, -200, -20])
def test_corrupt_mmdb_is_an_input_error(tmp_path: Path, dataset_files: dict[str, Path], cut: int) -> None:
    data = dataset_files["city"].read_bytes()
    path = tmp_path / "corrupt.mmdb"
    path.write_bytes(data[:cut])
    with pytest.raises(InputError, match="not a valid MaxMind DB file"):
        fingerprint(path)


def test_random_bytes_are_not_an_mmdb(tmp_path: Path) -> None:
    path = tmp_path / "random.mmdb"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="not a valid MaxMind DB file"):
        fingerprint(path)
