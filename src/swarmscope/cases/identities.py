"""Subscriber identities encrypted at rest, and the ISP disclosure file they arrive in (README "Identities").

Key: 32 random bytes (AES-256), kept OUTSIDE the database — in a key file written by
``swarmscope subscribers keygen`` (base64 text, mode 0600, written atomically) or in the environment variable
``SWARMSCOPE_IDENTITY_KEY`` (the same base64 text). The database stores only the key's fingerprint
(``key_id``: hex SHA-256 of a domain-separated hash of the key, 32 digits), which names the key without
revealing it.

Ciphertext (the ``subscriber.ciphertext`` column): ``b"\\x02" || nonce (12 bytes) || AES-256-GCM(identity
JSON)``, with the associated data ``"swarmscope subscriber v2 case=<case id> ip=<ip> port=<port or *>
window=<start µs>..<end µs>"`` (:meth:`swarmscope.store.legal.disclosure_match.Disclosed.associated_data`):
what the ISP disclosed the identity for. A ciphertext copied into another case's row, or a row whose
disclosed address, port or window was edited, fails authentication instead of naming the wrong person.
Version 1 (``b"\\x01"``, associated data ``case=<case id>`` only) was bound to the case row alone; it is
no longer opened (import the disclosure again, :mod:`swarmscope.store.legal.subscribers`).

Disclosure CSV (UTF-8, a BOM is tolerated; header row required, column order free, extra columns refused):
``ip, start, end, name, postal_address[, email][, port]`` — ``start``/``end`` in ISO 8601 with an explicit
UTC offset (``2026-11-30T01:00:00Z`` or ``+00:00``): the window during which the ISP says the address was
assigned to the subscriber's account; ``port`` (1..65535, optional): the source port the ISP matched, needed
behind carrier-grade NAT where one address serves several subscribers told apart by port. Every malformed
row is reported with its line number and nothing is imported (see :func:`parse_disclosure`). Field checks
(the offending value is never echoed, it may be personal data):

- ``ip``: an IPv4 or IPv6 literal, normalised as observations store it: an IPv4-mapped IPv6 address
  ``::ffff:a.b.c.d`` becomes ``a.b.c.d`` (RFC 4291 section 2.5.5.2), so it matches the IPv4 case.
- ``email``: one RFC 5322 addr-spec (``local@domain``, exactly one ``@``, no whitespace, no control
  characters, parsed by :class:`email.headerregistry.Address`); display names (``Name <a@b>``) are refused.
- ``name``: no control characters at all (no newline, tab, bidi override or line separator; see
  :func:`has_control`, the rule for every name the workflow keeps).
- ``postal_address``: line breaks allowed (``CRLF`` is normalised to ``LF``), no other control character.

How a row becomes a case's identity is decided in :func:`swarmscope.store.legal.subscribers.import_disclosure`
(the window must cover every counted hit of the case; conflicting rows are never settled by file order).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import stat
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarmscope.errors import DecodeError, InputError, SwarmscopeError
from swarmscope.store.legal.disclosure_match import Disclosed, DisclosureRow
from swarmscope.wire.types import Endpoint

ENV_VAR = "SWARMSCOPE_IDENTITY_KEY"
KEY_BYTES = 32
_VERSION = b"\x02"
_UNBOUND_VERSION = b"\x01"  # bound to the case row only: never opened
_NONCE = 12
_COLUMNS = ("ip", "start", "end", "name", "postal_address", "email", "port")
_REQUIRED = ("ip", "start", "end", "name", "postal_address")


class IdentityError(SwarmscopeError):
    """No usable identity key, or a ciphertext that this key cannot open (wrong key, altered, wrong row)."""


class DisclosureError(InputError):
    """The disclosure CSV has malformed rows; ``problems`` lists ``(line, message)`` for each of them."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"line {line}: {message}" for line, message in problems[:20])
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"disclosure file rejected, nothing imported: {lines}{more}")


@dataclass(frozen=True, slots=True)
class Identity:
    """A subscriber as the ISP named them: name, postal address, e-mail (None when not disclosed)."""

    name: str
    postal_address: str
    email: str | None = None

    def to_bytes(self) -> bytes:
        """The plaintext that is encrypted (compact JSON, UTF-8)."""
        fields = {"name": self.name, "postal_address": self.postal_address, "email": self.email}
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Identity:
        """Inverse of :meth:`to_bytes`. Raises IdentityError on anything else."""
        try:
            fields = json.loads(data.decode())
            return cls(str(fields["name"]), str(fields["postal_address"]), fields.get("email"))
        except (ValueError, KeyError, TypeError) as exc:
            raise IdentityError("decrypted identity is not an identity record") from exc


@dataclass(frozen=True, slots=True)
class IdentityKey:
    """The AES-256-GCM key that protects identities; ``key_id`` is its fingerprint (stored with each row)."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise IdentityError(f"identity key must be {KEY_BYTES} bytes, got {len(self.secret)}")

    def __repr__(self) -> str:  # never print the secret
        return f"IdentityKey(key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """Hex fingerprint (32 digits) of the key; reveals nothing about the key."""
        return hashlib.sha256(b"swarmscope identity key\x00" + self.secret).hexdigest()[:32]

    @classmethod
    def generate(cls) -> IdentityKey:
        """A fresh random key (``os.urandom``)."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> IdentityKey:
        """Parse the base64 text of a key file or of ``SWARMSCOPE_IDENTITY_KEY``. Raises IdentityError."""
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise IdentityError("identity key is not base64 text") from exc
        return cls(secret)

    @classmethod
    def load(cls, path: str | Path | None, environ: Mapping[str, str] | None = None) -> IdentityKey:
        """Load the key from ``path`` (a key file) or, when ``path`` is None, from the environment.

        Args:
            path: key file written by :func:`write_key_file`, or None to use the environment.
            environ: the environment to read (default ``os.environ``).

        Raises:
            IdentityError: no key given, unreadable file, not a regular file, readable or writable by
                group/other (like the node key: mode must be 0600 or stricter), not base64, not 32 bytes.
        """
        if path is None:
            text = (os.environ if environ is None else environ).get(ENV_VAR)
            if not text:
                raise IdentityError(f"no identity key: pass --identity-key PATH or set {ENV_VAR}")
            return cls.from_text(text)
        try:
            with open(path, encoding="ascii") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise IdentityError(f"identity key file {path}: not a regular file")
                if info.st_mode & 0o077:
                    raise IdentityError(
                        f"identity key file {path}: permissions {stat.S_IMODE(info.st_mode):04o} let "
                        "group/other read it; make it 0600 (chmod 600) after checking nobody copied it"
                    )
                text = handle.read(4096)
        except (OSError, UnicodeDecodeError) as exc:
            raise IdentityError(f"cannot read identity key file {path}: {exc}") from exc
        return cls.from_text(text)

    def seal(self, identity: Identity, case_id: int, disclosed: Disclosed) -> bytes:
        """Encrypt ``identity`` for the subscriber row of case ``case_id`` and what the ISP ``disclosed``."""
        nonce = os.urandom(_NONCE)
        data = disclosed.associated_data(case_id)
        return _VERSION + nonce + AESGCM(self.secret).encrypt(nonce, identity.to_bytes(), data)

    def open(self, ciphertext: bytes, case_id: int, disclosed: Disclosed) -> Identity:
        """Decrypt a ciphertext made by :meth:`seal` for case ``case_id`` and ``disclosed``.

        Raises:
            IdentityError: not a current ciphertext (a version 1 one names how to re-bind it), wrong key,
                or a ciphertext altered, moved from another row, or sealed for another disclosure.
        """
        if ciphertext[:1] == _UNBOUND_VERSION:
            raise IdentityError(
                f"the identity of case {case_id} is bound to its case row only, not to the disclosed "
                "address, port and window; import the ISP's disclosure again to bind it"
            )
        if len(ciphertext) < 1 + _NONCE + 16 or ciphertext[:1] != _VERSION:
            raise IdentityError("not a swarmscope identity ciphertext")
        nonce, body = ciphertext[1 : 1 + _NONCE], ciphertext[1 + _NONCE :]
        try:
            plain = AESGCM(self.secret).decrypt(nonce, body, disclosed.associated_data(case_id))
        except InvalidTag:
            raise IdentityError(
                f"cannot decrypt the identity of case {case_id} with key {self.key_id}: wrong key, or the "
                f"ciphertext was altered, moved from another row or sealed for another disclosure than "
                f"the one stored ({disclosed.describe()})"
            ) from None
        return Identity.from_bytes(plain)


def encrypt_identity(key: IdentityKey, identity: Identity, *, case_id: int, disclosed: Disclosed) -> bytes:
    """Encrypt an identity for the row of case ``case_id`` and what was ``disclosed`` (AES-256-GCM)."""
    return key.seal(identity, case_id, disclosed)


def decrypt_identity(key: IdentityKey, ciphertext: bytes, *, case_id: int, disclosed: Disclosed) -> Identity:
    """Decrypt what :func:`encrypt_identity` made for ``case_id`` and ``disclosed``. Raises IdentityError."""
    return key.open(ciphertext, case_id, disclosed)


def write_key_file(path: Path, key: IdentityKey) -> None:
    """Write ``key`` as base64 text to ``path`` atomically with mode 0600; refuses to overwrite a file.

    Raises:
        IdentityError: ``path`` exists, or the file cannot be written.
    """
    if path.exists():
        raise IdentityError(f"{path} exists; refusing to overwrite an identity key")
    fd, tmp = tempfile.mkstemp(prefix=".identity-key-", dir=path.parent or Path("."))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(key.secret).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if path appeared meanwhile: never replace a key
    except OSError as exc:
        raise IdentityError(f"cannot write identity key {path}: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def _parse_time(text: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{field}: not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field}: no UTC offset (write Z or +00:00)")
    # aware minus aware: no UTC datetime is built, so 0001-01-01T00:00+01:00 (UTC year 0) cannot overflow
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def valid_email(text: str) -> bool:
    """True when ``text`` is exactly one addr-spec ``local@domain`` (see the module docstring).

    Args:
        text: the candidate address, unstripped (surrounding whitespace makes it invalid).

    Returns:
        Whether it is a single RFC 5322 addr-spec with one ``@``, no whitespace or control characters.

    Source: RFC 5322 section 3.4.1 (addr-spec), as parsed by :mod:`email.headerregistry`.
    """
    if not text or text.count("@") != 1 or any(c.isspace() or _is_control(c) for c in text):
        return False
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, TypeError, HeaderParseError):
        return False
    except AttributeError:  # an unterminated domain literal (``a@[``): CPython's parser puts a defect
        return False  # among its tokens and trips over it (CPython gh-134155, fixed after 3.11)
    return bool(address.username) and bool(address.domain) and address.addr_spec == text


def _is_control(char: str) -> bool:
    """Control (Cc), format (Cf: bidi overrides, zero-width) or line/paragraph separator characters."""
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}


def has_control(text: str, *, line_breaks: bool = False) -> bool:
    """True when ``text`` holds a character no name or address may hold.

    Those are the control characters (Unicode category Cc: C0, DEL, C1, so also tab, CR and LF), the
    format characters (Cf: the bidi embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069,
    the marks U+200E/U+200F, zero-width space/joiners U+200B..U+200D, U+2060 and U+FEFF) and the line and
    paragraph separators (Zl, Zp). With ``line_breaks`` a LF is allowed (postal and legal addresses).
    A bidi override can make a name read differently from what is stored (Unicode TR #36, section 2.1).
    """
    return any(_is_control(c) and not (line_breaks and c == "\n") for c in text)


def _check_text(values: dict[str, str]) -> None:
    """Refuse control characters in name / postal address and an invalid e-mail (values never echoed)."""
    if has_control(values["name"]):
        raise ValueError("name: contains a control character or line break")
    if has_control(values["postal_address"], line_breaks=True):
        raise ValueError("postal_address: contains a control character other than a line break")
    if values["email"] and not valid_email(values["email"]):
        raise ValueError("email: not a single valid e-mail address (local@domain)")


def _parse_port(text: str) -> int | None:
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("port: not a port number 1..65535")
    return int(text)


def _parse_row(row: dict[str, str | None]) -> DisclosureRow[Identity]:
    values = {k: (row.get(k) or "").strip() for k in _COLUMNS}
    values["postal_address"] = values["postal_address"].replace("\r\n", "\n")
    missing = [k for k in _REQUIRED if not values[k]]
    if missing:
        raise ValueError("empty " + ", ".join(missing))
    try:  # the form observations are stored in: ::ffff:a.b.c.d becomes a.b.c.d (RFC 4291 section 2.5.5.2)
        ip = Endpoint.parse(values["ip"], 0).host
    except DecodeError:
        raise ValueError("ip: not an IP address") from None
    start, end = _parse_time(values["start"], "start"), _parse_time(values["end"], "end")
    if end < start:
        raise ValueError("end is before start")
    port = _parse_port(values["port"])
    _check_text(values)
    identity = Identity(values["name"], values["postal_address"], values["email"] or None)
    return DisclosureRow(0, ip, start, end, identity, port)


def parse_disclosure(data: bytes) -> list[DisclosureRow[Identity]]:
    """Parse an ISP disclosure CSV (format in the module docstring) into rows with their line numbers.

    Args:
        data: the file's bytes (UTF-8, optional BOM).

    Returns:
        One :class:`DisclosureRow` per data row, ``line`` being the 1-based line in the file where the
        record starts (a quoted field may span lines).

    Raises:
        DisclosureError: bad encoding, header, or any malformed row (all of them listed; none returned).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DisclosureError([(1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in _COLUMNS]
    absent = [h for h in _REQUIRED if h not in header]
    if unknown or absent or len(set(header)) != len(header):
        raise DisclosureError(
            [(1, f"header must name {', '.join(_COLUMNS)} (email, port optional); got {header}")]
        )
    reader.fieldnames = header
    rows: list[DisclosureRow[Identity]] = []
    problems: list[tuple[int, str]] = []
    end_of_previous = reader.line_num  # the header's last line
    try:
        for raw in reader:
            line, end_of_previous = end_of_previous + 1, reader.line_num  # where the record starts
            if "\x00extra" in raw:
                problems.append((line, "more fields than the header"))
                continue
            try:
                parsed = _parse_row(raw)
            except ValueError as exc:
                problems.append((line, str(exc)))
                continue
            rows.append(
                DisclosureRow(line, parsed.ip, parsed.start_us, parsed.end_us, parsed.identity, parsed.port)
            )
    except csv.Error as exc:
        problems.append((reader.line_num, f"CSV: {exc}"))
    if problems:
        raise DisclosureError(problems)
    return rows


def file_sha256(data: bytes) -> str:
    """Hex SHA-256 of a disclosure file (``subscriber.source_sha256``)."""
    return hashlib.sha256(data).hexdigest()
