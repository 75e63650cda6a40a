"""Attribution of a peer address: AS, ISP, advisory geolocation and flags.

:class:`Attributor` opens every active dataset once (MMDB files fully into memory, flag lists parsed into
bisectable ranges) and then answers :meth:`Attributor.attribute` without I/O: the same open datasets and the
same address give the same :class:`~swarmscope.evidence.records.Attribution`.

**Geolocation is advisory.** Country, region, city and the accuracy radius are what the dataset says about
the network block, not where a subscriber is; a geolocation default once sent police to a farm. The ASN and
its organisation (or the ISP name from GeoIP2-ISP) decide which ISP a disclosure request goes to; region and
city only help group exhibits and must be presented as approximate.

Field sources (MaxMind DB record layouts): ``autonomous_system_number`` and
``autonomous_system_organization`` (GeoLite2-ASN, GeoIP2-ISP); ``isp`` (GeoIP2-ISP); ``country.iso_code``,
``subdivisions[-1]`` (most specific), ``city.names``, ``location.accuracy_radius`` (GeoIP2/GeoLite2 City,
Country); ``is_hosting_provider`` / ``is_anonymous_vpn`` / ``is_tor_exit_node`` (GeoIP2-Anonymous-IP).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import maxminddb
import maxminddb.errors

from swarmscope.attribution.datasets import MMDB_KINDS, file_sha256, read_flag_list
from swarmscope.attribution.flag_lists import FLAG_KINDS, FlagList, IPAddress, parse_flag_list
from swarmscope.errors import InputError
from swarmscope.evidence.records import Attribution

ANONYMOUS_FLAGS: dict[str, str] = {  # GeoIP2-Anonymous-IP field → flag
    "is_hosting_provider": "hosting",
    "is_anonymous_vpn": "vpn",
    "is_tor_exit_node": "tor",
}


class DatasetFile(Protocol):
    """What :meth:`Attributor.open` needs of a registered dataset (``store.ledger.datasets.DatasetRow``
    fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Mmdb:
    kind: str
    sha256: str
    reader: Any  # maxminddb.Reader


def normalise(ip: str) -> tuple[str, IPAddress]:
    """The record literal of ``ip`` (compressed, as observation rows store it) and the address to look up.

    An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is looked up as the IPv4 address it carries; its
    literal stays as given (compressed), so attribution rows join observation rows on ``ip``.

    Raises:
        InputError: not an IP address literal.
    """
    try:
        address = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InputError(f"{ip!r} is not an IP address") from None
    lookup: IPAddress = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        lookup = address.ipv4_mapped
    return address.compressed, lookup


def _name(node: Any) -> str | None:
    """The English name of a City/Country record node (``{"names": {"en": ...}}``), else None."""
    if not isinstance(node, dict):
        return None
    names = node.get("names")
    value = names.get("en") if isinstance(names, dict) else None
    return value if isinstance(value, str) else None


def _str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None


def _int(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _geo_fields(record: dict[str, Any]) -> dict[str, Any]:
    """country, region (most specific subdivision name, else its ISO code), city, accuracy radius."""
    country = record.get("country")
    subdivisions = record.get("subdivisions")
    region = None
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[-1], dict):
        region = _name(subdivisions[-1]) or _str(subdivisions[-1], "iso_code")
    location = record.get("location")
    return {
        "country": _str(country, "iso_code") if isinstance(country, dict) else None,
        "region": region,
        "city": _name(record.get("city")),
        "accuracy_radius_km": _int(location, "accuracy_radius") if isinstance(location, dict) else None,
    }


class Attributor:
    """Answers who an address belonged to, from datasets opened once (see module docstring).

    Use :meth:`open`; close with :meth:`close` (or use as a context manager).
    """

    def __init__(self, mmdbs: Sequence[_Mmdb], flag_lists: Sequence[tuple[str, FlagList]]) -> None:
        self._mmdbs = tuple(mmdbs)
        self._flags = tuple(flag_lists)
        self.datasets: tuple[str, ...] = tuple(sorted({m.sha256 for m in mmdbs} | {s for s, _ in flag_lists}))

    @classmethod
    def open(cls, datasets: Iterable[DatasetFile], *, check_sha256: bool = True) -> Attributor:
        """Open every dataset (MMDB into memory; flag lists parsed).

        Args:
            datasets: registered datasets (kind, path, sha256). check_sha256: re-hash each file and
                refuse one that no longer matches its registered fingerprint (default; the record cites
                the fingerprint, so it must be the file actually read).

        Returns:
            An :class:`Attributor` (no datasets → every field None, no flags).

        Raises:
            InputError: unknown kind, unreadable or corrupt file, a file whose SHA-256 changed.
        """
        mmdbs: list[_Mmdb] = []
        flags: list[tuple[str, FlagList]] = []
        try:
            for d in datasets:
                path = Path(d.path)
                if check_sha256 and file_sha256(path)[0] != d.sha256:
                    raise InputError(
                        f"{path}: file changed since it was registered (sha256 {d.sha256[:16]}…)"
                    )
                if d.kind in FLAG_KINDS:
                    networks = parse_flag_list(read_flag_list(path), str(path))
                    flags.append((d.sha256, FlagList.of(d.kind, networks)))
                elif d.kind in MMDB_KINDS:
                    mmdbs.append(_Mmdb(d.kind, d.sha256, _open_mmdb(path)))
                else:
                    raise InputError(f"{path}: unknown dataset kind {d.kind!r}")
        except BaseException:
            for m in mmdbs:
                m.reader.close()
            raise
        return cls(mmdbs, flags)

    def close(self) -> None:
        """Close the MMDB readers."""
        for m in self._mmdbs:
            m.reader.close()

    def __enter__(self) -> Attributor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def attribute(self, ip: str, observed_at_us: int) -> Attribution:
        """The attribution of ``ip`` at ``observed_at_us`` per the open datasets.

        Args:
            ip: an IPv4/IPv6 literal (IPv4-mapped IPv6 is looked up as IPv4). observed_at_us: the
                observation time it applies to, UTC µs (recorded, not used for the lookup: the datasets
                are the editions in use at that time).

        Returns:
            An :class:`Attribution`; fields a dataset has no entry for are None (never an exception).
            ``isp`` is GeoIP2-ISP's ``isp`` when present, else the AS organisation. ``datasets`` lists the
            SHA-256 of every open dataset (each was consulted, including those without an entry).

        Raises:
            InputError: ``ip`` is not an IP literal; a dataset's data section is corrupt.

        Source: README "The legal workflow" (attributed at observation time; geolocation advisory).
        """
        literal, address = normalise(ip)
        found: dict[str, dict[str, Any]] = {}
        for m in self._mmdbs:
            record = _get(m, address)
            if record is not None:
                found.setdefault(m.kind, record)
        fields = self._fields(found)
        flags = {fl.flag for _sha, fl in self._flags if address in fl}
        anonymous = found.get("anonymous", {})
        flags |= {flag for key, flag in ANONYMOUS_FLAGS.items() if anonymous.get(key) is True}
        return Attribution(
            ip=literal,
            observed_at_us=observed_at_us,
            flags=tuple(sorted(flags)),
            datasets=self.datasets,
            **fields,
        )

    @staticmethod
    def _fields(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """asn, as_org, isp and the geo fields from the records found per kind (ASN db, then ISP db)."""
        asn_rec, isp_rec = found.get("asn", {}), found.get("isp", {})
        asn = _int(asn_rec, "autonomous_system_number") or _int(isp_rec, "autonomous_system_number")
        as_org = _str(asn_rec, "autonomous_system_organization") or _str(
            isp_rec, "autonomous_system_organization"
        )
        geo = _geo_fields(found.get("city") or found.get("country") or {})
        return {"asn": asn, "as_org": as_org, "isp": _str(isp_rec, "isp") or as_org, **geo}


def _open_mmdb(path: Path) -> Any:
    """A maxminddb reader with the whole file in memory (lookups then do no I/O)."""
    try:
        return maxminddb.open_database(str(path), maxminddb.MODE_MEMORY)
    except (maxminddb.errors.InvalidDatabaseError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: not a valid MaxMind DB file: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read dataset {path}: {exc.strerror or exc}") from None


def _get(m: _Mmdb, address: IPAddress) -> dict[str, Any] | None:
    """The record for ``address`` in one MMDB, or None (no entry; IPv6 asked of an IPv4-only database)."""
    try:
        record = m.reader.get(address)
    except ValueError as exc:
        if "IPv6 address in an IPv4-only database" in str(exc):
            return None
        raise InputError(f"dataset {m.sha256[:16]}…: lookup of {address} failed: {exc}") from None
    except maxminddb.errors.InvalidDatabaseError as exc:
        raise InputError(f"dataset {m.sha256[:16]}…: corrupt data section: {exc}") from None
    return record if isinstance(record, dict) else None
