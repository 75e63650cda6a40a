"""Identity encryption (AES-256-GCM bound to the case row and to what the ISP disclosed), key files,
the environment, the disclosure CSV."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.cases.identities import (
    ENV_VAR,
    DisclosureError,
    Identity,
    IdentityError,
    IdentityKey,
    decrypt_identity,
    encrypt_identity,
    parse_disclosure,
    valid_email,
    write_key_file,
)
from swarmscope.store.legal.disclosure_match import Disclosed

KEY = IdentityKey(bytes(range(32)))
OTHER = IdentityKey(bytes(range(1, 33)))
ALICE = Identity("Alice Ämmerle", "Hauptstraße 1, 10115 Berlin", "alice@example.test")
SEEN = Disclosed("127.0.0.2", None, 1_000, 2_000)  # what the ISP disclosed ALICE for (UTC µs)


def test_round_trip_and_ciphertext_hides_the_identity() -> None:
    blob = encrypt_identity(KEY, ALICE, case_id=7, disclosed=SEEN)
    assert decrypt_identity(KEY, blob, case_id=7, disclosed=SEEN) == ALICE
    for secret in (ALICE.name, ALICE.postal_address, "alice@example.test"):
        assert secret.encode() not in blob
    assert encrypt_identity(KEY, ALICE, case_id=7, disclosed=SEEN) != blob  # fresh nonce every time


def test_identity_without_email_round_trips() -> None:
    bob = Identity("Bob", "1 Road")
    assert KEY.open(KEY.seal(bob, 1, SEEN), 1, SEEN) == bob


@pytest.mark.parametrize(
    ("key", "case_id", "mutate", "disclosed"),
    [
        (OTHER, 7, lambda b: b, SEEN),  # wrong key
        (KEY, 8, lambda b: b, SEEN),  # moved to another case's row
        (KEY, 7, lambda b: b[:-1] + bytes([b[-1] ^ 1]), SEEN),  # altered tag
        (KEY, 7, lambda b: b[:20], SEEN),  # truncated
        (KEY, 7, lambda b: b"\x03" + b[1:], SEEN),  # unknown version
        (KEY, 7, lambda b: b"", SEEN),
        (KEY, 7, lambda b: b, Disclosed("127.0.0.3", None, 1_000, 2_000)),  # disclosed address edited
        (KEY, 7, lambda b: b, Disclosed("127.0.0.2", 6881, 1_000, 2_000)),  # a port added
        (KEY, 7, lambda b: b, Disclosed("127.0.0.2", None, 1_000, 9_000)),  # window widened
    ],
)
def test_open_fails_cleanly(key: IdentityKey, case_id: int, mutate: object, disclosed: Disclosed) -> None:
    blob = encrypt_identity(KEY, ALICE, case_id=7, disclosed=SEEN)
    with pytest.raises(IdentityError):
        decrypt_identity(key, mutate(blob), case_id=case_id, disclosed=disclosed)  # type: ignore[operator]


def test_a_version_1_ciphertext_bound_to_the_case_only_is_refused_with_what_to_do() -> None:
    nonce = bytes(12)  # version 1: associated data "swarmscope subscriber v1 case=<id>" only
    body = AESGCM(KEY.secret).encrypt(nonce, ALICE.to_bytes(), b"swarmscope subscriber v1 case=7")
    with pytest.raises(IdentityError, match="import the ISP's disclosure again"):
        KEY.open(b"\x01" + nonce + body, 7, SEEN)


def test_key_id_is_a_fingerprint_not_the_key() -> None:
    assert len(KEY.key_id) == 32 and KEY.key_id != OTHER.key_id
    assert KEY.secret.hex() not in KEY.key_id and KEY.secret.hex() not in repr(KEY)


def test_key_file_written_0600_atomically_and_loaded(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    key = IdentityKey.generate()
    write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert IdentityKey.load(path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["identity.key"]  # no temporary left behind
    with pytest.raises(IdentityError, match="exists"):
        write_key_file(path, IdentityKey.generate())
    assert IdentityKey.load(path) == key


def test_key_from_environment() -> None:
    text = base64.b64encode(KEY.secret).decode()
    assert IdentityKey.load(None, {ENV_VAR: text}) == KEY
    with pytest.raises(IdentityError, match=ENV_VAR):
        IdentityKey.load(None, {})


@pytest.mark.parametrize("text", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_bad_key_text_refused(text: str) -> None:
    with pytest.raises(IdentityError):
        IdentityKey.from_text(text)


def test_missing_key_file_refused(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="cannot read"):
        IdentityKey.load(tmp_path / "absent.key")


GOOD = (
    "\ufeffip,start,end,name,postal_address,email\r\n"
    '127.0.0.2,2026-11-30T00:00:00Z,2026-11-30T06:00:00+00:00,Alice,"Hauptstr. 1, Berlin",a@x.test\r\n'
    "::1,2026-11-30T01:00:00+01:00,2026-11-30T02:00:00Z,Bob,2 Road,\r\n"
)


def test_parse_good_file_with_bom_crlf_and_offsets() -> None:
    rows = parse_disclosure(GOOD.encode())
    assert [(r.line, r.ip) for r in rows] == [(2, "127.0.0.2"), (3, "::1")]
    assert rows[0].identity == Identity("Alice", "Hauptstr. 1, Berlin", "a@x.test")
    assert rows[1].identity.email is None
    assert rows[1].start_us == 1_796_000_000_000_000 - 3_200_000_000  # 00:00Z
    assert rows[0].end_us - rows[0].start_us == 6 * 3600 * 10**6


def test_email_column_is_optional() -> None:
    rows = parse_disclosure(
        b"name,postal_address,ip,start,end\nC,3 Lane,127.0.0.3,2026-01-01T00:00Z,2026-01-02T00:00Z\n"
    )
    assert rows[0].identity == Identity("C", "3 Lane", None)


def test_every_bad_row_reported_with_its_line_and_nothing_returned() -> None:
    text = (
        "ip,start,end,name,postal_address\n"
        "127.0.0.2,2026-11-30T00:00:00Z,2026-11-30T01:00:00Z,Ok,1 Road\n"
        "999.1.1.1,2026-11-30T00:00:00Z,2026-11-30T01:00:00Z,Bad ip,1 Road\n"
        "127.0.0.2,2026-11-30T00:00:00,2026-11-30T01:00:00Z,Naive,1 Road\n"
        "127.0.0.2,2026-11-30T02:00:00Z,2026-11-30T01:00:00Z,Backwards,1 Road\n"
        "127.0.0.2,2026-11-30T00:00:00Z,2026-11-30T01:00:00Z,,1 Road\n"
        "127.0.0.2,2026-11-30T00:00:00Z,2026-11-30T01:00:00Z,Extra,1 Road,surplus\n"
    )
    with pytest.raises(DisclosureError) as info:
        parse_disclosure(text.encode())
    assert [line for line, _ in info.value.problems] == [3, 4, 5, 6, 7]
    messages = " | ".join(m for _, m in info.value.problems)
    for needle in ("not an IP", "no UTC offset", "before start", "empty name", "more fields"):
        assert needle in messages
    assert "Bad ip" not in str(info.value)  # names never echoed into error messages


@pytest.mark.parametrize(
    ("column", "value"),
    [("ip", "999.0.1.13"), ("start", "nope-start"), ("end", "2026-11-30T01:00:00"), ("port", "nope")],
)
def test_bad_values_never_echoed(column: str, value: str) -> None:
    """A malformed ip, time or port is named by its column only: the value may be personal data."""
    values = {"ip": "127.0.0.2", "start": "2026-11-30T00:00:00Z", "end": "2026-11-30T01:00:00Z"}
    values["port"] = "6881"
    values[column] = value
    text = "ip,start,end,name,postal_address,port\n" + ",".join(
        [values["ip"], values["start"], values["end"], "N", "1 Road", values["port"]]
    )
    with pytest.raises(DisclosureError) as info:
        parse_disclosure(text.encode())
    assert f"line 2: {column}:" in str(info.value)
    assert value not in str(info.value)


US = 1_000_000  # microseconds per second


@pytest.mark.parametrize(
    ("start", "end", "start_us", "end_us"),
    [  # the ends of datetime's range, where converting to UTC would leave it (years 0 and 10000)
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", -62_135_600_400 * US, -62_135_596_800 * US),
        ("9999-12-31T23:00:00Z", "9999-12-31T23:59:59-01:00", 253_402_297_200 * US, 253_402_304_399 * US),
    ],
)
def test_times_whose_utc_leaves_the_calendar_still_parse(
    start: str, end: str, start_us: int, end_us: int
) -> None:
    row = parse_disclosure(f"ip,start,end,name,postal_address\n127.0.0.2,{start},{end},A,B\n".encode())[0]
    assert (row.start_us, row.end_us) == (start_us, end_us)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ip,start,end\n",
        b"ip,start,end,name,postal_address,phone\n",
        b"\xff\xfe\x00",
        b"ip,ip,start,end,name,postal_address\n",
    ],
)
def test_bad_header_or_encoding_refused(data: bytes) -> None:
    with pytest.raises(DisclosureError):
        parse_disclosure(data)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_disclosure_error(data: bytes) -> None:
    try:
        rows = parse_disclosure(b"ip,start,end,name,postal_address\n" + data)
    except DisclosureError as exc:
        assert exc.problems
    else:
        assert all(r.start_us <= r.end_us for r in rows)


def _one_row(name: str = "Alice", postal: str = "1 Road", email: str = "", port: str = "") -> bytes:
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return (
        "ip,start,end,name,postal_address,email,port\n"
        f"127.0.0.2,2026-11-30T00:00:00Z,2026-11-30T01:00:00Z,{cell(name)},{cell(postal)},{cell(email)},{port}\n"
    ).encode()


@pytest.mark.parametrize(
    "email",
    [
        "x",
        "a@b\r\nBcc: spy@evil.test",
        "a@b\nBcc: spy@evil.test",
        "a b@c.test",
        '"a b"@c.test',
        "Name <a@b.test>",
        "a@b@c.test",
        "@b.test",
        "a@",
        "a@b.test,c@d.test",
        "a@b.test\x00",
        "a\u202e@b.test",
        "zoë@b.test",  # a non-ASCII local part is refused by the RFC 5322 parser
        "jo@[",  # unterminated domain literals: CPython 3.11's parser raised AttributeError (gh-134155)
        "a@[1.2.3.4",
    ],
)
def test_invalid_email_refused_with_line_and_never_echoed(email: str) -> None:
    """M8: one plain addr-spec only (a CRLF would inject headers into letters and notices)."""
    with pytest.raises(DisclosureError) as info:
        parse_disclosure(_one_row(email=email))
    assert info.value.problems == [(2, "email: not a single valid e-mail address (local@domain)")]
    assert "spy" not in str(info.value) and "b.test" not in str(info.value)


@pytest.mark.parametrize(
    "email", ["alice@example.test", "a.b+tag@sub.example.test", "o'brien@example.test", "zoe@例え.test"]
)
def test_valid_email_accepted(email: str) -> None:
    assert valid_email(email)
    assert parse_disclosure(_one_row(email=email))[0].identity.email == email


@pytest.mark.parametrize(
    ("name", "postal", "field"),
    [
        ("Alice\nBcc", "1 Road", "name"),
        ("Alice\r\nSmith", "1 Road", "name"),
        ("Alice\tSmith", "1 Road", "name"),
        ("Alice\u202eecilA", "1 Road", "name"),
        ("Alice\u2028Smith", "1 Road", "name"),
        ("Alice\x1b[31m", "1 Road", "name"),
        ("Alice", "1 Road\x00", "postal_address"),
        ("Alice", "1 Road\rBerlin", "postal_address"),
        ("Alice", "1 Road\x0bBerlin", "postal_address"),
        ("Alice", "1 Road\u202e", "postal_address"),
    ],
)
def test_control_characters_refused(name: str, postal: str, field: str) -> None:
    with pytest.raises(DisclosureError) as info:
        parse_disclosure(_one_row(name, postal))
    [(line, message)] = info.value.problems
    assert line == 2 and message.startswith(f"{field}: contains a control character")
    assert "Alice" not in str(info.value) and "Road" not in str(info.value)


def test_postal_address_keeps_line_breaks_crlf_normalised() -> None:
    rows = parse_disclosure(_one_row(postal="1 Road\r\n10115 Berlin\nGermany"))
    assert rows[0].identity.postal_address == "1 Road\n10115 Berlin\nGermany"


def test_line_numbers_name_where_a_multi_line_record_starts() -> None:
    data = _one_row(postal="1 Road\n10115 Berlin\nGermany") + _one_row(name="Bad\nName").split(b"\n", 1)[1]
    with pytest.raises(DisclosureError) as info:
        parse_disclosure(data)
    assert [line for line, _ in info.value.problems] == [5]


@pytest.mark.parametrize(("text", "port"), [("", None), ("6881", 6881), ("1", 1), ("65535", 65535)])
def test_port_column_optional(text: str, port: int | None) -> None:
    assert parse_disclosure(_one_row(port=text))[0].port == port


@pytest.mark.parametrize("text", ["0", "65536", "abc", "-1", "6881.0", "٣"])
def test_bad_port_refused(text: str) -> None:
    with pytest.raises(DisclosureError, match="line 2: port: not a port number"):
        parse_disclosure(_one_row(port=text))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_key_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    """M6: like the node key, an identity key that group/other may read is refused, not used."""
    path = tmp_path / "identity.key"
    write_key_file(path, KEY)
    path.chmod(mode)
    with pytest.raises(IdentityError, match=f"permissions {mode:04o} let group/other read it; make it 0600"):
        IdentityKey.load(path)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_key_file_loads(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "identity.key"
    write_key_file(path, KEY)
    path.chmod(mode)
    assert IdentityKey.load(path) == KEY


def test_key_path_that_is_a_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="identity key file"):
        IdentityKey.load(tmp_path)
