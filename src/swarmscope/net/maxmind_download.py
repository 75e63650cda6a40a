"""Download a MaxMind database edition (GeoLite2-ASN, GeoLite2-City, ...) with a licence key.

Uses MaxMind's documented direct-download URL ("Directly downloading databases"):
``{base}/app/geoip_download?edition_id=EDITION&license_key=KEY&suffix=tar.gz`` for the archive and
``suffix=tar.gz.sha256`` for its checksum file (``<hex>  <archive name>``). The archive holds one directory
``EDITION_YYYYMMDD/`` with ``EDITION.mmdb``; only that ``.mmdb`` member is extracted (no other path from
the archive is ever written). When the checksum file is offered the archive must match it.

Errors (:class:`DownloadError`) say what to do: no licence key, key refused (HTTP 401), unknown edition,
offline ("cannot reach download.maxmind.com: ... (offline?)").
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from swarmscope.errors import SwarmscopeError

DEFAULT_BASE_URL = "https://download.maxmind.com"
MAX_ARCHIVE = 1 << 30  # bytes; a larger archive is refused
EDITIONS = ("GeoLite2-ASN", "GeoLite2-City", "GeoLite2-Country", "GeoIP2-ISP", "GeoIP2-City",
            "GeoIP2-Country", "GeoIP2-Anonymous-IP")  # fmt: skip


class DownloadError(SwarmscopeError):
    """A MaxMind download failed (message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A downloaded database: where it was written, the archive's SHA-256 hex and whether it was checked."""

    path: Path
    archive_sha256: str
    checksum_verified: bool


def _url(base_url: str, edition: str, key: str, suffix: str) -> httpx.URL:
    params = {"edition_id": edition, "license_key": key, "suffix": suffix}
    return httpx.URL(base_url.rstrip("/") + "/app/geoip_download", params=params)


def _get(client: httpx.Client, url: httpx.URL, what: str) -> httpx.Response:
    """GET ``url`` (body read, bounded by :data:`MAX_ARCHIVE`), mapping transport failures to errors."""
    try:
        with client.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ARCHIVE:
                    raise DownloadError(f"{what}: larger than {MAX_ARCHIVE} bytes; refused")
            return httpx.Response(response.status_code, content=bytes(body), headers=response.headers)
    except httpx.TransportError as exc:
        host = url.host + (f":{url.port}" if url.port else "")
        raise DownloadError(f"cannot reach {host}: {exc or type(exc).__name__} (offline?)") from None


def _check_status(response: httpx.Response, edition: str, what: str) -> None:
    if response.status_code == 401:
        raise DownloadError(f"MaxMind refused the licence key (HTTP 401) for {edition}; check --licence-key")
    if response.status_code in (400, 403, 404):
        detail = response.text.strip()[:200]
        raise DownloadError(f"{what}: HTTP {response.status_code} for edition {edition!r}: {detail}")
    if response.status_code != 200:
        raise DownloadError(f"{what}: HTTP {response.status_code}")


def _expected_sha256(client: httpx.Client, url: httpx.URL, edition: str) -> str | None:
    """The hex digest from the checksum file, or None when the server offers none (404)."""
    response = _get(client, url, "checksum file")
    if response.status_code == 404:
        return None
    _check_status(response, edition, "checksum file")
    fields = response.text.split()
    digest = fields[0].lower() if fields else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DownloadError(f"checksum file for {edition}: not a SHA-256 line: {response.text[:80]!r}")
    return digest


def _extract_mmdb(archive: bytes, edition: str, out_dir: Path) -> Path:
    """Write the archive's ``*.mmdb`` member to ``out_dir/<its file name>`` (atomically); returns it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".mmdb")]
            if len(members) != 1:
                raise DownloadError(f"{edition} archive holds {len(members)} .mmdb files, expected 1")
            source = tar.extractfile(members[0])
            assert source is not None
            data = source.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"{edition}: not a readable tar.gz archive: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / Path(members[0].name).name
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".download-", suffix=".mmdb")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def download_edition(
    licence_key: str | None,
    edition: str,
    out_dir: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 60.0,
) -> Downloaded:
    """Download one MaxMind edition and write its ``.mmdb`` into ``out_dir``.

    Args:
        licence_key: the MaxMind licence key (account page "Manage License Keys"); required.
        edition: edition id, e.g. ``GeoLite2-ASN``. out_dir: destination directory (created).
        base_url: scheme and host (tests pass a loopback server). timeout: seconds per request phase.

    Returns:
        A :class:`Downloaded`.

    Raises:
        DownloadError: no licence key; the server cannot be reached; the key is refused; unknown edition;
            the archive does not match the checksum file or holds no single ``.mmdb``.

    Source: MaxMind developer docs, "Directly downloading databases" (geoip_download permalinks).
    """
    if not licence_key or not licence_key.strip():
        raise DownloadError("a MaxMind licence key is required (--licence-key or MAXMIND_LICENSE_KEY)")
    key = licence_key.strip()
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        expected = _expected_sha256(client, _url(base_url, edition, key, "tar.gz.sha256"), edition)
        response = _get(client, _url(base_url, edition, key, "tar.gz"), f"{edition} archive")
        _check_status(response, edition, f"{edition} archive")
    digest = hashlib.sha256(response.content).hexdigest()
    if expected is not None and digest != expected:
        raise DownloadError(f"{edition} archive sha256 {digest} differs from the checksum file's {expected}")
    path = _extract_mmdb(response.content, edition, out_dir)
    return Downloaded(path, digest, expected is not None)
